"""Run a student's notebook in a throwaway, limited process and bring back only its answers' values.

The parent (:func:`run`) starts ``python -m advlab.runtime.sandbox NOTEBOOK`` with:

- a fresh working directory holding only the notebook, and a fresh ``HOME`` and ``TMPDIR`` in it,
  deleted afterwards; a small environment (no variable of the instructor's shell but ``PATH`` and the
  course's own ``ADVLAB_*``);
- resource limits (``resource.setrlimit``): address space (memory), CPU seconds, the size of any file
  written, no core dumps; and a wall-clock limit, after which the whole process tree is killed;
- where Linux lets an unprivileged user create namespaces (``unshare``): no network (an empty network
  namespace), its own process-id namespace (it cannot see or signal the grader), every file system
  read-only but its own folder, and the folders holding the hidden tests (``exercises/masters``,
  ``exercises/build``, ``.git``, and those the caller names: the masters in use, the class's
  submissions) replaced by empty ones. These mounts are made in an outer namespace and locked in an
  inner one, so the student's code cannot undo them. Where namespaces are not allowed, :func:`isolation`
  says so and the run has the limits and throwaway folders only.

The child executes the notebook's code cells (IPython, in-process, errors do not stop it), then reads
the probes (:mod:`advlab.runtime.probes`) from its standard input, runs each in the notebook's
namespace and writes the exported values to ``out/answers.json`` and ``out/arrays.npz``. The parent
reads those two files as data (JSON, and numpy without pickle) and trusts nothing else the child did.
"""

from __future__ import annotations

import functools
import json
import os
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from advlab.runtime import probes

ROOT = Path(__file__).resolve().parents[3]
HIDDEN = ("exercises/masters", "exercises/build", ".git")  # where the hidden tests live in the repository


@dataclass(frozen=True)
class Limits:
    seconds: float = 600.0  # wall clock, for the notebook and the probes together
    memory_mb: int = 8192  # address space (torch reserves much more than it touches)
    file_mb: int = 512  # the largest file the notebook may write


@dataclass
class Outcome:
    status: str  # "completed", or why the run stopped early
    answers: dict = field(default_factory=dict)  # probe id -> {"error": str} or {"values": {...}}
    arrays: dict = field(default_factory=dict)
    log: str = ""  # the tail of the notebook's output
    isolation: str = ""


# --- the parent -------------------------------------------------------------------------------


@functools.cache
def namespaces() -> bool:
    """Can this user create user, mount, network and pid namespaces (``unshare``)?"""
    probe = ["unshare", "--user", "--map-root-user", "--mount", "--net", "--pid", "--fork", "true"]
    try:
        return bool(shutil.which("unshare")) and subprocess.run(probe, capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def isolation(work: Path | None = None, hide=()) -> tuple[list[str], str]:
    """The command prefix that isolates a child working in ``work``, with the folders ``hide`` (and
    :data:`HIDDEN`) emptied, and a sentence saying what it does, or what it cannot do here."""
    if not namespaces():
        return [], (
            "no namespaces (unshare is missing or unprivileged user namespaces are disabled): limits and "
            "throwaway folders only; the network and the instructor's files (hidden tests included) stay "
            "reachable from the student's code: grade in Docker for full isolation"
        )
    if work is None:
        return [], "no network, own process ids, every file read-only but its own folder, hidden tests not mounted"
    hidden = [Path(h).resolve() for h in hide] + [ROOT / d for d in HIDDEN]
    w = shlex.quote(str(work))
    script = (
        f"mount --bind {w} {w} && for m in $(awk '{{print $5}}' /proc/self/mountinfo | sort -u); do "
        f'case "$m" in {w}|/proc|/proc/*) ;; *) mount -o remount,bind,ro "$m" 2>/dev/null;; esac; done'
    )
    # never a folder holding the course, its Python or the sandbox's own folder (a notebook handed in at the root)
    needed = [ROOT, Path(sys.prefix).resolve(), Path(sys.executable).resolve(), work]
    hidden = [h for h in hidden if not any(h == p or h in p.parents for p in needed)]
    for folder in sorted({h for h in hidden if h.is_dir()}):
        script += f" && mount -t tmpfs -o size=64k,ro none {shlex.quote(str(folder))}"
    # cd again: the working directory opened before the bind mount would stay on the read-only one
    script += f' && cd {w} && exec unshare --user --mount --map-user={os.getuid()} --map-group={os.getgid()} "$@"'
    outer = ["unshare", "--user", "--map-root-user", "--mount", "--net", "--pid", "--fork", "--kill-child"]
    return outer + ["--mount-proc", "sh", "-c", script, "sandbox"], isolation()[1]


def _set_limits(limits: Limits):
    def apply():
        memory = limits.memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        cpu = int(limits.seconds) + 5
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        size = limits.file_mb * 2**20
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _environment(work: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k.startswith("ADVLAB_") or k in ("PATH", "LANG")}
    env.update(HOME=str(work / "home"), TMPDIR=str(work / "tmp"), MPLBACKEND="Agg", OMP_NUM_THREADS="1")
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONNOUSERSITE="1", ADVLAB_PROGRESS="0")
    return env


