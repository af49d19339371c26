"""SIGTERM during run_all behaves like Ctrl-C: the same message, exit code 143, the
partly executed notebook kept, the kernel shut down; a rerun gives the numbers of an uninterrupted run.

Each run is notebook 01 on the smoke profile, shrunk with --set, in its own stand-in repository (a
temporary folder with the real notebooks, data and library linked in), so the runs share no cache.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# --executor local: the kernel is run_all's own child (under Ray, tests/test_scheduler.py interrupts a run)
ARGS = ["--profile", "smoke", "--only", "01", "--no-report", "--set", "n_train=2000", "epochs=2", "--executor", "local"]
RUN = "import sys; from advlab.runtime.cli import main; sys.exit(main(sys.argv[2:], root=sys.argv[1]))"


def stand_in_repo(folder: Path) -> Path:
    folder.mkdir()
    (folder / "pyproject.toml").write_text("# stand-in: pipeline.chdir_root looks for this file\n")
    (folder / "lib").mkdir()
    for name, target in [
        ("lib/advlab", ROOT / "lib" / "advlab"),
        ("notebooks", ROOT / "notebooks"),
        ("data", ROOT / "data"),
    ]:
        (folder / name).symlink_to(target, target_is_directory=True)
    return folder


def start(root: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "ADVLAB_ARTIFACTS"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "lib")] + [p for p in [env.get("PYTHONPATH")] if p])
    return subprocess.Popen(
        [sys.executable, "-c", RUN, str(root), *ARGS],
        cwd=root,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(proc: subprocess.Popen, timeout=600):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def children(pid: int) -> set[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def clean_acc(root: Path) -> float:
    return json.loads((root / "report" / "smoke" / "parts" / "01_baseline.json").read_text())["models"]["baseline"][
        "clean_acc"
    ]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the kernel process")
def test_sigterm_like_ctrl_c(tmp_path):
    whole = stand_in_repo(tmp_path / "whole")
    cut = stand_in_repo(tmp_path / "cut")
    uninterrupted = start(whole)

    proc = start(cut)
    running = cut / "report" / "smoke" / ".01_baseline.running.ipynb"
    deadline = time.time() + 300
    kernels = set()
    # wait until the kernel has run a cell past the parameters (the data is loaded), then SIGTERM
    while time.time() < deadline and proc.poll() is None:
        kernels |= children(proc.pid)
        try:
            cells = json.loads(running.read_text())["cells"]
            if any(c.get("execution_count") and c.get("outputs") for c in cells[5:]):
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    assert proc.poll() is None, "the run ended before it could be interrupted"
    kernels |= children(proc.pid)
    assert kernels, "no kernel process found"
    proc.send_signal(signal.SIGTERM)
    code, out, err = finish(proc, timeout=120)

    assert code == 143, err
    last = err.strip().splitlines()[-1]
    assert last == (
        "run_all: interrupted (SIGTERM): finished notebooks and their results are kept, and the "
        "notebook that was running, partly executed; the report was not rebuilt"
    )
    assert "Traceback" not in err
    partial = json.loads((cut / "report" / "smoke" / "01_baseline.ipynb").read_text())
    assert partial["metadata"]["kernelspec"]["name"] != "advlab-run-all"  # its own kernelspec back
    assert not running.exists()
    time.sleep(1)
    assert not [pid for pid in kernels if alive(pid)], "the kernel outlived run_all"

    code, out, err = finish(start(cut))
    assert code == 0, err
    code, out, err = finish(uninterrupted)
    assert code == 0, err
    assert clean_acc(cut) == clean_acc(whole)
