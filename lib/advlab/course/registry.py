"""The course's models and figures by name, and the cache key of each model: what a profile trains
and which parameters make a model what it is (its key changes with any of them)."""

from __future__ import annotations

from advlab.core.errors import AdvlabError
from advlab.core.models import ARCH
from advlab.course import artifacts
from advlab.course.pretrained import entry
from advlab.course.profiles import Config

MODELS = ["baseline", "fgsm_retrained", "fgsm_untrained", "pgd_retrained", "pgd_untrained"]
# notebook 05's models and their methods: fast FGSM training (the lesson in over-reporting), PGD
# training with a few large steps (the most robust one a CPU trains in minutes), Madry's PGD-40
ON_THE_FLY = {"fast_adv": "fgsm_rs", "fast_pgd_adv": "pgd", "madry_adv": "pgd"}
# How a person reads each model's name (figures, tables, the report).
LABELS = {
    "baseline": "Baseline",
    "fgsm_retrained": "FGSM retrained",
    "fgsm_untrained": "FGSM untrained",
    "pgd_retrained": "PGD retrained",
    "pgd_untrained": "PGD untrained",
    "fast_adv": "Fast adversarial (on the fly)",
    "fast_pgd_adv": "Few-step PGD (on the fly)",
    "madry_adv": "Madry PGD (on the fly)",
}


def label(model: str) -> str:
    """A model's name as a person reads it (``fgsm_retrained`` -> ``FGSM retrained``)."""
    return LABELS.get(model, model)


ATTACKS = ["fgsm", "pgd"]
THREATS = ["whitebox", "transfer"]

# Every figure the course makes (figures/<profile>/<name>.png): the seed's figures, plus the
# prediction heatmap that tests its "collapse onto a single class" claim.
FIGURES = {
    "01_baseline_loss": "Training loss of the baseline CNN per epoch",
    "02_fgsm_baseline_accuracy": "Accuracy vs epsilon, FGSM on the baseline (seed: adv-1)",
    "02_fgsm_baseline_grid": "Ten test images of class 5 under FGSM, baseline predictions (seed: adv-2)",
    "02_fgsm_baseline_predictions": "Where adversarial predictions land: share of each predicted class per epsilon",
    "03_training_loss": "Training loss per epoch, FGSM retrained vs untrained (seed: adv-3)",
    "03_fgsm_accuracy_three_models": "FGSM accuracy vs epsilon: baseline, retrained, untrained (seed: adv-4)",
    "04_pgd_attack_accuracy": "PGD attack on the baseline, FGSM-trained and PGD-trained models (seed: adv-6)",
    "04_fgsm_attack_accuracy": "FGSM attack on the baseline, FGSM-trained and PGD-trained models (seed: adv-5)",
    "04_grid_baseline": "FGSM examples and predictions, baseline (seed: adv-7a)",
    "04_grid_fgsm_retrained": "FGSM examples and predictions, FGSM-retrained model (seed: adv-4 grid)",
    "04_grid_pgd_retrained": "FGSM examples and predictions, PGD-retrained model (seed: adv-7b)",
    "04_train_attack_heatmap": "Trained on one attack, tested with another: mean accuracy over eps 0.1-0.3, "
    "white-box and transfer (beyond the seed)",
    "05_pgd_static_vs_on_the_fly": "PGD: static adversarial training against training on the fly (beyond the seed)",
    "05_guard_curves": "Held-out accuracy per epoch of the on-the-fly models (the training guard's record)",
    "05_apgd_beside_pgd": "White-box curves of the on-the-fly models: fixed-step PGD beside APGD-CE and the worst case",
    "05_loss_along_directions": "Loss along the gradient's sign against random sign directions, per model",
    "05_cost_vs_robustness": "Training time against white-box robustness, worst case over attacks",
    "05_frontier": "On-the-fly training methods: training cost against robust accuracy under APGD-CE + APGD-T",
    "05_capacity": "Clean and robust accuracy of the on-the-fly model at widths x1, x2, x4 (paper profile)",
}
NOTEBOOKS = [
    "01_baseline",
    "02_fgsm_attack",
    "03_adversarial_training",
    "04_generalization",
    "05_on_the_fly_adversarial_training",
]


def baseline_params(cfg: Config) -> dict:
    return {
        "n_train": cfg.n_train,
        "epochs": cfg.epochs,
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "seed": cfg.seed,
        "arch": ARCH,
    }


