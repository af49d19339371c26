"""Executing one notebook with papermill: a kernelspec that starts this very Python, the parameters
papermill injects, a kernel-stall watchdog and a cell timeout (each makes the notebook run once more,
reusing cached work), and the executed notebook written atomically, a failed or interrupted one kept."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import papermill as pm
from nbclient.exceptions import CellTimeoutError
from papermill.exceptions import PapermillExecutionError

from advlab.core.io import write_json
from advlab.runtime.engine import ENGINE, STALL_SECONDS, KernelStalled

KERNEL_NAME = "advlab-run-all"


@contextlib.contextmanager
def this_python_kernel(force_since: float | None = None):
    """A temporary kernelspec that starts this very Python (so the notebooks see the same packages),
    put first on JUPYTER_PATH; yields its name. Kernels also get ADVLAB_PROGRESS=0, ADVLAB_HEADLESS=1
    (no widgets: see ``widgets.explore``), and ADVLAB_FORCE_SINCE=<force_since, default now> so that
    ``--force`` rebuilds each artifact once per run, not once per notebook."""
    saved = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "ADVLAB_PROGRESS", "ADVLAB_FORCE_SINCE", "ADVLAB_HEADLESS")}
    with tempfile.TemporaryDirectory(prefix="advlab-kernel-") as tmp:
        spec_dir = Path(tmp) / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True)
        (spec_dir / "kernel.json").write_text(
            json.dumps(
                {
                    # log_level: keep the kernel's start-up warnings (e.g. "running over TCP") off the progress bars
                    "argv": [
                        sys.executable,
                        "-m",
                        "ipykernel_launcher",
                        "-f",
                        "{connection_file}",
                        "--IPKernelApp.log_level=ERROR",
                    ],
                    "display_name": "Python (advlab, run_all)",
                    "language": "python",
                }
            )
        )
        os.environ["JUPYTER_PATH"] = os.pathsep.join([tmp] + ([saved["JUPYTER_PATH"]] if saved["JUPYTER_PATH"] else []))
        os.environ["ADVLAB_PROGRESS"] = "0"
        os.environ.setdefault("ADVLAB_HEADLESS", "1")  # bench/stress_headless.py may set 0
        os.environ["ADVLAB_FORCE_SINCE"] = repr(time.time() if force_since is None else force_since)
        try:
            yield KERNEL_NAME
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def _declared_parameters(path: Path) -> dict:
    """The names in the notebook's ``parameters`` cell (papermill.inspect_notebook)."""
    nb = nbformat.read(path, as_version=4)
    if nb.metadata.get("kernelspec", {}).get("name"):
        return pm.inspect_notebook(str(path))
    # papermill needs a kernelspec to pick the language: inspect a copy that names one
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "Python 3"}
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / path.name
        nbformat.write(nb, copy)
        return pm.inspect_notebook(str(copy))


def notebook_parameters(path: Path, plan) -> dict:
    """What papermill injects into one notebook."""
    declared = _declared_parameters(path)
    params = {"profile": plan.profile, "device": plan.device, "force": plan.force, "overrides": plan.overrides}
    values = plan.cfg.as_dict()
    for name in declared:
        if name in values and name not in params:
            params[name] = values[name]
    return params


@contextlib.contextmanager
def environment(values: dict):
    """``os.environ`` updated with ``values`` for the duration (a value None removes the variable)."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = str(v)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_chain(
    plan,
    root: Path,
    folder: Path,
    env: dict,
    force_since: float | None = None,
    tag: str = "",
    progress: bool = True,
    numbers: tuple[int, int] | None = None,
) -> dict:
    """Run ``plan.notebooks`` in order into ``folder`` (executed notebooks and ``timings.json``) with
    ``env`` set for the kernels; stop at the first failure. Returns ``{"seconds": {stem: s}, "failure":
    one line or None}``; a KeyboardInterrupt goes through (the running notebook is kept, partly executed).
    ``progress``: papermill's progress bar per notebook. ``numbers``: (the first notebook's number, how many
    the seed runs in all), where these notebooks are part of a seed's chain (default: 1 and these)."""
    root, folder = Path(root), Path(folder)
    os.chdir(root)
    seconds, failure = {}, None
    sources = [root / "notebooks" / f"{stem}.ipynb" for stem in plan.notebooks]
    first, total = numbers or (1, len(sources))
    with environment(env), this_python_kernel(force_since) as kernel:
        for i, src in enumerate(sources, first):
            print(f"{tag}[{i}/{total}] {src.stem} ...", flush=True)
            try:
                params = notebook_parameters(src, plan)
                s = run_notebook(src, folder / f"{src.stem}.ipynb", params, kernel, root, progress)
            except NotebookFailed as exc:
                failure = str(exc)
                break
            merge_timings(folder / "timings.json", src.stem, s)
            seconds[src.stem] = s
            print(f"{tag}[{i}/{total}] {src.stem} done in {s:.1f} s", flush=True)
    return {"seconds": seconds, "failure": failure}


def merge_timings(path: Path, stem: str, seconds: float) -> None:
    try:
        timings = json.loads(path.read_text())
        if not isinstance(timings, dict):
            timings = {}
    except (OSError, ValueError):
        timings = {}
    timings[stem] = round(seconds, 2)
    write_json(path, timings)


