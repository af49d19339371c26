#!/usr/bin/env python
"""Stress the headless execution of the notebooks and count stalls (the stall: see advlab.runtime.engine).

    python bench/stress_headless.py [--runs 30] [--config after before ...] [--notebooks 01,02 | mini]
                                    [--profile smoke] [--stall-seconds 3] [--set name=value ...]

Each run executes the notebooks as run_all.py does (papermill, the same parameters, the run_all
kernel), on the cached artifacts of the profile: run `python run_all.py --profile smoke` once first,
or the first run builds the cache. A *stall* is what advlab.runtime.engine's watchdog sees: the kernel idle
while a cell's request is pending for --stall-seconds (it then wakes the shell socket, and if that
does not help the notebook fails, counted, and the next one runs). A cell over --cell-timeout with
the kernel busy all along is real work, not a stall: it is listed apart. Configurations:

  before   neither remedy: explorers open their widgets (ADVLAB_HEADLESS=0), and the shell socket is
           not woken after the client's sends (the watchdog only watches)
  widgets  explorers open their widgets, the socket is woken after each send
  static   explorers open no widget (ADVLAB_HEADLESS=1), the socket is not woken
  after    what run_all.py does: no widget, and the socket is woken after each send

`--notebooks mini` runs a generated notebook instead: ten explorer-like cells (an ipywidgets
interactive with a matplotlib figure), each followed by a one-line cell: seconds per run, no artifacts.
The kernel runs this script's Python: run the script with another venv's Python (e.g. one with
ipykernel<7) to compare kernel versions. Prints one line per run and a table per configuration.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lib"))
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "lib")] + [p for p in [os.environ.get("PYTHONPATH")] if p])

from advlab.runtime import cli as runner  # noqa: E402
from advlab.runtime import notebooks  # noqa: E402

CONFIGS = {  # name: (ADVLAB_HEADLESS, rearm)
    "before": ("0", False),
    "widgets": ("0", True),
    "static": ("1", False),
    "after": ("1", True),
}

MINI_SETUP = "%matplotlib inline\nimport ipywidgets as w, matplotlib.pyplot as plt\nfrom advlab.course import widgets\n"
MINI_EXPLORER = """def view(cfg, model, attack, eps, threat, n):
    plt.figure(figsize=(2, 2)); plt.plot([0, eps]); plt.title(f"eps {eps:.2f}")
widgets.explore(None, eps=0.2, view=view)
"""


def mini_notebook(folder: Path) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(MINI_SETUP)]
    for i in range(10):
        nb.cells += [nbformat.v4.new_code_cell(MINI_EXPLORER), nbformat.v4.new_code_cell(f"x = {i}\nprint(x)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "mini_explorer.ipynb"
    nbformat.write(nb, path)
    return path


@contextlib.contextmanager
def environ(**values):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_once(sources, plan, kernel, config, args, out_dir) -> dict:
    """One run of every notebook under one configuration: stalls seen, failures, seconds."""
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError

    from advlab.runtime.engine import ENGINE, KernelStalled

    headless, rearm = CONFIGS[config]
    stalls, failed = [], []
    start = time.perf_counter()
    with environ(ADVLAB_HEADLESS=headless):
        for src in sources:
            params = notebooks.notebook_parameters(src, plan) if plan else {}
            try:
                pm.execute_notebook(
                    str(src),
                    str(out_dir / src.name),
                    parameters=params,
                    kernel_name=kernel,
                    language="python",
                    cwd=str(ROOT),
                    progress_bar=False,
                    shutdown_kernel="immediate",
                    execution_timeout=args.cell_timeout,
                    engine_name=ENGINE,
                    label=src.stem,
                    stall_seconds=args.stall_seconds,
                    rearm=rearm,
                    on_stall=stalls.append,
                )
            except KernelStalled as exc:
                failed.append(f"{src.stem}: stalled ({exc})")
            except CellTimeoutError:  # the watchdog saw no idle kernel: a long cell, not a stall
                failed.append(f"{src.stem}: a cell ran longer than {args.cell_timeout} s, the kernel busy")
    return {"stalls": stalls, "failed": failed, "seconds": time.perf_counter() - start}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--config", nargs="+", default=["after"], choices=list(CONFIGS))
    p.add_argument("--notebooks", default="", help="e.g. 02,04 (default: all five), or 'mini'")
    p.add_argument("--profile", default="smoke")
    p.add_argument("--set", dest="sets", nargs="+", default=[], metavar="name=value")
    p.add_argument("--stall-seconds", type=float, default=3.0)
    p.add_argument("--cell-timeout", type=int, default=1800, help="last-resort limit for one cell (seconds)")
    args = p.parse_args(argv)

    import ipykernel
    import jupyter_client
    import zmq

    versions = (
        f"ipykernel {ipykernel.__version__}, jupyter_client {jupyter_client.__version__}, pyzmq {zmq.__version__}"
    )
    print(f"stress_headless: {args.runs} run(s) per configuration; kernel: {sys.executable} ({versions})", flush=True)
    with tempfile.TemporaryDirectory(prefix="advlab-stress-") as tmp:
        tmp = Path(tmp)
        if args.notebooks == "mini":
            sources, plan = [mini_notebook(tmp)], None
        else:
            plan = runner.parse_args(
                ["--profile", args.profile, "--no-report"]
                + (["--only", args.notebooks] if args.notebooks else [])
                + (["--set", *args.sets] if args.sets else [])
            )
            sources = [ROOT / runner.NOTEBOOK_DIR / f"{stem}.ipynb" for stem in plan.notebooks]
        rows = []
        with notebooks.this_python_kernel() as kernel:
            for config in args.config:
                results = []
                for i in range(1, args.runs + 1):
                    r = run_once(sources, plan, kernel, config, args, tmp)
                    results.append(r)
                    print(
                        f"[{config} {i}/{args.runs}] {r['seconds']:.1f} s, {len(r['stalls'])} stall(s)"
                        + "".join(f"\n    {line}" for line in r["stalls"] + r["failed"]),
                        flush=True,
                    )
                rows.append((config, results))
    names = "mini" if args.notebooks == "mini" else ",".join(s.stem.split("_")[0] for s in sources)
    print(
        f"\nnotebooks {names}, profile {args.profile}, {versions}, stall = kernel idle with a cell pending "
        f"> {args.stall_seconds:g} s"
    )
    print(f"{'configuration':<14}{'runs':>6}{'stalls':>8}{'runs w/ stall':>15}{'failed nbs':>12}{'s/run':>8}")
    for config, results in rows:
        print(
            f"{config:<14}{len(results):>6}{sum(len(r['stalls']) for r in results):>8}"
            f"{sum(bool(r['stalls']) for r in results):>15}{sum(len(r['failed']) for r in results):>12}"
            f"{sum(r['seconds'] for r in results) / max(1, len(results)):>8.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