def run(notebook: Path, probes: list[dict], limits: Limits = Limits(), name: str | None = None, hide=()) -> Outcome:
    """Run ``notebook`` then ``probes`` in a sandbox (module docstring); the answers come back as data.
    ``hide``: more folders the student's code must not see (the masters, the other submissions)."""
    work = Path(tempfile.mkdtemp(prefix="advlab-sandbox-")).resolve()
    prefix, isolated = isolation(work, hide)
    try:
        for sub in ("home", "tmp", "out"):
            (work / sub).mkdir()
        target = work / (name or Path(notebook).name)
        shutil.copyfile(notebook, target)
        command = prefix + [sys.executable, "-m", "advlab.runtime.sandbox", target.name]
        with open(work / "log.txt", "wb") as log:
            proc = subprocess.Popen(
                command, cwd=work, env=_environment(work), stdin=subprocess.PIPE, stdout=log,
                stderr=subprocess.STDOUT, preexec_fn=_set_limits(limits), start_new_session=True,
            )  # fmt: skip
            status = _wait(proc, json.dumps({"probes": probes}).encode(), limits)
        outcome = _read_answers(work / "out", status)
        outcome.log, outcome.isolation = _tail(work / "log.txt"), isolated
        return outcome
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _wait(proc: subprocess.Popen, spec: bytes, limits: Limits) -> str:
    try:
        proc.communicate(spec, timeout=limits.seconds)
    except subprocess.TimeoutExpired:
        _kill(proc)
        return f"stopped at its time limit ({limits.seconds:g} s)"
    except BrokenPipeError:
        proc.wait()
    finally:
        _kill(proc)  # anything the notebook left running in the background goes too
    if proc.returncode < 0 and -proc.returncode in (signal.SIGXCPU, signal.SIGKILL):
        return f"stopped at its CPU time limit ({limits.seconds:g} s)"
    return "completed" if proc.returncode == 0 else f"ended with exit code {proc.returncode} (see its output)"


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _read_answers(out: Path, status: str) -> Outcome:
    outcome = Outcome(status=status)
    if status != "completed" or not (out / "answers.json").is_file():
        return outcome
    try:
        answers = json.loads((out / "answers.json").read_text())
        if (out / "arrays.npz").is_file():
            with np.load(out / "arrays.npz", allow_pickle=False) as npz:
                outcome.arrays = {k: npz[k] for k in npz.files}
        outcome.answers = {str(k): v for k, v in answers.items() if isinstance(v, dict)}
    except (OSError, ValueError) as exc:
        outcome.status = f"its answers could not be read ({type(exc).__name__})"
    return outcome


def _tail(path: Path, size: int = 4000) -> str:
    data = path.read_bytes() if path.is_file() else b""
    return data[-size:].decode("utf-8", "replace")


# --- the child --------------------------------------------------------------------------------


# Otter's own cells (its set-up and the students' public checks) only report to the student: not run here
OTTER_CELL = re.compile(
    r"(# Initialize Otter\s*)?import otter\s*grader = otter\.Notebook\([^()]*\)|grader\.check(_all)?\([^()]*\)"
)


def _run_notebook(path: str) -> dict:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance(colors="NoColor")
    for cell in json.loads(Path(path).read_text())["cells"]:
        source = "".join(cell.get("source", ""))
        if cell.get("cell_type") == "code" and not OTTER_CELL.fullmatch(source.strip()):
            shell.run_cell(source, store_history=False)
    return shell.user_ns


def _probe(ns: dict, probe: dict, prefix: str, arrays: dict, encode) -> dict:
    try:
        exec(compile(probe["code"], f"<test {probe['id']}>", "exec"), ns)
        values, found = encode({n: ns[n] for n in probe["exports"] if n in ns}, prefix)
    except BaseException as exc:  # noqa: BLE001 - a student's code may raise anything, SystemExit too
        line = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return {"error": line[:1000]}
    arrays.update(found)
    return {"values": values}


def main(argv: list[str]) -> int:
    # taken before the notebook runs: patching these modules' names from the notebook changes nothing here
    out, encode, dumps, savez = Path.cwd() / "out", probes.encode, json.dumps, np.savez
    ns = _run_notebook(argv[0])
    spec = json.loads(sys.stdin.read() or "{}")
    answers, arrays = {}, {}
    for i, probe in enumerate(spec.get("probes", [])):
        answers[probe["id"]] = _probe(ns, probe, f"p{i}_", arrays, encode)
    savez(out / "arrays.npz", **arrays)
    (out / "answers.json").write_text(dumps(answers))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
