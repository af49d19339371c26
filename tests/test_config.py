"""Every Config field is checked when a Config is made: a bad value gets one line naming the field, the
value and the allowed range (from config(), replace(), and run_all.py with exit code 2 before any work);
each preset says what it runs (``python -m advlab.profiles <profile>``)."""

import re

import pytest

from advlab.course import outline, profiles
from advlab.course.profiles import ConfigError, config
from advlab.runtime import cli as runner

NAN = float("nan")
# field -> values that must be rejected
BAD = {
    "profile": ["fast", ""],
    "device": ["tpu", None],
    "seed": [-1, 0.5, True],
    "force": [1, "yes"],
    "pretrained": [1, "yes", None],
    "n_train": [0, -3, 60001, 2.5, "all"],
    "epochs": [0, -1, 1.5, True, None],
    "batch_size": [0, -128],
    "lr": [0, -1e-3, NAN, float("inf"), None],
    "n_test": [0, 10001, -1],
    "n_pgd_test": [0, None, 10001],
    "sweep_epsilons": [[], [0.2, 0.1], [0.1, 0.1], [-0.1, 0.2], [0.5, 1.5], [NAN], None, 0.3],
    "grid_epsilons": [[], [0.3, 0.0], [2]],
    "grid_digit": [-1, 10, 5.0],
    "adv_n_train": [0, 70000],
    "adv_epsilons": [[], [0.0, 0.1], [0.3, 0.1], [1.2]],
    "adv_epochs": [0, -2],
    "pgd_steps": [0, -10],
    "pgd_train_steps": [0],
    "pgd_alpha_factor": [0, -2.5],
    "pgd_restarts": [0],
    "otf_eps": [-1, 0, 1.5, NAN],
    "fast_epochs": [0],
    "fast_alpha_factor": [0, -1],
    "fast_ramp_epochs": [-1, NAN],
    "fast_pgd_epochs": [-1, 0.5],
    "fast_pgd_steps": [0],
    "fast_pgd_alpha": [0, -0.01, 2],
    "fast_pgd_ramp_epochs": [-0.5],
    "madry_epochs": [-1, 0.5],
    "madry_steps": [0],
    "madry_alpha": [0, -0.01, 2],
    "madry_ramp_epochs": [-0.5],
    "guard_n": [0, -5, 2500],  # smoke trains on 5,000 images: the guard holds out < half
    "guard_steps": [0],
    "guard_apgd_steps": [-1, 2.5],
    "guard_drop": [0, -0.2, 1.5],
    "capacity_widths": [[0], [2, 1], [1, 1], [1.5], None],
    "robust_n": [-5, 0, 10001],
    "robust_steps": [0],
    "robust_restarts": [0],
    "robust_cw_restarts": [-1, 1.5],
    "apgd_steps": [0, -3],
    "apgd_restarts": [0],
    "apgd_targets": [0, 10],
    "baseline_seeds": [[-1], [2, 1], [0.5]],
    "sanity_n": [0],
    "sanity_steps": [0],
}


def test_every_field_has_a_rule_and_bad_values():
    assert set(profiles.RULES) == set(profiles.field_names()) == set(BAD)


@pytest.mark.parametrize("name, value", [(n, v) for n, values in BAD.items() for v in values])
def test_bad_value_rejected_with_field_value_and_range(name, value):
    with pytest.raises(ConfigError) as info:
        if name == "profile":
            profiles.Config(profile=value)
        else:
            config("smoke", **{name: value})
    message = str(info.value)
    assert info.value.field == name and message.startswith(f"{name}={value!r}: must be ")
    assert "\n" not in message
    with pytest.raises(ConfigError):  # replace() checks too (what a notebook calls)
        config("smoke").replace(**{name: value})


@pytest.mark.parametrize(
    "name, value",
    [
        ("n_train", None),
        ("n_train", 60000),
        ("n_test", None),
        ("epochs", 1),
        ("lr", 1),
        ("otf_eps", 1.0),
        ("sweep_epsilons", [0.0]),
        ("capacity_widths", []),
        ("madry_epochs", 0),
        ("fast_ramp_epochs", 0),
        ("guard_n", 2499),
        ("seed", 0),
        ("device", "cpu"),
    ],
)
def test_edge_values_accepted(name, value):
    assert getattr(config("smoke", **{name: value}), name) == value


def test_every_profile_is_valid():
    for name in profiles.PROFILES:
        profiles.validate(config(name))


