"""Chapter 5's own figures: the guard curves of on-the-fly training, the loss along the gradient against random
directions, and APGD-CE curves beside fixed-step PGD ones. Each returns a matplotlib Figure."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from advlab.course.plots import COLORS
from advlab.course.registry import label
from advlab.evaluation.stats import wilson_acc


def guard_curves(histories: dict, guard_n: int, title: str):
    """Held-out (guard) accuracy per epoch, one line per model, with 95% Wilson intervals on ``guard_n`` images:
    ``histories`` maps a model to its training history (``pipeline.model_info(...)["history"]``)."""
    fig, ax = plt.subplots(figsize=(6.6, 4.0))
    for name, h in histories.items():
        rows = [r for r in h["epochs"] if r.get("guard_acc") is not None]
        acc = [100 * r["guard_acc"] for r in rows]
        bounds = [wilson_acc(r["guard_acc"], guard_n) for r in rows]
        err = [[a - 100 * lo for a, (lo, _) in zip(acc, bounds)], [100 * hi - a for a, (_, hi) in zip(acc, bounds)]]
        ax.errorbar(
            [r["epoch"] for r in rows], acc, yerr=err, marker="o", capsize=3, color=COLORS.get(name), label=label(name)
        )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="epoch", ylabel="held-out accuracy (%)", ylim=(0, 100), title=title)
    ax.legend(fontsize=9, loc="lower right")
    fig.tight_layout()
    return fig


def loss_along_directions(records: dict, title: str):
    """Mean cross-entropy against the distance from the image, along the gradient's sign and along random signs:
    one panel per model (``records``: model -> ``robustness.loss_landscape``), each with its own scale."""
    fig, axes = plt.subplots(1, len(records), figsize=(4.4 * len(records), 3.6), squeeze=False)
    for ax, (name, r) in zip(axes[0], records.items()):
        ax.plot(r["t"], r["gradient"], marker="o", ms=4, color=COLORS.get(name), label="along the gradient's sign")
        ax.plot(r["t"], r["random"], marker="s", ms=3, linestyle="--", color="0.45", label="along random signs (mean)")
        ax.set(title=label(name), xlabel="distance from the image (L-inf)")
    axes[0][0].set_ylabel("mean cross-entropy")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def apgd_beside_pgd(pgd_curves: list[dict], apgd_curves: list[dict], worst: dict, title: str):
    """White-box accuracy against eps: each model's fixed-step PGD curve (dashed) and APGD-CE curve (solid), and
    its worst case over the robust evaluation's attacks (``worst``: model -> (eps, acc, n_images)) as a star."""
    fig, ax = plt.subplots(figsize=(7.4, 4.4))
    for c in pgd_curves:
        ax.plot(
            c["eps"],
            [100 * a for a in c["acc"]],
            linestyle="--",
            marker="o",
            ms=3,
            color=COLORS.get(c["model"]),
            label=f"{label(c['model'])}: PGD ({c['n_images']} images)",
        )
    for c in apgd_curves:
        ax.plot(
            c["eps"],
            [100 * a for a in c["acc"]],
            linestyle="-",
            marker="o",
            ms=4,
            color=COLORS.get(c["model"]),
            label=f"{label(c['model'])}: {c.get('settings', 'APGD-CE')}",
        )
    for i, (name, (eps, acc, n)) in enumerate(worst.items()):
        lo, hi = wilson_acc(acc, n)
        ax.errorbar(
            [eps + 0.012 * i],  # side by side where two stars would cover each other
            [100 * acc],
            yerr=[[100 * (acc - lo)], [100 * (hi - acc)]],
            marker="*",
            ms=12,
            capsize=3,
            linestyle="none",
            color=COLORS.get(name),
            label=f"{label(name)}: worst case ({n} images)",
        )
    ax.set(
        xlabel="epsilon (L-inf, pixels in [0, 1])", ylabel="white-box test accuracy (%)", ylim=(-2, 102), title=title
    )
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    return fig
