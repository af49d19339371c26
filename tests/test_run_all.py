"""run_all.py checks its arguments before running anything: a one-line error and exit code 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from advlab.runtime import cli as runner
from advlab.runtime import notebooks

ROOT = Path(__file__).resolve().parents[1]


def run_all(*args):
    return subprocess.run([sys.executable, "run_all.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "args, words",
    [
        (["--profile", "nope"], ["unknown profile", "smoke"]),
        (["--only", "02,07"], ["unknown notebook", "07"]),
        (["--set", "nope=1"], ["unknown field", "nope"]),
        (["--set", "epochs=abc"], ["epochs", "expected int"]),
        (["--set", "epochs"], ["name=value"]),
        (["--device", "tpu"], ["unknown device"]),
        (["--bogus"], ["unrecognized"]),
        (["--seeds", "0,a"], ["--seeds 0,a", "integers"]),
        (["--executor", "dask"], ["--executor dask", "ray, local"]),
    ],
)
def test_bad_arguments_one_line_exit_2(args, words, capsys):
    assert runner.main(args, root=ROOT) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for w in words:
        assert w in lines[0]
    assert "Traceback" not in err and out == ""


def test_the_script_exits_2_with_one_line():
    """run_all.py itself, as a user runs it: the exit code and the one line reach the shell."""
    r = run_all("--profile", "nope")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        "run_all.py: error: --profile nope: unknown profile; choose one of smoke, quick, paper"
    ]


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available on this machine")
def test_unavailable_device(capsys):
    assert runner.main(["--device", "cuda"], root=ROOT) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "not available" in err


def test_parse_args_values():
    plan = runner.parse_args(
        [
            "--profile",
            "smoke",
            "--only",
            "2,03_adversarial_training",
            "--set",
            "lr=1",
            "n_test=null",
            "--set",
            "sweep_epsilons=[0, 0.1]",
            "--force",
        ]
    )
    assert plan.notebooks == ["02_fgsm_attack", "03_adversarial_training"]
    assert plan.overrides == {"lr": 1.0, "n_test": None, "sweep_epsilons": [0, 0.1]}
    assert plan.cfg.profile == "smoke" and plan.cfg.n_train == 5000 and plan.cfg.lr == 1.0 and plan.force
    assert runner.parse_args([]).notebooks == [
        "01_baseline",
        "02_fgsm_attack",
        "03_adversarial_training",
        "04_generalization",
        "05_on_the_fly_adversarial_training",
    ]


def test_parameters_injected(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(
        "profile = 'quick'\ndevice = 'auto'\nforce = False\noverrides = {}\nepochs = 3\nn_test = 2000\n"
    )
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    plan = runner.parse_args(["--profile", "smoke", "--set", "epochs=7"])
    params = notebooks.notebook_parameters(path, plan)
    assert params == {
        "profile": "smoke",
        "device": "auto",
        "force": False,
        "overrides": {"epochs": 7},
        "epochs": 7,
        "n_test": 300,
    }


def test_kernel_runs_this_python_and_failure_is_reported(tmp_path):
    """A tiny notebook through papermill with the temporary kernelspec: a failing cell gives a clear
    message naming the notebook and cell, and the partly executed notebook is kept."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("import os, sys\nprint(sys.executable, os.environ['ADVLAB_PROGRESS'])"),
        nbformat.v4.new_code_cell("raise ValueError('boom')"),
    ]
    nb.metadata["kernelspec"] = {"name": "some-other-kernel", "display_name": "X", "language": "python"}
    src, out = tmp_path / "07_demo.ipynb", tmp_path / "out" / "07_demo.ipynb"
    nbformat.write(nb, src)
    with notebooks.this_python_kernel() as kernel:
        with pytest.raises(notebooks.NotebookFailed) as info:
            notebooks.run_notebook(src, out, {}, kernel, tmp_path)
    msg = str(info.value)
    assert "07_demo failed in cell [2] (raise ValueError('boom')): ValueError: boom" in msg
    done = json.loads(out.read_text())
    assert done["metadata"]["kernelspec"]["name"] == "some-other-kernel"
    printed = "".join("".join(o.get("text", "")) for c in done["cells"] for o in c.get("outputs", []))
    assert f"{sys.executable} 0" in printed
    assert not list(out.parent.glob(".*running*"))


def test_failing_notebook_exit_1_keeps_notebook_and_builds_partial_report(tmp_path, capsys):
    """run_all on a stand-in repository whose 01_baseline records a part and then fails."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("profile = 'quick'\ndevice = 'auto'\nforce = False\noverrides = {}\n")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [
        params,
        nbformat.v4.new_code_cell(
            "from advlab.core.io import write_json\n"
            "write_json(f'report/{profile}/parts/01_baseline.json', {'notebook': '01_baseline',"
            " 'device': 'cpu', 'models': {'baseline': {'clean_acc': 0.97}}})"
        ),
        nbformat.v4.new_code_cell("raise ValueError('boom')"),
    ]
    (tmp_path / "notebooks").mkdir()
    nbformat.write(nb, tmp_path / "notebooks" / "01_baseline.ipynb")
    code = runner.main(["--profile", "smoke", "--only", "01", "--executor", "local"], root=tmp_path)
    out, err = capsys.readouterr()
    assert code == 1
    # cell [4]: papermill inserts the injected-parameters cell before it
    assert "01_baseline failed in cell [4] (raise ValueError('boom')): ValueError: boom" in err
    assert "Report (partial): report/smoke/index.html" in out
    folder = tmp_path / "report" / "smoke"
    assert (folder / "01_baseline.ipynb").exists() and (folder / "index.html").exists()
    models = json.loads((folder / "results.json").read_text())["models"]
    assert list(models) == ["baseline"] and models["baseline"]["clean_acc"] == 0.97
    lo, hi = models["baseline"]["clean_ci95"]  # the report adds a Wilson interval on all 10,000 images
    assert models["baseline"]["n_images"] == 10000 and lo < 0.97 < hi
    assert not (folder / "timings.json").exists()  # only finished notebooks are timed


def test_a_hung_cell_times_out_and_the_notebook_is_rerun_once(tmp_path, monkeypatch, capsys):
    """A cell past ADVLAB_CELL_TIMEOUT (standing in for a lost kernel reply) reruns the notebook once,
    then fails with a message that says how to lift the limit."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import time\ntime.sleep(30)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    src, out = tmp_path / "08_slow.ipynb", tmp_path / "out" / "08_slow.ipynb"
    nbformat.write(nb, src)
    monkeypatch.setenv("ADVLAB_CELL_TIMEOUT", "2")
    with notebooks.this_python_kernel() as kernel:
        with pytest.raises(notebooks.NotebookFailed, match="longer than 2 s twice.*ADVLAB_CELL_TIMEOUT=0"):
            notebooks.run_notebook(src, out, {"profile": "smoke"}, kernel, tmp_path)
    assert "running the notebook again" in capsys.readouterr().out
    monkeypatch.delenv("ADVLAB_CELL_TIMEOUT")
    assert notebooks.cell_timeout("paper") is None and notebooks.cell_timeout("quick") == 3600
