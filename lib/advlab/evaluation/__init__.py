"""Evaluation: robust accuracy over a suite of attacks, sanity checks, statistics (imports only advlab.core)."""