@pytest.mark.parametrize(
    "setting, message",
    [
        ("epochs=0", "--set epochs=0: must be an integer >= 1"),
        ("n_train=0", "--set n_train=0: must be an integer in [1, 60000], or null (all)"),
        ("otf_eps=-1", "--set otf_eps=-1.0: must be a number in (0, 1]"),
        ("robust_n=-5", "--set robust_n=-5: must be an integer in [1, 10000]"),
        ("sweep_epsilons=[0.3,0.1]", "--set sweep_epsilons=[0.3, 0.1]: must be a non-empty ascending list"),
        ("n_train=150", "guard_n=100: must be below half the training images (75 with n_train=150)"),
    ],
)
def test_run_all_rejects_before_any_notebook_runs(setting, message, capsys, monkeypatch):
    ran = []
    monkeypatch.setattr(runner, "run", lambda plan, root: ran.append(plan) or 0)
    assert runner.main(["--profile", "smoke", "--set", setting]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"run_all.py: error: {message}") and err.count("\n") == 1, err
    assert ran == []


# --- the presets say what they run (``python -m advlab.profiles <profile>``) ---------------------------

CHAPTER_MODELS = {
    "01_baseline": ["baseline"],
    "02_fgsm_attack": ["baseline"],
    "03_adversarial_training": ["fgsm_retrained", "fgsm_untrained"],
    "04_generalization": ["pgd_retrained", "pgd_untrained"],
    "05_on_the_fly_adversarial_training": ["fast_adv", "fast_pgd_adv", "madry_adv"],
}


def _blocks(text: str) -> dict:
    """``{notebook: its block of describe()'s output, wrapped lines joined}``."""
    out, current = {}, None
    for line in text.splitlines():
        head = line.split(":")[0]
        if head in CHAPTER_MODELS:
            current = head
        if current:
            out[current] = (out.get(current, "") + " " + line.strip()).strip()
    return out


def test_every_preset_spells_out_the_same_fields():
    """quick lists its values too (not "the Config defaults"): the three presets can be read side by side."""
    keys = set(profiles.PROFILES["quick"])
    assert keys == set(profiles.PROFILES["smoke"]) == set(profiles.PROFILES["paper"])
    assert {"n_train", "epochs", "n_test", "adv_epochs", "fast_epochs", "madry_epochs", "robust_n"} <= keys


def test_cli_describes_every_chapter_and_its_models():
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-m", "advlab.profiles", "quick"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    blocks = _blocks(run.stdout)
    assert list(blocks) == list(CHAPTER_MODELS)
    for notebook, models in CHAPTER_MODELS.items():
        assert all(m in blocks[notebook] for m in models), (notebook, blocks[notebook])
    assert "6 epochs" in blocks["01_baseline"] and "all 60,000 training images" in blocks["01_baseline"]
    assert "madry_adv: not trained (madry_epochs = 0)" in blocks["05_on_the_fly_adversarial_training"]
    assert "= 60,000 images" in blocks["03_adversarial_training"]  # 10,000 x (1 + 5 eps)


def test_describe_reads_the_last_measured_times(tmp_path):
    text = " ".join(outline.describe("paper", root=tmp_path).split())
    assert text.count("not measured here yet (see docs/performance.md)") == 5
    assert "madry_adv: PGD with 40 steps of 0.01" in text and "widths x1, x2, x4" in text
    (tmp_path / "report" / "paper").mkdir(parents=True)
    (tmp_path / "report" / "paper" / "timings.json").write_text('{"01_baseline": 61.4, "04_generalization": 600}')
    blocks = _blocks(outline.describe("paper", root=tmp_path))
    assert "61 s in the last run here" in blocks["01_baseline"]
    assert "10.0 min in the last run here" in blocks["04_generalization"]
    assert "not measured here yet" in blocks["02_fgsm_attack"]


@pytest.mark.parametrize("argv", [["fast"], [], ["quick", "paper"]])
def test_cli_rejects_a_bad_profile_with_exit_code_2(argv, capsys):
    from advlab.profiles import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and ("invalid choice: 'fast'" in err or argv != ["fast"])


def test_time_estimates_point_to_the_measurements():
    for profile, text in profiles.EXPECTED_CPU_TIME.items():
        assert "docs/performance.md" in text and "estimate" in text, profile
        assert not re.search(r"\d+\s*s\b", text), f"{profile}: measured seconds belong in docs/performance.md"


def test_outline_covers_the_course_notebooks():
    from advlab.course.pipeline import NOTEBOOKS

    assert list(outline.CHAPTERS) == NOTEBOOKS
