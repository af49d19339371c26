"""The explorers' frames: for each accuracy curve the notebooks recorded (model, attack, threat model), a
handful of test images (the first of the seed's grid class, ``grid_digit``) attacked at every eps of the
curve exactly as the curves attack them, and the model's predictions on them, so that the report's
sliders work in a static page with no kernel. Only those images are attacked, and only with models
already in the cache: nothing is trained here. A model that is not cached (or whose checkpoint cannot
be read) keeps its curve and readout, without images. :mod:`advlab.report.explorer` lays them out.
"""

from __future__ import annotations

import base64
import contextlib
import io
from pathlib import Path

import torch

from advlab.core.attacks import fgsm_signs, pgd
from advlab.core.checkpoint import load_model
from advlab.core.errors import AdvlabError
from advlab.core.inference import predict
from advlab.course import artifacts, pipeline
from advlab.course.profiles import Config, field_names
from advlab.evaluation.stats import wilson_acc

N_IMAGES = 5  # images shown per view

# The chapters' explorers: which models, attacks and threat models each one offers, and where it starts.
CHAPTERS = [
    {
        "id": "explore-02",
        "title": "Chapter 2: FGSM on the baseline",
        "models": ["baseline"],
        "attacks": ["fgsm"],
        "threats": ["whitebox"],
        "start": ("baseline", "fgsm", "whitebox", 0.2),
    },
    {
        "id": "explore-04",
        "title": "Chapter 4: every model under FGSM and PGD, white-box and transfer",
        "models": pipeline.MODELS,
        "attacks": pipeline.ATTACKS,
        "threats": pipeline.THREATS,
        "start": ("pgd_retrained", "pgd", "whitebox", 0.2),
    },
    {
        "id": "explore-05",
        "title": "Chapter 5: the models trained on the fly against the static ones",
        "models": pipeline.MODELS + list(pipeline.ON_THE_FLY),
        "attacks": pipeline.ATTACKS,
        "threats": pipeline.THREATS,
        "start": ("fast_adv", "pgd", "whitebox", 0.3),
    },
]


def accuracy_interval(correct: float, n: int) -> tuple[float, float]:
    """The 95% Wilson interval of an accuracy ``correct`` measured on ``n`` images ((0, 1) when n is 0;
    an accuracy recorded outside [0, 1] is clamped to it)."""
    return wilson_acc(min(1.0, max(0.0, float(correct))), int(n)) if n else (0.0, 1.0)


