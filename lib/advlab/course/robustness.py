"""The stronger evaluation of the course's models (chapter 5, and every chapter's final numbers): each
model's robust evaluation at ``otf_eps`` (the per-image worst case over FGSM, PGD with restarts, APGD-CE
and APGD-T) and its sanity checks, cached under the model's key like everything the pipeline builds."""

from __future__ import annotations

import torch

from advlab.core.inference import evaluate
from advlab.course import artifacts
from advlab.course.pipeline import cached_json, get_model, test_data
from advlab.course.profiles import Config
from advlab.course.registry import ON_THE_FLY, model_key
from advlab.evaluation.landscape import loss_along_directions
from advlab.evaluation.robust import attack_suite
from advlab.evaluation.robust import robust_eval as evaluate_robustly
from advlab.evaluation.sanity import check_model


def apgd_curve_models(models) -> list[str]:
    """The models of ``models`` whose white-box curves are APGD-CE ones (``curves.apgd_curve``): those trained on
    the fly with a multi-step attack, on which fixed-step PGD stalls. The single-step model keeps its fixed-step
    PGD curve: chapter 5's example of a curve that over-reports, which ``evaluation_converged`` flags."""
    return [m for m in models if ON_THE_FLY.get(m) == "pgd"]


def robust_settings(cfg: Config) -> dict:
    return attack_suite(
        cfg.otf_eps,
        cfg.robust_steps,
        restarts=cfg.robust_restarts,
        cw_restarts=cfg.robust_cw_restarts,
        apgd_steps=cfg.apgd_steps,
        apgd_restarts=cfg.apgd_restarts,
        apgd_targets=cfg.apgd_targets,
    )


def robust_eval(cfg: Config, name: str) -> dict:
    """Model ``name``'s accuracy at ``otf_eps`` under FGSM, PGD (cross-entropy, restarts), APGD-CE and
    APGD-T on the first ``robust_n`` test images, and the per-image worst case over them
    (``robust_acc``; :func:`advlab.evaluation.robust.robust_eval`). Cached."""
    params = _robust_params(cfg, name)

    def build():
        x, y = test_data(cfg, cfg.robust_n)
        return evaluate_robustly(
            get_model(cfg.replace(force=False), name),
            x,
            y,
            cfg.otf_eps,
            params["attacks"],
            seed=cfg.seed,
            progress=f"robust eval {name}",
        )

    return cached_json(cfg, "robust", "robust", params, build)


def _robust_params(cfg: Config, name: str) -> dict:
    return {
        "model": model_key(cfg, name),
        "eps": cfg.otf_eps,
        "n": cfg.robust_n,
        "attacks": robust_settings(cfg),
        "seed": cfg.seed,
    }


def cached_robust_eval(cfg: Config, name: str) -> dict | None:
    """``robust_eval(cfg, name)`` if it is already cached, else None (computes nothing)."""
    params = _robust_params(cfg, name)
    return artifacts.load_json(f"robust/{artifacts.key('robust', params)}", params)


def model_sanity(cfg: Config, name: str) -> dict:
    """``advlab.evaluation.sanity.check_model`` for model ``name`` on the first ``sanity_n`` test images at
    ``otf_eps``: ``{check: {"passed", "detail"}}``. Cached."""
    params = {
        "model": model_key(cfg, name),
        "eps": cfg.otf_eps,
        "n": cfg.sanity_n,
        "steps": cfg.sanity_steps,
        "undefended": name == "baseline",
        "seed": cfg.seed,
        "version": 2,
    }
    apgd_robust = curve_robust = None
    if cfg.sanity_n <= cfg.robust_n and cfg.apgd_steps and cfg.apgd_targets:
        # APGD-CE then APGD-T on the same images: the robust evaluation's first sanity_n images
        r = robust_eval(cfg, name)
        apgd_robust = torch.tensor(r["per_attack"]["apgd_t"]["per_image_robust"][: cfg.sanity_n])
        params["apgd"] = r["settings"]["apgd_t"]
        if apgd_curve_models([name]):  # its curves are APGD-CE's: the robust evaluation's at otf_eps
            curve_robust = r["per_attack"]["apgd_ce"]["per_image_robust"][: cfg.sanity_n]
            params["curve"] = r["settings"]["apgd_ce"]

    def build():
        x, y = test_data(cfg, cfg.sanity_n)
        return check_model(
            get_model(cfg.replace(force=False), name),
            x,
            y,
            cfg.otf_eps,
            steps=cfg.sanity_steps,
            undefended=name == "baseline",
            seed=cfg.seed,
            apgd_robust=apgd_robust,
            curve_robust=curve_robust,
        )

    return cached_json(cfg, "sanity", "sanity", params, build)


def evaluate_models(cfg: Config, names) -> dict:
    """``{name: {"clean_acc", "n_images", "seeds", "robust_eval", "sanity"}}`` for each model: what a
    notebook records as its final numbers (``clean_acc`` on all 10,000 test images, one training seed);
    the baseline also gets ``seed_spread`` when ``cfg.baseline_seeds`` is set."""
    x, y = test_data(cfg)
    out = {}
    for name in names:
        out[name] = {
            "clean_acc": evaluate(get_model(cfg.replace(force=False), name), x, y),
            "n_images": len(x),
            "seeds": [cfg.seed],
            "robust_eval": robust_eval(cfg, name),
            "sanity": model_sanity(cfg, name),
        }
        if name == "baseline" and cfg.baseline_seeds:
            out[name]["seed_spread"] = baseline_seed_spread(cfg)
    return out


def baseline_seed_spread(cfg: Config) -> dict:
    """The baseline trained with each seed of ``cfg.baseline_seeds`` (each cached like the seed-``cfg.seed``
    one, which is reused): ``{"seeds", "clean_acc" (one per seed, all 10,000 test images), "n_images"}``."""
    x, y = test_data(cfg)
    accs = [evaluate(get_model(cfg.replace(seed=int(s), force=False), "baseline"), x, y) for s in cfg.baseline_seeds]
    return {"seeds": [int(s) for s in cfg.baseline_seeds], "clean_acc": accs, "n_images": len(x)}


def loss_landscape(cfg: Config, name: str, points: int = 7, n_random: int = 2) -> dict:
    """:func:`advlab.evaluation.landscape.loss_along_directions` for model ``name`` on the first ``sanity_n``
    test images, from 0 to ``otf_eps``: the loss along the gradient's sign and along random signs. Cached."""
    params = {
        "model": model_key(cfg, name),
        "eps": cfg.otf_eps,
        "n": cfg.sanity_n,
        "points": points,
        "random": n_random,
        "seed": cfg.seed,
    }

    def build():
        x, y = test_data(cfg, cfg.sanity_n)
        net = get_model(cfg.replace(force=False), name)
        return loss_along_directions(net, x, y, cfg.otf_eps, points, n_random, seed=cfg.seed)

    return cached_json(cfg, "robust", "landscape", params, build)
