"""Accuracy against eps, per model, attack (FGSM, PGD) and threat model (white-box, or transfer from the
baseline), on the first test images of the seeded shuffle; cached under the models' keys. White-box APGD-CE
curves (:func:`apgd_curve`) serve the models on which fixed-step PGD does not converge."""

from __future__ import annotations

import torch

from advlab.core.attacks import apgd, fgsm_signs, fgsm_sweep_predictions, pgd
from advlab.core.errors import AdvlabError
from advlab.core.inference import correct_under, predict
from advlab.course.pipeline import cached_json, get_model, pgd_settings, test_data
from advlab.course.profiles import Config
from advlab.course.registry import ATTACKS, THREATS, model_key
from advlab.course.robustness import robust_eval


def curve(cfg: Config, model: str, attack: str, threat: str, epsilons=None) -> dict:
    """Accuracy of ``model`` under ``attack`` at each eps, with examples crafted on the model itself
    (``whitebox``) or on the baseline (``transfer``). Every test image counts."""
    if (attack not in ATTACKS and attack != "apgd") or threat not in THREATS:
        raise AdvlabError(
            f"attack must be one of {ATTACKS} (or 'apgd', white-box only) and threat one of {THREATS}, "
            f"got {attack!r}, {threat!r}"
        )
    epsilons = list(cfg.sweep_epsilons if epsilons is None else epsilons)
    if attack == "apgd" and threat == "whitebox":
        return apgd_curve(cfg, model, epsilons)
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


def apgd_curve(cfg: Config, model: str, epsilons=None) -> dict:
    """White-box accuracy of ``model`` under APGD-CE (``apgd_steps`` steps, ``apgd_restarts`` restarts) at each
    eps, on the PGD curves' ``n_pgd_test`` images. At ``otf_eps`` it reads the robust evaluation's APGD-CE
    (same images, same settings) when ``n_pgd_test <= robust_n``. Cached."""
    epsilons = list(cfg.sweep_epsilons if epsilons is None else epsilons)
    n = cfg.n_pgd_test
    reuse = n <= cfg.robust_n and any(abs(e - cfg.otf_eps) < 1e-9 for e in epsilons)
    params = {
        "model": model_key(cfg, model),
        "attack": "apgd",
        "eps": epsilons,
        "n": n,
        "seed": cfg.seed,
        "steps": cfg.apgd_steps,
        "restarts": cfg.apgd_restarts,
        "reuses_robust_eval": reuse,
    }

    def build():
        net = get_model(cfg.replace(force=False), model)
        x, y = test_data(cfg, n)
        accs = []
        for eps in epsilons:
            if reuse and abs(eps - cfg.otf_eps) < 1e-9:  # the robust evaluation's first n images
                mask = robust_eval(cfg, model)["per_attack"]["apgd_ce"]["per_image_robust"][:n]
                accs.append(sum(bool(v) for v in mask) / n)
            else:
                seed = cfg.seed + 200 + round(1000 * eps)
                x_adv = apgd(net, x, y, eps, cfg.apgd_steps, "ce", restarts=cfg.apgd_restarts, seed=seed) if eps else x
                accs.append(int(correct_under(net, y, x_adv).sum()) / n)
        settings = f"APGD-CE, {cfg.apgd_steps} steps" + (f" x {cfg.apgd_restarts}" if cfg.apgd_restarts > 1 else "")
        curve = {"model": model, "attack": "apgd", "threat": "whitebox", "eps": epsilons, "acc": accs}
        return {**curve, "n_images": n, "settings": settings}

    return cached_json(cfg, "curves", "curve", params, build)


_PGD_MEMO: dict = {}  # PGD test examples computed in this process, by (model, n, seed, settings)
