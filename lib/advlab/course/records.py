"""What a notebook records for the report: its numbers, as ``report/<profile>/parts/<notebook>.json``,
and the attack settings they were measured with.

``run_all.py --seeds`` runs each training seed's notebooks with ``ADVLAB_REPORT_DIR`` and
``ADVLAB_FIGURES_DIR`` set (``report/<profile>/seeds/<k>`` and ``figures/<profile>/seeds/<k>``): the
numbers and figures of that seed go there instead."""

from __future__ import annotations

import os
from pathlib import Path

from advlab.core.io import write_json
from advlab.course.pipeline import resolve_device
from advlab.course.profiles import Config


def attack_settings(cfg: Config) -> dict:
    return {
        "norm": "Linf",
        "pixel_range": [0, 1],
        "loss": "cross-entropy on logits",
        "model_mode": "eval",
        "fgsm": {
            "eps": cfg.sweep_epsilons,
            "n_images": cfg.n_test or 10000,
            "gradient": "one per image, reused for every eps",
        },
        "pgd": {
            "eps": cfg.sweep_epsilons,
            "n_images": cfg.n_pgd_test,
            "steps": cfg.pgd_steps,
            "alpha": f"{cfg.pgd_alpha_factor} * eps / steps",
            "random_start": True,
            "restarts": cfg.pgd_restarts,
            "whitebox": "early stop: per sample, the first iterate that fools the model, else the highest-loss one",
            "transfer": "standard PGD on the baseline (all steps, final iterate), then shown to the model",
        },
        "combined_sets": {
            "benign": cfg.adv_n_train or 60000,
            "eps": cfg.adv_epsilons,
            "pgd_steps": cfg.pgd_train_steps,
            "size": (cfg.adv_n_train or 60000) * (1 + len(cfg.adv_epsilons)),
            "crafted_on": "baseline (static adversarial training)",
        },
        "transfer": "examples crafted on the baseline with the same attack and eps",
    }


# --- results and figures ----------------------------------------------------------------------


REPORT_DIR_ENV = "ADVLAB_REPORT_DIR"
FIGURES_DIR_ENV = "ADVLAB_FIGURES_DIR"
SEEDS_ENV = "ADVLAB_SEEDS"  # the training seeds of a run over several (run_all.py --seeds), in its order: "0,1,2"


def report_dir(cfg: Config) -> Path:
    """``report/<profile>``, or ``$ADVLAB_REPORT_DIR`` when set (one seed of ``run_all.py --seeds``)."""
    return Path(os.environ.get(REPORT_DIR_ENV) or Path("report") / cfg.profile)


def figures_dir(cfg: Config) -> Path:
    """``figures/<profile>``, or ``$ADVLAB_FIGURES_DIR`` when set (one seed of ``run_all.py --seeds``)."""
    return Path(os.environ.get(FIGURES_DIR_ENV) or Path("figures") / cfg.profile)


def run_seeds() -> list[int] | None:
    """The training seeds of this run, first the seed the report shows (``$ADVLAB_SEEDS``); None for a run of one."""
    text = os.environ.get(SEEDS_ENV)
    return [int(s) for s in text.split(",")] if text else None


def record(cfg: Config, notebook: str, results: dict) -> Path:
    """Save a notebook's numbers as ``<report_dir>/parts/<notebook>.json`` (the report merges them)."""
    p = report_dir(cfg) / "parts" / f"{notebook}.json"
    write_json(p, {"notebook": notebook, "config": cfg.as_dict(), "device": str(resolve_device(cfg.device)), **results})
    return p