def _keep_kernelspec(path: Path, kernelspec) -> None:
    """Give the executed notebook back its own kernelspec (papermill writes the temporary one)."""
    nb = nbformat.read(path, as_version=4)
    if kernelspec:
        nb.metadata["kernelspec"] = kernelspec
    else:
        nb.metadata.pop("kernelspec", None)
    nbformat.write(nb, path)


class NotebookFailed(Exception):
    def __init__(self, message: str):
        super().__init__(message)


# Seconds one cell may run before run_all gives up on it and reruns the notebook once (cached work is
# reused): a last resort, generous because a busy machine makes real work slow (see docs/performance.md
# for a smoke-profile cell of more than 300 s). A kernel that is idle while a cell's request
# is pending is caught within seconds by the watchdog of advlab.runtime.engine instead (ADVLAB_STALL_SECONDS,
# default 5). ADVLAB_CELL_TIMEOUT overrides the timeout; 0 means no limit.
CELL_TIMEOUT = {"smoke": 1800, "quick": 3600, "paper": None}


def cell_timeout(profile: str) -> int | None:
    value = os.environ.get("ADVLAB_CELL_TIMEOUT")
    if value is not None:
        return int(value) or None
    return CELL_TIMEOUT.get(profile)


def stall_seconds() -> float:
    return float(os.environ.get("ADVLAB_STALL_SECONDS") or STALL_SECONDS)


def run_notebook(src: Path, out: Path, params: dict, kernel: str, root: Path, progress: bool = True) -> float:
    """Execute ``src`` into ``out`` (written only when papermill is done, failed cell included).
    Returns the wall seconds; raises NotebookFailed (with a one-line message) or KeyboardInterrupt.
    A kernel left idle with a cell pending (the watchdog), or a cell that exceeds ``cell_timeout``,
    makes the notebook run once more."""
    timeout = cell_timeout(params.get("profile", ""))
    start = time.perf_counter()
    for attempt in (1, 2):
        try:
            _run_notebook_once(src, out, params, kernel, root, timeout, progress)
            return time.perf_counter() - start
        except KernelStalled as exc:
            if attempt == 2:
                raise NotebookFailed(f"{src.stem}: the kernel stalled twice ({exc})") from None
            print(
                f"{src.stem}: the kernel stalled ({exc}); running the notebook again, reusing cached work", flush=True
            )
        except CellTimeoutError:
            if attempt == 2:
                raise NotebookFailed(
                    f"{src.stem}: a cell ran longer than {timeout} s twice; if that is real work (a bigger "
                    f"--set), rerun with ADVLAB_CELL_TIMEOUT=0 (no limit)"
                ) from None
            print(
                f"{src.stem}: a cell ran longer than {timeout} s; running the notebook again, reusing cached work",
                flush=True,
            )


def _run_notebook_once(src: Path, out: Path, params: dict, kernel: str, root: Path, timeout, progress=True) -> None:
    tmp = out.with_name(f".{out.stem}.running.ipynb")
    original_spec = nbformat.read(src, as_version=4).metadata.get("kernelspec")
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        try:
            # shutdown_kernel="immediate": on Ctrl-C the kernel is stopped at once, without the traceback a
            # graceful shutdown prints when it closes the sockets of a cell that is still running.
            pm.execute_notebook(
                str(src),
                str(tmp),
                parameters=params,
                kernel_name=kernel,
                language="python",
                cwd=str(root),
                progress_bar=progress,
                shutdown_kernel="immediate",
                execution_timeout=timeout,
                engine_name=ENGINE,
                label=src.stem,
                stall_seconds=stall_seconds(),
            )
        except PapermillExecutionError as exc:
            if exc.ename == "KeyboardInterrupt":
                _keep_partial(tmp, out, original_spec)
                raise KeyboardInterrupt from None
            if tmp.exists():
                _keep_kernelspec(tmp, original_spec)
                os.replace(tmp, out)
            evalue = " ".join(str(exc.evalue).split())
            if len(evalue) > 300:
                evalue = evalue[:297] + "..."
            raise NotebookFailed(
                f"{src.stem} failed in cell [{exc.exec_count}]{_first_line(out, exc.exec_count)}: "
                f"{exc.ename}: {evalue} "
                f"(partly executed notebook: {relative(out, root)})"
            ) from None
        except KeyboardInterrupt:
            _keep_partial(tmp, out, original_spec)
            raise
        except (NotebookFailed, CellTimeoutError, KernelStalled):
            raise
        except Exception as exc:  # kernel died, could not start, ...
            msg = " ".join(str(exc).split())[:300]
            if tmp.exists():
                _keep_kernelspec(tmp, original_spec)
                os.replace(tmp, out)
            raise NotebookFailed(f"{src.stem} could not be run: {type(exc).__name__}: {msg}") from None
        _keep_kernelspec(tmp, original_spec)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _keep_partial(tmp: Path, out: Path, kernelspec) -> None:
    """On an interruption, keep the partly executed notebook as ``out`` (as a failure does)."""
    try:
        if tmp.exists():
            _keep_kernelspec(tmp, kernelspec)
            os.replace(tmp, out)
    except Exception:  # interrupted while papermill was writing it: the temporary file goes
        pass


def _first_line(path: Path, exec_count) -> str:
    """`` (first line of the cell's code)`` for the cell with this execution count, or ""."""
    try:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code" and cell.get("execution_count") == exec_count:
                line = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")
                return f" ({line[:60]}{'...' if len(line) > 60 else ''})" if line else ""
    except Exception:
        pass
    return ""


def relative(p: Path, root: Path) -> str:
    try:
        return str(p.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(p)
