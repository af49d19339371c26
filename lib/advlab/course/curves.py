"""Accuracy against eps, per model, attack (FGSM, PGD) and threat model (white-box, or transfer from the
baseline), on the first test images of the seeded shuffle; cached under the models' keys."""

from __future__ import annotations

import torch

from advlab.core.attacks import fgsm_signs, fgsm_sweep_predictions, pgd
from advlab.core.errors import AdvlabError
from advlab.core.inference import predict
from advlab.course.pipeline import cached_json, get_model, pgd_settings, test_data
from advlab.course.profiles import Config
from advlab.course.registry import ATTACKS, THREATS, model_key


def curve(cfg: Config, model: str, attack: str, threat: str, epsilons=None) -> dict:
    """Accuracy of ``model`` under ``attack`` at each eps, with examples crafted on the model itself
    (``whitebox``) or on the baseline (``transfer``). Every test image counts."""
    if attack not in ATTACKS or threat not in THREATS:
        raise AdvlabError(f"attack must be one of {ATTACKS} and threat one of {THREATS}, got {attack!r}, {threat!r}")
    epsilons = list(cfg.sweep_epsilons if epsilons is None else epsilons)
    n = cfg.n_test if attack == "fgsm" else cfg.n_pgd_test
    source = model if threat == "whitebox" else "baseline"
    params = {
        "model": model_key(cfg, model),
        "source": model_key(cfg, source),
        "attack": attack,
        "eps": epsilons,
        "n": n,
        "seed": cfg.seed,
    }
    if attack == "pgd":
        params.update(
            steps=cfg.pgd_steps,
            alpha_factor=cfg.pgd_alpha_factor,
            restarts=cfg.pgd_restarts,
            early_stop=threat == "whitebox",
        )

    def build():
        target = get_model(cfg.replace(force=False), model)
        x, y = test_data(cfg, n)
        if attack == "fgsm" and source == model:
            correct = fgsm_sweep_predictions(target, x, y, epsilons) == y[None]
        else:
            examples = adversarial_examples(cfg, source, attack, epsilons, n, early_stop=threat == "whitebox")
            correct = torch.stack([predict(target, x_adv) == y for _, x_adv in examples])
        out = {
            "model": model,
            "attack": attack,
            "threat": threat,
            "eps": epsilons,
            "acc": correct.float().mean(1).tolist(),
            "n_images": len(x),
        }
        m = cfg.n_pgd_test
        if attack == "fgsm" and m and m < len(x):  # the PGD curves' images are the first m of these
            out["subset"] = {"n_images": m, "acc": correct[:, :m].float().mean(1).tolist()}
        return out

    value = cached_json(cfg, "curves", "curve", params, build)
    # The baseline's white-box and transfer curves share one cache entry (same examples): label it.
    return {**value, "threat": threat}


def adversarial_examples(cfg: Config, source: str, attack: str, epsilons, n: int | None, early_stop: bool = True):
    """Yield ``(eps, x_adv)`` for the first ``n`` test images, crafted on model ``source``.

    PGD with ``early_stop`` (white-box evaluation) stops at the first iterate that fools ``source``;
    examples meant to transfer to other models use ``early_stop=False`` (all steps), since an example
    that only just fools its source transfers poorly."""
    src = get_model(cfg.replace(force=False), source)
    x, y = test_data(cfg, n)
    if attack == "fgsm":
        sign = fgsm_signs(src, x, y)
        for eps in epsilons:
            yield eps, (x + eps * sign).clamp_(0, 1)
    else:
        for eps in epsilons:
            s = pgd_settings(cfg, eps)
            memo = (model_key(cfg, source), n, cfg.seed, early_stop, tuple(sorted(s.items())))
            if memo not in _PGD_MEMO:  # the baseline's examples serve every transfer curve
                _PGD_MEMO[memo] = pgd(
                    src,
                    x,
                    y,
                    s["eps"],
                    s["alpha"],
                    s["steps"],
                    s["random_start"],
                    s["restarts"],
                    seed=cfg.seed + 100 + round(1000 * eps),
                    early_stop=early_stop,
                )
            yield eps, _PGD_MEMO[memo]


_PGD_MEMO: dict = {}  # PGD test examples computed in this process, by (model, n, seed, settings)
