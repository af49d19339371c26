"""``python -m advlab.profiles smoke|quick|paper``: what a profile runs, chapter by chapter."""

from __future__ import annotations

import argparse
import sys

from advlab.course.outline import describe
from advlab.course.profiles import PROFILES


def main(argv: list[str] | None = None) -> int:
    """Print :func:`advlab.course.outline.describe` for the profile named in ``argv``; a bad name exits with 2."""
    parser = argparse.ArgumentParser(
        prog="python -m advlab.profiles",
        description="Show what a run profile trains, builds and evaluates per chapter.",
    )
    parser.add_argument("profile", choices=list(PROFILES), help="the profile to describe")
    args = parser.parse_args(argv)
    print(describe(args.profile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
