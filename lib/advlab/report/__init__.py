"""The HTML report: lays out what the course computed (imports advlab.core, evaluation and course)."""
