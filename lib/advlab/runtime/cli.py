"""Run the course's notebooks in order with papermill, then build the report (``run_all.py`` is a thin
command line over :func:`main`).

    python run_all.py [--profile smoke|quick|paper] [--device auto|cpu|cuda|mps] [--only 02,03]
                      [--force] [--pretrained] [--set name=value ...]
                      [--seeds 0,1,2] [--executor ray|local] [--address auto|ray://HOST:10001] [--threads N]

Each notebook gets, through its papermill ``parameters`` cell: ``profile``, ``device``, ``force``,
``overrides`` (the ``--set`` values) and, for every Config field the cell declares, the profile's
value (after ``--set``); ``--pretrained`` goes in ``overrides``. Executed notebooks go to
``report/<profile>/<stem>.ipynb``; the wall time of each to ``report/<profile>/timings.json``.

``--seeds 0,1,2`` runs the profile once per training seed (exactly as ``--set seed=k`` does), each seed's
notebooks, numbers and timings under ``report/<profile>/seeds/<k>/`` and its figures under
``figures/<profile>/seeds/<k>/``, then builds one report over the seeds. The work runs on Ray by default
(``advlab.runtime.scheduler``): every training a task, then each seed's notebooks; ``--executor local``
is the single-process path (the notebooks in order, each training what it needs).

Exit codes: 0 done; 1 a notebook or a training failed (the report is built from what exists); 2 bad
arguments or Ray unavailable; 130 Ctrl-C, 143 SIGTERM (finished work and the partly executed notebook kept,
kernels and Ray stopped). Notebooks run through ``advlab.runtime.engine`` (papermill's client with a stall
watchdog); their kernels get ADVLAB_HEADLESS=1, so the explorers open no widget (``widgets.explore``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import inspect
import json
import logging
import math
import signal
import sys
from pathlib import Path

from advlab.core.errors import AdvlabError
from advlab.course.pipeline import NOTEBOOKS, resolve_device
from advlab.course.pretrained_cli import check
from advlab.course.profiles import EXPECTED_CPU_TIME, PROFILES, Config, ConfigError, config, field_names
from advlab.report.build import build_report
from advlab.runtime import scheduler
from advlab.runtime.notebooks import relative
from advlab.runtime.ray_session import SchedulerError

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
    _add_scale_options(p)
    return p


def _add_scale_options(p: argparse.ArgumentParser) -> None:
    """--seeds, --executor, --address, --threads: how many seeds, and where the work runs."""
    p.add_argument(
        "--seeds",
        default=None,
        metavar="0,1,2",
        help="training seeds: run the profile once per seed (as --set seed=k does), each seed's results under "
        "report/<profile>/seeds/<k>/ and figures/<profile>/seeds/<k>/, then one report with every number's "
        "spread over the seeds",
    )
    p.add_argument(
        "--executor",
        default="ray",
        help="ray (default): every training a Ray task (retried once if its worker dies), then each seed's "
        "notebooks; local: no Ray, the notebooks in order in this process, each training what it needs "
        "(the single-process path, which gives the same numbers)",
    )
    p.add_argument(
        "--address",
        default=None,
        metavar="auto|ray://HOST:10001",
        help="join this Ray cluster (its nodes must see this repository, data/ and artifacts/ at the same "
        "path); default: start a local Ray instance sized to this machine and stop it at the end",
    )
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        metavar="N",
        help="CPU threads per task (tasks x threads <= cores); default: torch's default here (all cores on "
        "a CPU machine, so one task at a time and the same numbers as one process), the CPUs per GPU with GPUs",
    )


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return int(text)


def parse_seeds(text: str | None) -> list[int] | None:
    """``"0,1,2"`` -> ``[0, 1, 2]`` (distinct integers >= 0, in the given order); None -> None."""
    if text is None:
        return None
    tokens = [t.strip() for t in text.split(",") if t.strip()]
    if not tokens or not all(t.isdigit() for t in tokens):
        raise UsageError(f"--seeds {text}: expected integers >= 0 separated by commas, e.g. --seeds 0,1,2")
    seeds = [int(t) for t in tokens]
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"--seeds {text}: a seed is listed twice")
    return seeds


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
    seeds: list[int] | None = None  # --seeds (None: one seed, cfg.seed, in today's layout)
    executor: str = "ray"
    address: str | None = None
    threads: int | None = None

    def for_seed(self, seed: int) -> Plan:
        """This plan with the training seed set as ``--set seed=<seed>`` sets it."""
        if seed == self.cfg.seed and "seed" not in self.overrides and self.seeds is None:
            return self
        return dataclasses.replace(self, overrides={**self.overrides, "seed": seed}, cfg=self.cfg.replace(seed=seed))


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
    seeds = parse_seeds(args.seeds)
    if seeds is not None and "seed" in overrides:
        raise UsageError("--seeds and --set seed=...: give one of them (--seeds 3 runs seed 3 alone)")
    if args.executor not in scheduler.EXECUTORS:
        raise UsageError(f"--executor {args.executor}: choose one of {', '.join(scheduler.EXECUTORS)}")
    if args.address and args.executor != "ray":
        raise UsageError("--address joins a Ray cluster: it needs --executor ray (the default)")
    if seeds is not None and args.pretrained and seeds != [cfg.seed]:
        raise UsageError(f"--pretrained with --seeds: the shipped weights are seed {cfg.seed}'s only")
    extra = dict(seeds=seeds, executor=args.executor, address=args.address, threads=args.threads)
    return Plan(args.profile, args.device, args.force, overrides, cfg, notebooks, not args.no_report, **extra)


def run(plan: Plan, root: Path) -> int:
    """Run the plan's trainings and notebooks (each seed's), then build the report. Returns the exit code."""
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    missing = [
        f"{NOTEBOOK_DIR}/{stem}.ipynb"
        for stem in plan.notebooks
        if not (root / NOTEBOOK_DIR / f"{stem}.ipynb").exists()
    ]
    if missing:
        print(f"run_all: notebook(s) not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    seeds = f", seeds {', '.join(map(str, plan.seeds))}" if plan.seeds is not None else ""
    print(
        f"run_all: profile {plan.profile} ({_expected(plan.profile)}), device {plan.device}, "
        f"{len(plan.notebooks)} notebook(s){seeds}, executor {plan.executor}"
        + (f", overrides {plan.overrides}" if plan.overrides else ""),
        flush=True,
    )
    job = scheduler.make_job(plan, root)
    env = scheduler.worker_environment(job)
    try:
        if plan.executor == "ray":
            outcome = scheduler.run_on_ray(job, root, plan.address, env, plan.device)
        else:
            outcome = scheduler.run_here(job, root, env)
    except SchedulerError as exc:
        print(f"run_all: error: {exc}", file=sys.stderr)
        return 2
    failures = outcome.failures + [c["failure"] for c in outcome.chains.values() if c.get("failure")]
    for line in failures:
        print(f"run_all: error: {line}", file=sys.stderr, flush=True)
    if plan.report:
        _report(plan, root, job, outcome, bool(failures))
    return 1 if failures else 0


def _has_parts(folder: Path) -> bool:
    return (folder / "parts").is_dir() and any((folder / "parts").glob("*.json"))


def _report(plan: Plan, root: Path, job: scheduler.Job, outcome: scheduler.Outcome, failed: bool) -> None:
    """One report over the seeds that recorded results (``build_report``'s seeds and executor, where it
    takes them)."""
    seeds = [k for k, folder in job.folders.items() if _has_parts(folder)]
    if not seeds:
        print("run_all: no results recorded, so no report was built", file=sys.stderr)
        return
    accepted = inspect.signature(build_report).parameters
    kwargs = {"executor": outcome.executor} if "executor" in accepted else {}
    if plan.seeds is not None:
        if "seeds" not in accepted:
            print("run_all: this version of the report reads no seeds: no report was built", file=sys.stderr)
            return
        kwargs["seeds"] = seeds
    page = build_report(plan.profile, root=root, **kwargs)
    print(f"Report{' (partial)' if failed else ''}: {relative(page, root)}", flush=True)


def _expected(profile: str) -> str:
    return f"expected on a 2-core CPU: {EXPECTED_CPU_TIME.get(profile, 'unknown')}"


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an exception so that it unwinds like Ctrl-C (the kernel is shut down)."""


_RECEIVED: set = set()  # "SIGTERM" once it came: Ray's waits turn any exception of a handler into KeyboardInterrupt


def _terminate(signum, frame):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one is enough: let the clean-up finish
    _RECEIVED.add("SIGTERM")
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
    _RECEIVED.clear()
    try:
        with _sigterm_as_interrupt():
            try:
                plan = parse_args(argv)
            except UsageError as exc:
                print(f"run_all.py: error: {exc}", file=sys.stderr)
                return 2
            return run(plan, root)
    except KeyboardInterrupt as exc:
        term = isinstance(exc, Terminated) or "SIGTERM" in _RECEIVED
        how = "SIGTERM" if term else "Ctrl-C"
        print(
            f"\nrun_all: interrupted ({how}): finished notebooks and their results are kept, and the "
            f"notebook that was running, partly executed; the report was not rebuilt",
            file=sys.stderr,
        )
        return 143 if term else 130