def set_params(cfg: Config, attack: str) -> dict:
    params = {
        "baseline": model_key(cfg, "baseline"),
        "attack": attack,
        "adv_n_train": cfg.adv_n_train,
        "adv_epsilons": cfg.adv_epsilons,
        "seed": cfg.seed,
    }
    if attack == "pgd":
        params.update(pgd_steps=cfg.pgd_train_steps, pgd_alpha_factor=cfg.pgd_alpha_factor)
    return params


def model_params(cfg: Config, name: str) -> dict:
    if name == "baseline":
        return baseline_params(cfg)
    if on_the_fly_spec(name):
        return on_the_fly_params(cfg, name)
    attack, init = static_spec(name)
    return {
        "set": artifacts.key(f"{attack}set", set_params(cfg, attack)),
        "init": init,
        "epochs": cfg.adv_epochs,
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "seed": cfg.seed,
    }


def on_the_fly_spec(name: str):
    """``(kind, width)`` of an on-the-fly model name (``fast_adv``, ``fast_pgd_adv``, ``madry_adv``, or one
    of them with a width suffix such as ``madry_adv_w2``), else None."""
    base, _, w = name.partition("_adv")
    kind = base + "_adv"
    if kind not in ON_THE_FLY or (w and not (w.startswith("_w") and w[2:].isdigit() and int(w[2:]) >= 1)):
        return None
    return kind, int(w[2:]) if w else 1


def on_the_fly_name(kind: str, width: int = 1) -> str:
    return kind if width == 1 else f"{kind}_w{width}"


def on_the_fly_models(cfg: Config) -> list[str]:
    """The on-the-fly models this profile trains: ``fast_adv``, ``fast_pgd_adv`` when fast_pgd_epochs > 0,
    and ``madry_adv`` when madry_epochs > 0."""
    return (
        ["fast_adv"]
        + (["fast_pgd_adv"] if cfg.fast_pgd_epochs > 0 else [])
        + (["madry_adv"] if cfg.madry_epochs > 0 else [])
    )


def on_the_fly_params(cfg: Config, name: str) -> dict:
    kind, width = on_the_fly_spec(name)
    params = {
        "method": ON_THE_FLY[kind],
        "eps": cfg.otf_eps,
        "width": width,
        "n_train": cfg.n_train,
        "guard": [cfg.guard_n, cfg.guard_steps, cfg.guard_drop]
        + ([cfg.guard_apgd_steps] if cfg.guard_apgd_steps else []),
        "batch_size": cfg.batch_size,
        "lr": cfg.lr,
        "seed": cfg.seed,
        "arch": ARCH,
    }
    if kind == "fast_adv":
        params.update(epochs=cfg.fast_epochs, alpha_factor=cfg.fast_alpha_factor, ramp=cfg.fast_ramp_epochs)
    elif kind == "fast_pgd_adv":
        params.update(
            epochs=cfg.fast_pgd_epochs,
            steps=cfg.fast_pgd_steps,
            alpha=cfg.fast_pgd_alpha,
            ramp=cfg.fast_pgd_ramp_epochs,
        )
    else:
        params.update(epochs=cfg.madry_epochs, steps=cfg.madry_steps, alpha=cfg.madry_alpha, ramp=cfg.madry_ramp_epochs)
    return params


def static_spec(name: str):
    if name not in MODELS or name == "baseline":
        raise AdvlabError(f"unknown model {name!r}: choose one of {', '.join(MODELS + list(ON_THE_FLY))}")
    attack, init = name.split("_")
    return attack, init


def model_key(cfg: Config, name: str) -> str:
    """The cache key of model ``name``. With ``cfg.pretrained``, the shipped weights' key: what is computed
    from them (sets, curves, evaluations) is cached apart from what a local training gives."""
    key = trained_key(cfg, name)
    if cfg.pretrained:
        key = artifacts.key(name, {"trained": key, "sha256": entry(cfg.profile, name, key)["sha256"]})
    return key


def trained_key(cfg: Config, name: str) -> str:
    """The key of model ``name`` as trained by this pipeline (also the key shipped weights carry)."""
    return artifacts.key(name, model_params(cfg.replace(pretrained=False) if cfg.pretrained else cfg, name))
