"""The artifact cache heals itself: an entry that cannot be read (truncated, garbage, another architecture,
unexpected content) is moved aside as ``<name>.corrupt`` with a one-line warning and rebuilt, and the
rebuilt entry gives the same numbers as the original."""

from pathlib import Path

import pytest
import torch

from advlab.core.checkpoint import save_model
from advlab.core.models import BaselineCNN
from advlab.course import artifacts, curves, pipeline
from advlab.course.profiles import config

ROOT = Path(__file__).resolve().parents[1]
CFG = config(
    "smoke", n_train=400, epochs=1, adv_n_train=60, adv_epochs=1, n_test=100, n_pgd_test=50, guard_n=50, device="cpu"
)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A small cache: baseline, FGSM combined set, FGSM-retrained model and its FGSM curve; the
    original values to compare with."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(artifacts, "ROOT", tmp_path_factory.mktemp("artifacts"))
        mp.setattr(pipeline, "DATA_ROOT", ROOT / "data")
        curve = curves.curve(CFG, "fgsm_retrained", "fgsm", "whitebox")
        x, y = pipeline.adversarial_set(CFG, "fgsm")
        original = {
            "curve": curve,
            "set": (x.clone(), y.clone()),
            "models": {n: _weights(pipeline.get_model(CFG, n)) for n in ("baseline", "fgsm_retrained")},
        }
        yield original


def _weights(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _entry(kind: str) -> Path:
    if kind in ("baseline", "fgsm_retrained"):
        return artifacts.path(f"models/{pipeline.model_key(CFG, kind)}", ".pt")
    folder = {"set": "sets", "curve": "curves"}[kind]
    (p,) = [
        p
        for p in (artifacts.ROOT / folder).iterdir()
        if p.suffix == (".pt" if kind == "set" else ".json") and not p.name.startswith(".")
    ]
    return p


def _truncate(p):
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


def _garbage(p):
    p.write_bytes(b"\x00\xffnot a cache entry\x80" * 50)


def _other_architecture(p):
    save_model(BaselineCNN(width=2), p)  # a valid checkpoint, but of a width-2 network


def _unexpected_tensors(p):
    torch.save({"x": torch.zeros(3)}, p)  # loads, but is not a combined set


def _json_list(p):
    p.write_text("[1, 2, 3]\n")


CASES = [
    ("baseline", _other_architecture),
    ("fgsm_retrained", _truncate),
    ("set", _truncate),
    ("set", _unexpected_tensors),
    ("curve", _garbage),
    ("curve", _truncate),
    ("curve", _json_list),
]


@pytest.mark.parametrize("kind, corrupt", CASES, ids=[f"{k}-{f.__name__.strip('_')}" for k, f in CASES])
def test_unreadable_entry_is_moved_aside_and_rebuilt_with_the_same_numbers(cache, kind, corrupt, capfd):
    p = _entry(kind)
    corrupt(p)
    bad = p.with_name(p.name + ".corrupt")
    bad.unlink(missing_ok=True)
    if kind == "curve":
        again = curves.curve(CFG, "fgsm_retrained", "fgsm", "whitebox")
        assert again == cache["curve"]
    elif kind == "set":
        x, y = pipeline.adversarial_set(CFG, "fgsm")
        assert torch.equal(x, cache["set"][0]) and torch.equal(y, cache["set"][1])
    else:
        rebuilt = _weights(pipeline.get_model(CFG, kind))
        assert rebuilt.keys() == cache["models"][kind].keys()
        assert all(torch.equal(v, cache["models"][kind][k]) for k, v in rebuilt.items()), "rebuilt weights differ"
        assert pipeline.model_info(CFG, kind)["name"] == kind
    warnings = [line for line in capfd.readouterr().err.splitlines() if "advlab: warning" in line]
    assert len(warnings) == 1 and str(p) in warnings[0] and "rebuilding" in warnings[0], warnings
    assert bad.exists() and p.exists()
    # the healed entry is used as is: no second warning, same numbers
    assert curves.curve(CFG, "fgsm_retrained", "fgsm", "whitebox") == cache["curve"]
    assert "advlab: warning" not in capfd.readouterr().err


def test_model_info_heals_a_corrupt_checkpoint(cache, capfd):
    p = _entry("fgsm_retrained")
    _garbage(p)
    info = pipeline.model_info(CFG, "fgsm_retrained")
    assert info["name"] == "fgsm_retrained" and len(info["losses"]) == CFG.adv_epochs
    assert "moved it to" in capfd.readouterr().err
