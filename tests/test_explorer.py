"""The report's explorers (advlab.report.explorer): the data behind the sliders, and the page section.
The browser test (a real Chromium, network blocked) is in test_smoke_pipeline.py, on the smoke report."""

import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from advlab.core.attacks import fgsm
from advlab.core.inference import predict
from advlab.course import artifacts, curves, frames, pipeline
from advlab.course.profiles import config
from advlab.report import explorer

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("p, n", [(0.5, 100), (0.0, 20), (1.0, 300), (0.973, 2000), (0.12, 7)])
def test_wilson_matches_scipy(p, n):
    stats = pytest.importorskip("scipy.stats")
    k = round(p * n)
    ref = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
    lo, hi = frames.accuracy_interval(k / n, n)
    assert lo == pytest.approx(ref.low, abs=1e-9) and hi == pytest.approx(ref.high, abs=1e-9)


def _curve(model, attack, threat, acc, n=300):
    return {
        "model": model,
        "attack": attack,
        "threat": threat,
        "eps": [0.0, 0.1, 0.2][: len(acc)],
        "acc": acc,
        "n_images": n,
    }


def test_without_cached_models_the_explorers_keep_curves_and_readouts(tmp_path, monkeypatch):
    monkeypatch.setattr(artifacts, "ROOT", tmp_path / "empty")
    results = {
        "config": config("smoke").as_dict(),
        "curves": [
            _curve("baseline", "fgsm", "whitebox", [0.98, 0.6, 0.2]),
            _curve("pgd_retrained", "pgd", "transfer", [0.97, 0.9, 0.8], n=100),
        ],
    }
    data = frames.build(results, ROOT)
    assert data["images"] == {} and set(data["missing"]) == {"baseline", "pgd_retrained"}
    v = data["views"]["pgd_retrained|pgd|transfer"]
    assert "images" not in v and v["lo"][1] < 0.9 < v["hi"][1]
    ids = [e["id"] for e in data["explorers"]]
    assert ids == ["explore-02", "explore-04", "explore-05"]
    assert data["explorers"][1]["models"] == ["baseline", "pgd_retrained"]
    html = explorer.render(data, {"baseline": "Baseline"}, {"whitebox": "white-box"})
    assert "No images for baseline, pgd_retrained" in html
    assert not re.search(r"(src|href)=[\"']?(https?:)?//", html), "the section must not load anything"
    for e in ids:
        assert f'<label for="{e}-eps">Epsilon</label>' in html and f'id="{e}-eps"' in html
    assert frames.build({"curves": []}, ROOT) is None and explorer.render(None, {}, {}) == ""


def test_images_and_predictions_are_the_attacked_grid_images(tmp_path, monkeypatch):
    """With a cached baseline, each view carries the grid images attacked at every eps of its curve
    (FGSM, as the curves craft them) and the model's predictions on exactly those images."""
    monkeypatch.setattr(artifacts, "ROOT", tmp_path)
    monkeypatch.setattr(pipeline, "DATA_ROOT", ROOT / "data")
    cfg = config("smoke", n_train=400, epochs=1, guard_n=50, device="cpu")
    curve = curves.curve(cfg, "baseline", "fgsm", "whitebox", epsilons=[0.0, 0.2, 0.4])
    data = frames.build({"config": cfg.as_dict(), "curves": [curve]}, ROOT, n=3)
    assert data["labels"] == [cfg.grid_digit] * 3 and data["missing"] == []
    view = data["views"]["baseline|fgsm|whitebox"]
    images = data["images"][view["images"]]
    assert len(images) == 3 and all(len(row) == 3 for row in images)
    model = pipeline.get_model(cfg, "baseline")
    x, y = frames.shown_images(cfg, 3)
    from PIL import Image

    for i, eps in enumerate(curve["eps"]):
        x_adv = fgsm(model, x, y, eps)
        assert view["preds"][i] == predict(model, x_adv).tolist()
        for k, uri in enumerate(images[i]):
            png = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
            want = (x_adv[k, 0] * 255).round().to(torch.uint8).numpy()
            assert png.size == (28, 28) and (np.asarray(png) == want).all()
    assert view["acc"] == curve["acc"] and view["n_images"] == curve["n_images"]
