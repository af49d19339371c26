"""The record of a run over several training seeds, for citing: reads ``report/<profile>/results.json`` of
``run_all.py --profile <profile> --seeds ...`` and writes ``docs/results/<profile>-seeds.json``: the seeds, what
ran them, each seed's notebook and training times, the spread of every accuracy (``per_seed``), the scorecard's
verdicts seed by seed and its tally, chapter 5's conclusions, and the headline table
(``advlab.report.seeds.headline_table``) that README.md quotes (tests/test_project.py checks the quote).

    .venv/bin/python run_all.py --profile quick --seeds 0,1,2     # the run (times: docs/performance.md)
    .venv/bin/python bench/seeds_results.py quick [--wall-seconds S] [--root CLONE]   # its record; the table printed
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

from advlab.core.io import write_json
from advlab.report.build import seed_dir
from advlab.report.seeds import headline_table

ROOT = Path(__file__).resolve().parents[1]


def read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def extract(results: dict, profile: str, root: Path = ROOT) -> dict:
    seeds = results["seeds"]
    return {
        "profile": profile,
        "seeds": seeds,
        "commit": _commit(root),
        "date": results.get("date"),
        "executor": results.get("executor"),
        "versions": results.get("versions"),
        "device": results.get("device"),
        "config": results.get("config"),
        "seconds": {str(k): read(seed_dir(profile, root, k) / "timings.json") for k in seeds},
        "headline_table": headline_table(results),
        "per_seed": results.get("per_seed"),
        "seed_tally": results.get("seed_tally"),
        "conclusions": results.get("conclusions"),
        **_trainings(profile, root, seeds),
        "scorecard": [
            {"id": row["id"], "threat": threat, "verdicts": cell["seeds"]["verdicts"], "text": cell["seeds"]["text"]}
            for row in results.get("scorecard") or []
            for threat, cell in row["ours"].items()
            if "seeds" in cell
        ],
    }


def _commit(root: Path) -> str | None:
    """The commit of the code that ran (the checkout's HEAD), so that ``git checkout`` reproduces it."""
    try:
        return (
            subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
            or None
        )
    except OSError:
        return None


def _trainings(profile: str, root: Path, seeds: list) -> dict:
    """Each training task's seconds per seed, where the run recorded them (``trainings.json``, on Ray)."""
    found = {str(k): read(seed_dir(profile, root, k) / "trainings.json") for k in seeds}
    return {"training_seconds": found} if any(found.values()) else {}


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("profile", nargs="?", default="quick")
    p.add_argument("--out", default=None, help="default: docs/results/<profile>-seeds.json")
    p.add_argument("--wall-seconds", type=float, default=None, help="the run's wall time, measured outside it")
    p.add_argument("--root", type=Path, default=ROOT, help="the checkout that ran it (default: this one)")
    args = p.parse_args(argv)
    results = read(args.root / "report" / args.profile / "results.json")
    if not results.get("seeds"):
        print(f"report/{args.profile}/results.json is not a run over seeds: run run_all.py --seeds 0,1,2 first")
        return 2
    record = extract(results, args.profile, args.root)
    if args.wall_seconds is not None:
        record["wall_seconds"] = args.wall_seconds
    out = Path(args.out) if args.out else ROOT / "docs" / "results" / f"{args.profile}-seeds.json"
    write_json(out, record)
    print(record["headline_table"])
    print(f"\nwritten: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
