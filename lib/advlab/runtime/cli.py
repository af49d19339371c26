"""Run the course's notebooks in order with papermill, then build the report (``run_all.py`` is a thin
command line over :func:`main`).

    python run_all.py [--profile smoke|quick|paper] [--device auto|cpu|cuda|mps] [--only 02,03]
                      [--force] [--pretrained] [--set name=value ...]

Each notebook gets, through its papermill ``parameters`` cell: ``profile``, ``device``, ``force``,
``overrides`` (the ``--set`` values) and, for every Config field the cell declares, the profile's
value (after ``--set``); ``--pretrained`` goes in ``overrides``. Executed notebooks go to
``report/<profile>/<stem>.ipynb``; the wall time of each to ``report/<profile>/timings.json``.

Exit codes: 0 done; 1 a notebook failed (the partly executed notebook is kept, and the report is
built from what exists); 2 bad arguments; 130 interrupted (Ctrl-C), 143 terminated (SIGTERM): both
keep the finished notebooks and the partly executed one, and shut the kernel down.

Notebooks run through ``advlab.runtime.engine`` (papermill's client with a fix and a watchdog for the
headless execution stall described there), and their kernels get ADVLAB_HEADLESS=1, so the ipywidgets explorers
open no widget at all (``widgets.explore``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import signal
import sys
from pathlib import Path

from advlab.core.errors import AdvlabError
from advlab.course.pipeline import NOTEBOOKS, resolve_device
from advlab.course.pretrained_cli import check
from advlab.course.profiles import EXPECTED_CPU_TIME, PROFILES, Config, ConfigError, config, field_names
from advlab.report.build import build_report
from advlab.runtime.notebooks import (
    NotebookFailed,
    merge_timings,
    notebook_parameters,
    relative,
    run_notebook,
    this_python_kernel,
)

NOTEBOOK_DIR = "notebooks"
# Fields run_all sets itself, from its own options.
RESERVED = {"profile": "--profile", "device": "--device", "force": "--force", "pretrained": "--pretrained"}


class UsageError(AdvlabError):
    """Bad command-line arguments (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="run_all.py",
        description="Run the AdvLab notebooks in order with papermill and build "
        "the report (report/<profile>/index.html).",
    )
    p.add_argument("--profile", default="quick", help=f"one of {', '.join(PROFILES)} (default: quick)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default: auto)")
    p.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="02,03",
        help="run only these notebooks (numbers or names, comma-separated); the report still "
        "includes the others' earlier results",
    )
    p.add_argument("--force", action="store_true", help="recompute cached models, sets and curves")
    p.add_argument(
        "--set",
        dest="sets",
        action="extend",
        nargs="+",
        default=[],
        metavar="name=value",
        help="override a Config field, e.g. --set epochs=5 n_test=null (values are JSON, else strings)",
    )
    p.add_argument("--no-report", action="store_true", help="run the notebooks but do not build the report")
    p.add_argument(
        "--pretrained",
        action="store_true",
        help="use the shipped weights (pretrained/<profile>/, verified by sha256) instead of training the models",
    )
    return p


# --- argument validation --------------------------------------------------------------------------


def _field_types() -> dict[str, set]:
    """Allowed JSON value types per Config field, from its annotation ("int | None", "list", ...)."""
    names = {"int": int, "float": float, "bool": bool, "str": str, "list": list, "None": type(None)}
    out = {}
    for f in dataclasses.fields(Config):
        ann = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        out[f.name] = {names[t.strip()] for t in ann.split("|") if t.strip() in names} or {object}
    return out


def _fits(value, allowed: set) -> bool:
    if value is None:
        return type(None) in allowed
    if isinstance(value, bool):
        return bool in allowed
    if isinstance(value, int):
        return int in allowed or float in allowed
    if isinstance(value, float):
        return float in allowed and math.isfinite(value)
    if isinstance(value, str):
        return str in allowed
    if isinstance(value, list):
        return list in allowed and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value
        )
    return False


def parse_set(item: str, types: dict[str, set] | None = None) -> tuple[str, object]:
    """``name=value`` -> (name, value): the value is parsed as JSON (fallback: the raw string) and must
    suit the field's type (an int is accepted for a float field)."""
    types = types or _field_types()
    if "=" not in item:
        raise UsageError(f"--set {item!r}: expected name=value, e.g. --set epochs=5")
    name, raw = item.split("=", 1)
    name = name.strip()
    if name in RESERVED:
        raise UsageError(f"--set {name}=...: use {RESERVED[name]} instead")
    if name not in types:
        raise UsageError(
            f"--set {name}: unknown field; known: {', '.join(n for n in field_names() if n not in RESERVED)}"
        )
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    allowed = types[name]
    if object not in allowed and not _fits(value, allowed):
        want = " or ".join(
            sorted("null" if t is type(None) else "a list of numbers" if t is list else t.__name__ for t in allowed)
        )
        raise UsageError(f"--set {name}={raw}: expected {want}")
    if isinstance(value, int) and not isinstance(value, bool) and int not in allowed and float in allowed:
        value = float(value)
    return name, value


