"""Shipped weights (pretrained/smoke/): verified loading, clear errors, export, and `--pretrained` runs that
train nothing."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from advlab.core import adversarial_training, training
from advlab.core.checkpoint import save_model
from advlab.core.errors import AdvlabError
from advlab.core.inference import evaluate
from advlab.core.models import BaselineCNN
from advlab.course import artifacts, pipeline, pretrained, pretrained_cli
from advlab.course.profiles import config
from advlab.runtime import cli as runner

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "pretrained"


@pytest.fixture
def here(tmp_path, monkeypatch):
    """Artifacts in a temporary folder, the repository's data and shipped weights."""
    monkeypatch.setattr(artifacts, "ROOT", tmp_path / "artifacts")
    monkeypatch.setattr(pipeline, "DATA_ROOT", ROOT / "data")
    monkeypatch.setattr(pretrained, "ROOT", SHIPPED)
    return tmp_path


def test_shipped_smoke_models_verify_and_match_the_smoke_profile(here):
    """Every model of the smoke profile is shipped, for the profile's current parameters (if this fails after a
    change to the smoke profile or the model: `python run_all.py --profile smoke` then
    `python -m advlab.course.pretrained_cli export --profile smoke`), and gives the manifest's clean accuracy."""
    cfg = config("smoke", device="cpu")
    names = pretrained_cli.check(cfg)
    manifest = pretrained.manifest("smoke")
    assert (
        set(manifest["models"]) == set(names) == set(pipeline.MODELS + ["fast_adv", "fast_pgd_adv", "fast_pgd_adv_w2"])
    )
    x, y = pipeline.test_data(cfg)
    for name in names:
        e = manifest["models"][name]
        assert e["key"] == pipeline.trained_key(cfg, name)
        model = pretrained.load("smoke", name)
        assert not model.training and model.width == e["width"]
        assert evaluate(model, x, y) == pytest.approx(e["clean_acc"], abs=1e-3), name
        assert pretrained.info("smoke", name)["losses"]


def test_tampered_or_missing_weights_are_clear_errors(here):
    copy = here / "shipped"
    shutil.copytree(SHIPPED / "smoke", copy / "smoke")
    weights = copy / "smoke" / "baseline.pt"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(AdvlabError, match=r"baseline\.pt does not match its sha256.*git checkout"):
        pretrained.load("smoke", "baseline", root=copy)
    weights.unlink()
    with pytest.raises(AdvlabError, match=r"baseline\.pt are missing.*git checkout"):
        pretrained.load("smoke", "baseline", root=copy)
    with pytest.raises(AdvlabError, match="no pretrained 'madry_adv' for profile 'smoke'.*export"):
        pretrained.load("smoke", "madry_adv", root=copy)
    with pytest.raises(AdvlabError, match="trained with other parameters"):
        pretrained.load("smoke", "fast_adv", key="fast_adv-000000000000", root=copy)
    with pytest.raises(AdvlabError, match=r"no pretrained weights for profile 'paper' .*manifest\.json is missing"):
        pretrained.load("paper", "baseline", root=copy)
    (copy / "smoke" / "manifest.json").write_text("{")
    with pytest.raises(AdvlabError, match="not valid JSON"):
        pretrained.load("smoke", "fast_adv", root=copy)


def test_pretrained_pipeline_trains_nothing(here, monkeypatch):
    """With cfg.pretrained every model (and its metadata) comes from the shipped files; what is computed from
    them is cached under keys of their own."""

    def no_training(*args, **kwargs):
        raise AssertionError("a model was trained")

    for module, name in (
        (pipeline, "fit"),
        (training, "fit"),
        (adversarial_training, "fit"),
        (pipeline, "train_on_the_fly"),
    ):
        monkeypatch.setattr(module, name, no_training)
    cfg = config("smoke", device="cpu", pretrained=True)
    for name in pretrained_cli.profile_models(cfg):
        model = pipeline.get_model(cfg, name)
        shipped = pretrained.load("smoke", name)
        assert all(torch.equal(v, shipped.state_dict()[k]) for k, v in model.state_dict().items())
        assert pipeline.model_info(cfg, name) == pretrained.info("smoke", name)
        assert pipeline.model_key(cfg, name) != pipeline.trained_key(cfg, name)
    x, y = pipeline.adversarial_set(cfg, "fgsm")  # crafted on the shipped baseline
    assert len(x) == cfg.adv_n_train * (1 + len(cfg.adv_epsilons))
    assert not (here / "artifacts" / "models").exists()


def test_run_all_pretrained_checks_the_weights_first(here, monkeypatch, capsys):
    monkeypatch.setattr(pretrained, "ROOT", here / "nothing")
    assert runner.main(["--profile", "smoke", "--pretrained"], root=ROOT) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--pretrained: no pretrained weights for profile 'smoke'" in err and "export" in err
    monkeypatch.setattr(pretrained, "ROOT", SHIPPED)
    with pytest.raises(runner.UsageError, match="trained with other parameters"):
        runner.parse_args(["--profile", "smoke", "--pretrained", "--set", "epochs=3"])
    with pytest.raises(runner.UsageError, match="use --pretrained"):
        runner.parse_args(["--profile", "smoke", "--set", "pretrained=true"])
    plan = runner.parse_args(["--profile", "smoke", "--pretrained"])
    assert plan.cfg.pretrained and plan.overrides == {"pretrained": True}


def test_export_copies_verifies_and_measures(here):
    cfg = config("smoke", device="cpu")
    with pytest.raises(AdvlabError, match="not trained yet.*run_all.py --profile smoke"):
        pretrained_cli.export("smoke", ["baseline"], root=here / "out")
    torch.manual_seed(0)
    model = BaselineCNN()
    save_model(
        model.eval(),
        artifacts.path(f"models/{pipeline.model_key(cfg, 'baseline')}", ".pt"),
        {"name": "baseline", "losses": [1.0], "device": "cpu", "train_seconds": 1.0},
    )
    path = pretrained_cli.export("smoke", ["baseline"], root=here / "out")
    manifest = json.loads(path.read_text())
    e = manifest["models"]["baseline"]
    assert e["sha256"] == pretrained.sha256(here / "out" / "smoke" / "baseline.pt")
    assert e["key"] == pipeline.trained_key(cfg, "baseline") and e["width"] == 1 and 0 <= e["clean_acc"] <= 1
    loaded = pretrained.load("smoke", "baseline", root=here / "out")
    assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())


@pytest.mark.slow
def test_run_all_pretrained_smoke_trains_nothing(tmp_path):
    """`run_all.py --profile smoke --pretrained` (notebook 01) with an empty cache: no model is trained."""
    env = {**os.environ, "ADVLAB_ARTIFACTS": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "run_all.py", "--profile", "smoke", "--pretrained", "--only", "01", "--no-report"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert not list(tmp_path.rglob("*.pt")) and not list(tmp_path.rglob("*.ckpt")), "something was trained"
    part = json.loads((ROOT / "report" / "smoke" / "parts" / "01_baseline.json").read_text())
    assert part["config"]["pretrained"] is True
