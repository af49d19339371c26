"""The cache's `force` semantics and profile plumbing (no training here)."""
import os
import time

import pytest

from advlab import artifacts, pipeline
from advlab.errors import AdvlabError
from advlab.profiles import config


def test_force_rebuilds_once_per_run(tmp_path, monkeypatch):
    """run_all --force sets ADVLAB_FORCE_SINCE: an artifact written before the run is rebuilt, one
    written during the run (by an earlier notebook) is reused."""
    cfg = config("smoke", force=True)
    old, new = tmp_path / "old.pt", tmp_path / "new.pt"
    old.write_bytes(b"x")
    os.utime(old, (time.time() - 100, time.time() - 100))
    monkeypatch.setenv("ADVLAB_FORCE_SINCE", repr(time.time() - 10))
    new.write_bytes(b"x")
    assert pipeline._forced(cfg, old) is True
    assert pipeline._forced(cfg, new) is False
    assert pipeline._forced(cfg.replace(force=False), old) is False


def test_force_without_run_all_rebuilds_once_per_process(tmp_path, monkeypatch):
    monkeypatch.delenv("ADVLAB_FORCE_SINCE", raising=False)
    cfg = config("smoke", force=True)
    p = tmp_path / "m.pt"
    p.write_bytes(b"x")
    assert pipeline._forced(cfg, p) is True
    pipeline._REBUILT.add(str(p))
    assert pipeline._forced(cfg, p) is False


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