def parse_only(items: list[str], notebooks: list[str]) -> list[str]:
    """``["02,3", "04_generalization"]`` -> the matching notebook stems, in the course's order."""
    wanted = set()
    for item in items:
        for token in (t.strip() for t in item.split(",")):
            if not token:
                continue
            match = [
                nb
                for nb in notebooks
                if nb == token or (token.isdigit() and int(nb.split("_")[0]) == int(token)) or nb.split("_")[0] == token
            ]
            if not match:
                raise UsageError(
                    f"--only {token}: unknown notebook; choose from "
                    f"{', '.join(nb.split('_')[0] for nb in notebooks)} ({', '.join(notebooks)})"
                )
            wanted.update(match)
    return [nb for nb in notebooks if nb in wanted] if wanted else list(notebooks)


@dataclasses.dataclass
class Plan:
    profile: str
    device: str
    force: bool
    overrides: dict
    cfg: Config
    notebooks: list[str]
    report: bool


def parse_args(argv: list[str] | None = None) -> Plan:
    """Validate every argument before anything runs; raises UsageError with a one-line message."""
    args = build_parser().parse_args(argv)
    if args.profile not in PROFILES:
        raise UsageError(f"--profile {args.profile}: unknown profile; choose one of {', '.join(PROFILES)}")
    try:
        resolve_device(args.device)
    except AdvlabError as exc:
        raise UsageError(f"--device {args.device}: {exc}") from None
    notebooks = parse_only(args.only, NOTEBOOKS)
    types = _field_types()
    overrides = dict(parse_set(item, types) for item in args.sets)
    if args.pretrained:
        overrides["pretrained"] = True  # reaches every notebook through its `overrides` parameter
    try:
        cfg = config(args.profile, **overrides).replace(device=args.device, force=args.force)
    except ConfigError as exc:  # "--set epochs=0: must be an integer >= 1"
        raise UsageError(f"--set {exc}" if exc.field in overrides else str(exc)) from None
    except (AdvlabError, TypeError, ValueError) as exc:
        raise UsageError(str(exc)) from None
    if args.pretrained:
        try:
            check(cfg)
        except AdvlabError as exc:
            raise UsageError(f"--pretrained: {exc}") from None
    return Plan(args.profile, args.device, args.force, overrides, cfg, notebooks, not args.no_report)


def run(plan: Plan, root: Path) -> int:
    """Run the plan's notebooks in order, then build the report. Returns the exit code."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    folder = root / "report" / plan.profile
    sources = [root / NOTEBOOK_DIR / f"{stem}.ipynb" for stem in plan.notebooks]
    missing = [str(p.relative_to(root)) for p in sources if not p.exists()]
    if missing:
        print(f"run_all: notebook(s) not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    print(
        f"run_all: profile {plan.profile} ({_expected(plan.profile)}), device {plan.device}, "
        f"{len(sources)} notebook(s)" + (f", overrides {plan.overrides}" if plan.overrides else ""),
        flush=True,
    )
    failure = None
    with this_python_kernel() as kernel:
        for i, src in enumerate(sources, 1):
            print(f"[{i}/{len(sources)}] {src.stem} ...", flush=True)
            try:
                seconds = run_notebook(src, folder / f"{src.stem}.ipynb", notebook_parameters(src, plan), kernel, root)
            except NotebookFailed as exc:
                failure = str(exc)
                break
            merge_timings(folder / "timings.json", src.stem, seconds)
            print(f"[{i}/{len(sources)}] {src.stem} done in {seconds:.1f} s", flush=True)
    if failure:
        print(f"run_all: error: {failure}", file=sys.stderr, flush=True)
    if plan.report and (folder / "parts").is_dir() and any((folder / "parts").glob("*.json")):
        page = build_report(plan.profile, root=root)
        print(f"Report{' (partial)' if failure else ''}: {relative(page, root)}", flush=True)
    elif plan.report:
        print("run_all: no results recorded, so no report was built", file=sys.stderr)
    return 1 if failure else 0


def _expected(profile: str) -> str:
    return f"expected on a 2-core CPU: {EXPECTED_CPU_TIME.get(profile, 'unknown')}"


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that it unwinds like Ctrl-C (the kernel is shut down)."""


def _terminate(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one is enough: let the clean-up finish
    raise Terminated()


@contextlib.contextmanager
def _sigterm_as_interrupt():
    """SIGTERM raises Terminated in the main thread for the duration (elsewhere it is left alone)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None, root: str | Path | None = None) -> int:
    root = Path(root or Path.cwd()).resolve()
    try:
        with _sigterm_as_interrupt():
            try:
                plan = parse_args(argv)
            except UsageError as exc:
                print(f"run_all.py: error: {exc}", file=sys.stderr)
                return 2
            return run(plan, root)
    except KeyboardInterrupt as exc:
        how = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
        print(
            f"\nrun_all: interrupted ({how}): finished notebooks and their results are kept, and the "
            f"notebook that was running, partly executed; the report was not rebuilt",
            file=sys.stderr,
        )
        return 143 if isinstance(exc, Terminated) else 130
