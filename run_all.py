#!/usr/bin/env python
"""Run the AdvLab notebooks in order with papermill and build the report.

    python run_all.py [--profile smoke|quick|paper] [--device auto|cpu|cuda|mps] [--only 02,03]
                      [--force] [--pretrained] [--set name=value ...]

The report lands in report/<profile>/index.html. The work is done by advlab.runtime.cli.
"""

import sys
from pathlib import Path

from advlab.runtime.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], root=Path(__file__).resolve().parent))
