"""Published MNIST robustness figures at eps 0.3 (L-inf), with their sources and settings, to read beside this
run's on-the-fly models. Every number is copied from the linked page:

- AutoAttack's MNIST table (https://github.com/fra31/auto-attack, README, "MNIST - Linf"): clean accuracy,
  the robust accuracy the paper reported, and AutoAttack's, on the full test set;
- MadryLab's MNIST challenge white-box leaderboard (https://github.com/MadryLab/mnist_challenge, README) for
  Madry et al.'s released model, and its training settings (config.json there);
- the MNIST settings of Wong, Rice and Kolter's code (https://github.com/locuslab/fast_adversarial, MNIST/).
"""

from __future__ import annotations

from advlab.course.registry import label
from advlab.evaluation.stats import wilson_acc

AUTOATTACK = "https://github.com/fra31/auto-attack"
MADRY_CHALLENGE = "https://github.com/MadryLab/mnist_challenge"
FAST_ADVERSARIAL = "https://github.com/locuslab/fast_adversarial/tree/master/MNIST"

# One row per published model: accuracies in %, each with the attack that measured it.
PUBLISHED = [
    {
        "source": "[Madry et al. (2018)](https://arxiv.org/abs/1706.06083)",
        "training": "PGD-40 of step 0.01 on the fly; 100,000 steps of batch 50 (about 83 epochs); "
        f"two convolutional layers and a fully connected one ([config]({MADRY_CHALLENGE}))",
        "clean": (98.53, f"[AutoAttack's table]({AUTOATTACK})"),
        "attacked": [
            ("PGD-100, one start", 92.52, f"[leaderboard]({MADRY_CHALLENGE})"),
            ("PGD-100 x 50 restarts", 89.62, f"[leaderboard]({MADRY_CHALLENGE})"),
            ("AutoAttack", 88.50, f"[AutoAttack's table]({AUTOATTACK})"),
            ("best white-box attack", 88.00, f"[leaderboard]({MADRY_CHALLENGE})"),
        ],
    },
    {
        "source": "[Wong, Rice and Kolter (2020)](https://arxiv.org/abs/2001.03994)",
        "training": "FGSM from a random start, step 0.375 (1.25 eps), 10 epochs, cyclic learning rate; "
        f"two convolutional layers and two fully connected ones ([code]({FAST_ADVERSARIAL}))",
        "clean": (98.50, f"[AutoAttack's table]({AUTOATTACK})"),
        "attacked": [
            ("reported: PGD-50 of step 0.01 x 10 restarts", 88.77, f"[AutoAttack's table]({AUTOATTACK})"),
            ("AutoAttack", 82.93, f"[AutoAttack's table]({AUTOATTACK})"),
        ],
    },
    {
        "source": "[Gowal et al. (2020)](https://arxiv.org/abs/2010.03593)",
        "training": "the top of AutoAttack's MNIST table (their own architecture and training: see the paper)",
        "clean": (99.26, f"[AutoAttack's table]({AUTOATTACK})"),
        "attacked": [("AutoAttack", 96.34, f"[AutoAttack's table]({AUTOATTACK})")],
    },
]


def published_rows() -> list[dict]:
    """One row per (model, attack) of :data:`PUBLISHED`: ``{"who", "training", "clean", "attack", "acc", "from"}``."""
    return [
        {
            "who": p["source"],
            "training": p["training"],
            "clean": p["clean"][0],
            "attack": attack,
            "acc": acc,
            "from": where,
        }
        for p in PUBLISHED
        for attack, acc, where in p["attacked"]
    ]


def beside_ours(evaluated: dict, infos: dict, cfg) -> str:
    """A Markdown table, one row per model: the published MNIST figures at eps 0.3 (each attack with its number
    and source), then this run's on-the-fly models (``evaluated`` from ``robustness.evaluate_models``, ``infos``
    their ``pipeline.model_info``) with the worst case and its 95% Wilson interval."""
    head = "| model | training | clean | robust accuracy at eps 0.3 |\n|---|---|---:|---|"
    rows = []
    for p in PUBLISHED:
        attacked = "; ".join(f"{attack}: **{acc:.2f}%** ({where})" for attack, acc, where in p["attacked"])
        rows.append(f"| {p['source']} | {p['training']} | {p['clean'][0]:.2f}% ({p['clean'][1]}) | {attacked} |")
    for name, info in infos.items():
        e = evaluated[name]
        r = e["robust_eval"]
        lo, hi = wilson_acc(r["robust_acc"], r["n_images"])
        rows.append(
            f"| this run ({cfg.profile}): {label(name)} | {_training(info)}; the seed's CNN | "
            f"{100 * e['clean_acc']:.2f}% (10,000 images) | worst case of {r['evaluation']} on the first "
            f"{r['n_images']} test images: **{100 * r['robust_acc']:.1f}%** (95% Wilson interval "
            f"{100 * lo:.1f}-{100 * hi:.1f}%) |"
        )
    return head + "\n" + "\n".join(rows)


def _training(info: dict) -> str:
    """How an on-the-fly model of this run was trained, from its ``model_info``."""
    p, epochs = info["params"], len(info["history"]["epochs"])
    if p["method"] == "pgd":
        how = f"PGD-{p['steps']} of step {p['alpha']:g} on the fly"
    else:
        how = f"FGSM from a random start, step {p['alpha_factor']:g} eps"
    return f"{how}, {epochs} epochs"
