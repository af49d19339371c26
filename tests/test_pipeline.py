"""The cache's `force` semantics and profile plumbing (no training here)."""

import os
import time

import pytest

from advlab.core.errors import AdvlabError
from advlab.course import artifacts, pipeline, robustness
from advlab.course.profiles import config
from advlab.evaluation.sanity import MODEL_CHECKS


def test_force_rebuilds_once_per_run(tmp_path, monkeypatch):
    """run_all --force sets ADVLAB_FORCE_SINCE: an artifact written before the run is rebuilt, one
    written during the run (by an earlier notebook) is reused."""
    cfg = config("smoke", force=True)
    old, new = tmp_path / "old.pt", tmp_path / "new.pt"
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 100, time.time() - 100))
    monkeypatch.setenv("ADVLAB_FORCE_SINCE", repr(time.time() - 10))
    new.write_bytes(b"x")
    assert pipeline._force_rebuild(cfg, old) is True
    assert pipeline._force_rebuild(cfg, new) is False
    assert pipeline._force_rebuild(cfg.replace(force=False), old) is False


def test_force_without_run_all_rebuilds_once_per_process(tmp_path, monkeypatch):
    monkeypatch.delenv("ADVLAB_FORCE_SINCE", raising=False)
    cfg = config("smoke", force=True)
    p = tmp_path / "m.pt"
    p.write_bytes(b"x")
    assert pipeline._force_rebuild(cfg, p) is True
    pipeline._REBUILT.add(str(p))
    assert pipeline._force_rebuild(cfg, p) is False


def test_cache_keys_follow_parameters():
    a, b = config("smoke"), config("smoke", epochs=3)
    assert pipeline.model_key(a, "baseline") != pipeline.model_key(b, "baseline")
    assert pipeline.model_key(a, "baseline") == pipeline.model_key(config("smoke", n_test=7), "baseline")
    # downstream artifacts change with their upstream ones
    assert pipeline.model_key(a, "fgsm_retrained") != pipeline.model_key(b, "fgsm_retrained")
    assert artifacts.key("x", {"a": 1, "b": 2}) == artifacts.key("x", {"b": 2, "a": 1})


def test_unknown_names_are_clear_errors():
    with pytest.raises(AdvlabError, match="unknown profile"):
        config("fast")
    with pytest.raises(AdvlabError, match="unknown parameter"):
        config("quick", epoch=3)
    with pytest.raises(AdvlabError, match="unknown model"):
        pipeline.model_key(config("quick"), "resnet")
    with pytest.raises(AdvlabError, match="not available|unknown device"):
        pipeline.resolve_device("tpu")


def test_on_the_fly_model_names_and_keys():
    cfg = config("quick")
    assert pipeline.on_the_fly_spec("fast_adv") == ("fast_adv", 1) and pipeline.on_the_fly_spec("madry_adv_w4") == (
        "madry_adv",
        4,
    )
    for bad in ("fast_adv_w0", "fast_adv_wx", "slow_adv", "baseline"):
        assert pipeline.on_the_fly_spec(bad) is None, bad
    assert pipeline.on_the_fly_spec("fast_pgd_adv_w2") == ("fast_pgd_adv", 2)
    names = ("fast_adv", "fast_adv_w2", "fast_pgd_adv", "fast_pgd_adv_w2", "madry_adv", "madry_adv_w2")
    assert len({pipeline.model_key(cfg, n) for n in names}) == len(names)
    assert pipeline.model_key(cfg, "fast_adv") != pipeline.model_key(cfg.replace(fast_epochs=3), "fast_adv")
    assert pipeline.model_key(cfg, "fast_adv") == pipeline.model_key(cfg.replace(madry_epochs=3), "fast_adv")
    assert pipeline.model_key(cfg, "fast_pgd_adv") != pipeline.model_key(cfg.replace(fast_pgd_steps=2), "fast_pgd_adv")
    assert pipeline.model_key(cfg, "fast_pgd_adv") == pipeline.model_key(cfg.replace(fast_epochs=3), "fast_pgd_adv")
    assert pipeline.on_the_fly_models(cfg) == ["fast_adv", "fast_pgd_adv"]
    assert pipeline.on_the_fly_models(cfg.replace(fast_pgd_epochs=0)) == ["fast_adv"]
    assert pipeline.on_the_fly_models(config("paper")) == ["fast_adv", "fast_pgd_adv", "madry_adv"]
    with pytest.raises(AdvlabError, match="fast_adv"):
        pipeline.model_key(cfg, "resnet")


def test_on_the_fly_guard_images_are_held_out():
    cfg = config("smoke")
    (x, y), (xg, yg) = pipeline.on_the_fly_data(cfg)
    assert len(xg) == cfg.guard_n and len(x) == cfg.n_train - cfg.guard_n
    flat = {tuple(img.flatten()[::7].tolist()) for img in x}
    assert not any(tuple(img.flatten()[::7].tolist()) in flat for img in xg), "a guard image is also trained on"
    with pytest.raises(AdvlabError, match="guard_n"):
        pipeline.on_the_fly_data(cfg.replace(guard_n=0))


def test_madry_model_trains_caches_and_evaluates(tmp_path, monkeypatch):
    """The paper profile's Madry model, shrunk: trained once with PGD on the fly, then loaded from the
    cache; its robust evaluation and sanity checks are cached too."""
    from pathlib import Path

    import torch

    monkeypatch.setattr(artifacts, "ROOT", tmp_path)
    monkeypatch.setattr(pipeline, "DATA_ROOT", Path(__file__).resolve().parents[1] / "data")
    cfg = config(
        "smoke", n_train=1200, madry_epochs=1, madry_steps=2, guard_n=100, robust_n=50, sanity_n=50, device="cpu"
    )
    assert pipeline.on_the_fly_models(cfg) == ["fast_adv", "fast_pgd_adv", "madry_adv"]
    model = pipeline.get_model(cfg, "madry_adv")
    info = pipeline.model_info(cfg, "madry_adv")
    assert info["history"]["method"] == "pgd" and len(info["history"]["epochs"]) == 1
    assert 0 <= info["history"]["epochs"][0]["guard_acc"] <= 1 and info["train_seconds"] > 0
    again = pipeline.get_model(cfg, "madry_adv")
    for k, v in model.state_dict().items():
        assert torch.equal(v, again.state_dict()[k])
    evaluated = robustness.evaluate_models(cfg, ["madry_adv"])["madry_adv"]
    r = evaluated["robust_eval"]
    assert r["n_images"] == 50 and r["robust_acc"] <= min(r["attacks"].values())
    assert set(evaluated["sanity"]) == set(MODEL_CHECKS)
    assert len(list((tmp_path / "robust").glob("*.json"))) == 1 and len(list((tmp_path / "sanity").glob("*.json"))) == 1


def test_cached_builds_once_per_params_and_force_rebuilds(tmp_path, monkeypatch):
    from advlab.course import artifacts

    monkeypatch.setattr(artifacts, "ROOT", tmp_path)
    calls = []

    def build():
        calls.append(1)
        return {"value": len(calls)}

    cfg = config("smoke", device="cpu")
    assert pipeline.cached(cfg, "demo", {"a": 1}, build) == {"value": 1}
    assert pipeline.cached(cfg, "demo", {"a": 1}, build) == {"value": 1} and len(calls) == 1
    assert pipeline.cached(cfg, "demo", {"a": 2}, build) == {"value": 2}
    assert pipeline.cached(cfg.replace(force=True), "demo", {"a": 1}, build) == {"value": 3}
    assert list((tmp_path / "demos").glob("demo-*.json"))
