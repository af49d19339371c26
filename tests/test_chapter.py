"""advlab.course.chapter: one call sets a chapter up (the Config of a profile with the notebook's
parameters and overrides) and collects the chapter's figures and numbers for the report."""

import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from advlab.core.errors import AdvlabError  # noqa: E402
from advlab.course import story  # noqa: E402
from advlab.course.chapter import chapter  # noqa: E402
from advlab.course.pipeline import FIGURES  # noqa: E402
from advlab.course.profiles import ConfigError, config  # noqa: E402


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """An empty repository root (pyproject.toml and lib/advlab), and the working directory below it."""
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'advlab-test'\n")
    (tmp_path / "lib" / "advlab").mkdir(parents=True)
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # as JupyterLab starts a notebook's kernel
    return tmp_path


def test_config_from_profile_parameters_and_overrides(repo, capsys):
    ch = chapter("02_fgsm_attack", "smoke", device="cpu", overrides={"grid_digit": 3}, n_test=50, grid_digit=7)
    assert ch.cfg == config("smoke", device="cpu", n_test=50, grid_digit=3)  # overrides win
    assert ch.root == repo and Path.cwd() == repo
    out = capsys.readouterr().out
    assert out.count("`n_test` = 50") == 1 and out.count("`grid_digit`") == 1 and "`grid_digit` = 3 (override)" in out
    assert "`n_train` = 5000 (override)" in capture(repo, overrides={"n_train": 5000})  # a field not in the notebook
    assert "**Device:** cpu" in out and story.compute_time("02_fgsm_attack") in out


def capture(repo, **kwargs) -> str:
    """What chapter 02 shows when set up with ``kwargs`` on the smoke profile."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()) as out:
        chapter("02_fgsm_attack", "smoke", device="cpu", **kwargs)
    return out.getvalue()


def test_defaults_are_the_quick_profile(repo):
    assert chapter("01_baseline", device="cpu").cfg == config("quick", device="cpu")


def test_shows_the_time_measured_here(repo, capsys):
    (repo / "report" / "smoke").mkdir(parents=True)
    (repo / "report" / "smoke" / "timings.json").write_text(json.dumps({"03_adversarial_training": 41.6}))
    chapter("03_adversarial_training", "smoke", device="cpu")
    out = capsys.readouterr().out
    assert "42 s" in out and out.count("**Chapter 03_adversarial_training**") == 1


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"n_tset": 5}, ["unknown parameter 'n_tset'", "did you mean 'n_test'?"]),
        ({"slider_eps": 0.2}, ["unknown parameter 'slider_eps'", "Config fields: profile, device"]),
        ({"overrides": {"epoch": 3}}, ["unknown override 'epoch'", "did you mean 'epochs'?"]),
        ({"overrides": {"device": "cpu"}}, ["unknown override 'device'", "pass device as its own argument"]),
    ],
)
def test_unknown_parameter_is_a_clear_error(repo, kwargs, words):
    with pytest.raises(AdvlabError) as info:
        chapter("02_fgsm_attack", "smoke", **kwargs)
    message = str(info.value)
    assert message.startswith("chapter 02_fgsm_attack: ") and "\n" not in message
    assert all(w in message for w in words), message
    assert Path.cwd() == repo / "notebooks"  # rejected before anything happens


def test_unknown_chapter_and_bad_values(repo):
    with pytest.raises(AdvlabError, match="unknown chapter '06_gans': choose one of 01_baseline"):
        chapter("06_gans")
    with pytest.raises(ConfigError, match=r"^epochs=0: must be an integer >= 1"):
        chapter("01_baseline", "smoke", epochs=0)
    with pytest.raises(AdvlabError, match="unknown profile 'fast'"):
        chapter("01_baseline", "fast")


def test_figures_and_results_are_recorded(repo):
    ch = chapter("01_baseline", "smoke", device="cpu")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    ch.save(fig, "01_baseline_loss")
    ch.save(fig, "01_baseline_loss")  # a cell run again: still one entry
    with pytest.raises(KeyError, match="not a course figure"):
        ch.save(fig, "01_not_a_figure")
    plt.close(fig)
    part = ch.record({"models": {"baseline": {"clean_acc": 0.5}}, "losses": {"baseline": [1.0, 0.5]}})
    assert part == Path("report/smoke/parts/01_baseline.json")
    data = json.loads((repo / part).read_text())
    assert data["notebook"] == "01_baseline" and data["config"] == ch.cfg.as_dict() and data["device"] == "cpu"
    assert data["models"] == {"baseline": {"clean_acc": 0.5}} and data["losses"] == {"baseline": [1.0, 0.5]}
    assert data["figures"] == [
        {
            "name": "01_baseline_loss",
            "path": "figures/smoke/01_baseline_loss.png",
            "caption": FIGURES["01_baseline_loss"],
        }
    ]
    assert (repo / "figures" / "smoke" / "01_baseline_loss.png").stat().st_size > 0


NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
RUN_SETUP = """
import json, sys
from pathlib import Path
for stem in sys.argv[1:]:
    cells = json.loads((Path("notebooks") / f"{stem}.ipynb").read_text())["cells"]
    i = next(i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))
    scope = {}
    exec("".join(cells[i]["source"]), scope)
    exec('profile = "smoke"\\ndevice = "cpu"', scope)  # what papermill injects after the parameters cell
    print(f"=== {stem}", flush=True)
    exec("".join(cells[i + 1]["source"]), scope)
    assert scope["cfg"] is scope["ch"].cfg and scope["cfg"].profile == "smoke", stem
"""


def test_each_notebook_is_set_up_by_its_one_setup_cell(tmp_path):
    """The parameters cell, papermill's injected values, then the set-up cell alone: the Colab install is
    skipped, the chapter is set up with the injected profile, and its parameters are shown once."""
    import os
    import subprocess
    import sys

    from advlab.course.pipeline import NOTEBOOKS as STEMS

    env = {**os.environ, "MPLBACKEND": "Agg"}
    run = subprocess.run(
        [sys.executable, "-c", RUN_SETUP, *STEMS],
        cwd=NOTEBOOKS.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    outputs = dict(zip(STEMS, run.stdout.split("=== ")[1:]))
    for stem, out in outputs.items():
        assert out.count(f"**Chapter {stem}**, profile `smoke`") == 1, out
        shown = out.split("Parameters: ", 1)[1].split("\n", 1)[0]
        names = re.findall(r"`(\w+)` = ", shown)
        assert names and len(names) == len(set(names)), f"{stem}: a parameter shown twice: {shown}"
        assert all(out.count(f"`{n}` = ") == 1 for n in names), out
