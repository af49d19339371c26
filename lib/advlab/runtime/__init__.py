"""The runtime: the command line behind run_all.py and its papermill engine (may import every layer)."""
