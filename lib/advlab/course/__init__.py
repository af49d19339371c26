"""The course: profiles, the model registry and cached pipeline, the seed's claims, plots, widgets,
exercises and the challenge (imports advlab.core and advlab.evaluation)."""