def png_data_uri(image: torch.Tensor) -> str:
    """A 28x28 grey image in [0, 1] as a PNG data URI (a few hundred bytes)."""
    from PIL import Image

    pixels = (image.squeeze().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    buf = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def run_config(results: dict) -> Config | None:
    """The Config the notebooks recorded (None when there is none, or it is not valid here)."""
    recorded = results.get("config") or {}
    try:
        return Config(**{k: v for k, v in recorded.items() if k in field_names()}).replace(device="cpu", force=False)
    except (TypeError, ValueError, RuntimeError):
        return None


def shown_images(cfg: Config, n: int = N_IMAGES):
    """The first ``n`` test images of class ``grid_digit`` (the seed's grid images) and their labels."""
    x, y = pipeline.test_data(cfg)
    keep = (y == cfg.grid_digit).nonzero().flatten()[:n]
    return x[keep], y[keep]


class _Attacker:
    """Adversarial versions of the shown images, crafted as the curves craft theirs, computed once per
    (source model, attack, early stop)."""

    def __init__(self, cfg: Config):
        self.cfg, self.x, self.y = cfg, None, None
        self.models, self.images = {}, {}

    def model(self, name):
        """The cached model ``name``, or None when it is not in the cache or cannot be read (nothing is
        trained or rebuilt at report time)."""
        if name not in self.models:
            path = artifacts.path(f"models/{pipeline.model_key(self.cfg, name)}", ".pt")
            try:
                if self.cfg.pretrained:  # the shipped weights (advlab.course.pretrained): loaded, never trained
                    self.models[name] = pipeline.get_model(self.cfg, name)
                else:
                    self.models[name] = load_model(path) if path.exists() else None
            except AdvlabError:
                self.models[name] = None
        return self.models[name]

    def adversarial(self, source: str, attack: str, early_stop: bool, epsilons) -> tuple[str, list]:
        key = f"{attack}:{source}" + (":early" if attack == "pgd" and early_stop else "")
        if key not in self.images:
            src, out = self.model(source), []
            sign = fgsm_signs(src, self.x, self.y) if attack == "fgsm" else None
            for eps in epsilons:
                if sign is not None:
                    out.append((self.x + eps * sign).clamp(0, 1))
                else:
                    s = pipeline.pgd_settings(self.cfg, eps)
                    out.append(
                        pgd(
                            src,
                            self.x,
                            self.y,
                            s["eps"],
                            s["alpha"],
                            s["steps"],
                            s["random_start"],
                            s["restarts"],
                            seed=self.cfg.seed + 100 + round(1000 * eps),
                            early_stop=early_stop,
                        )
                    )
            self.images[key] = (list(epsilons), out)
        return key, self.images[key]


def _view(curve: dict, attacker: _Attacker | None) -> dict:
    """One (model, attack, threat) view: the curve with its interval, and when the models are cached,
    the attacked images' key and the model's predictions at each eps."""
    n = curve.get("n_images")
    view = {"eps": curve["eps"], "acc": curve["acc"], "n_images": n}
    if n:
        view["lo"], view["hi"] = map(list, zip(*(accuracy_interval(a, int(n)) for a in curve["acc"])))
    if attacker is not None:
        model, attack, threat = curve["model"], curve["attack"], curve["threat"]
        source = model if threat == "whitebox" else "baseline"
        key, (eps, images) = attacker.adversarial(source, attack, threat == "whitebox", curve["eps"])
        target = attacker.model(model)
        view["images"] = key
        view["preds"] = [predict(target, x_adv).tolist() for x_adv in images]
    return view


def build(results: dict, root: str | Path = ".", n: int = N_IMAGES) -> dict | None:
    """The explorers' data for the page (None when no curve was recorded). Reads the models from the
    cache under ``root`` (``ADVLAB_ARTIFACTS`` when set); trains nothing."""
    # the explorers craft FGSM and PGD examples; other curves (chapter 5's APGD-CE) stay in the tables
    curves = [
        c for c in results.get("curves", []) if c.get("eps") and c.get("acc") and c.get("attack") in pipeline.ATTACKS
    ]
    if not curves:
        return None
    cfg = run_config(results)
    data = {"labels": [], "images": {}, "views": {}, "models": {}, "explorers": [], "missing": []}
    with contextlib.chdir(root):
        attacker = _Attacker(cfg) if cfg is not None else None
        if attacker is not None and attacker.model("baseline") is not None:
            attacker.x, attacker.y = shown_images(cfg, n)
            data["labels"] = attacker.y.tolist()
        else:
            attacker = None
        for c in curves:
            models_there = attacker is not None and all(attacker.model(m) is not None for m in (c["model"], "baseline"))
            if not models_there and c["model"] not in data["missing"]:
                data["missing"].append(c["model"])
            data["views"][f"{c['model']}|{c['attack']}|{c['threat']}"] = _view(c, attacker if models_there else None)
        if attacker is not None:
            data["images"] = {
                key: [[png_data_uri(img) for img in batch] for batch in images]
                for key, (_, images) in attacker.images.items()
            }
    data["explorers"] = [e for e in (_explorer(ch, data["views"]) for ch in CHAPTERS) if e]
    return data


def _explorer(chapter: dict, views: dict) -> dict | None:
    """A chapter's explorer restricted to the views recorded (None when it has none)."""
    have = [k.split("|") for k in views]
    models = [m for m in chapter["models"] if any(v[0] == m for v in have)]
    attacks = [a for a in chapter["attacks"] if any(v[1] == a and v[0] in models for v in have)]
    threats = [t for t in chapter["threats"] if any(v[2] == t and v[0] in models for v in have)]
    if not (models and attacks and threats):
        return None
    start = list(chapter["start"])
    if "|".join(start[:3]) not in views:
        first = next(v for v in have if v[0] in models and v[1] in attacks and v[2] in threats)
        start[:3] = first
    return {
        "id": chapter["id"],
        "title": chapter["title"],
        "models": models,
        "attacks": attacks,
        "threats": threats,
        "start": {"model": start[0], "attack": start[1], "threat": start[2], "eps": start[3]},
    }
