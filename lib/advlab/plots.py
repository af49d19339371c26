"""The course's figures. Each function returns a matplotlib Figure; ``save`` writes it to
``figures/<profile>/<name>.png`` (150 dpi, atomically)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns

from .io import atomic_path

LABELS = {"baseline": "Baseline", "fgsm_retrained": "FGSM retrained", "fgsm_untrained": "FGSM untrained",
          "pgd_retrained": "PGD retrained", "pgd_untrained": "PGD untrained",
          "fast_adv": "Fast adversarial (on the fly)", "madry_adv": "Madry PGD (on the fly)"}
COLORS = dict(zip(LABELS, sns.color_palette("colorblind", len(LABELS))))
THREAT_TITLES = {"whitebox": "white-box (crafted on the model itself)",
                 "transfer": "transfer (crafted on the baseline)"}

def setup() -> None:
    """One look for every figure."""
    sns.set_theme(context="notebook", style="whitegrid")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "figure.autolayout": False})

def save(fig, profile_or_dir, name: str) -> Path:
    """Save ``fig`` as ``figures/<profile>/<name>.png`` (or into a folder path), atomically."""
    folder = Path(profile_or_dir) if "/" in str(profile_or_dir) else Path("figures") / str(profile_or_dir)
    p = folder / f"{name}.png"
    with atomic_path(p) as tmp:
        fig.savefig(tmp, format="png", dpi=150, bbox_inches="tight")
    return p

def _curve_axes(ax, curve, linestyle="-", label=None):
    ax.plot(curve["eps"], [100 * a for a in curve["acc"]], marker="o", ms=4, linestyle=linestyle,
            color=COLORS.get(curve["model"]), label=label or LABELS.get(curve["model"], curve["model"]))

def accuracy_vs_eps(curves: list[dict], title: str, threats=("whitebox", "transfer")):
    """Accuracy (%) against eps, one panel per threat model, one line per model."""
    threats = [t for t in threats if any(c["threat"] == t for c in curves)]
    fig, axes = plt.subplots(1, len(threats), figsize=(6.2 * len(threats), 4.2), sharey=True, squeeze=False)
    for ax, threat in zip(axes[0], threats):
        for c in curves:
            if c["threat"] == threat:
                _curve_axes(ax, c, "-" if c["attack"] == "fgsm" else "--",
                            label=f"{LABELS.get(c['model'], c['model'])}"
                            + ("" if len({x['attack'] for x in curves}) == 1 else f" / {c['attack'].upper()}"))
        ax.set(xlabel="epsilon (L-inf, pixels in [0, 1])", title=THREAT_TITLES[threat], ylim=(-2, 102))
        ax.legend(fontsize=9)
    axes[0][0].set_ylabel("test accuracy (%)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig

def example_grid(images, preds, label: int, epsilons, title: str):
    """Rows: eps; columns: images. Each tile is titled with the model's prediction (red when wrong)."""
    images = np.asarray(images)
    preds = np.asarray(preds)
    n_eps, n_img = preds.shape
    fig, axes = plt.subplots(n_eps, n_img, figsize=(1.05 * n_img, 1.15 * n_eps + 0.6), squeeze=False)
    for i in range(n_eps):
        for j in range(n_img):
            ax = axes[i][j]
            ax.imshow(images[i, j].squeeze(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ok = preds[i, j] == label
            ax.set_title(str(preds[i, j]), fontsize=9, color="black" if ok else "crimson", pad=2)
            if j == 0:
                ax.set_ylabel(f"eps {epsilons[i]:g}", fontsize=9)
    fig.suptitle(title, y=1.0)
    fig.tight_layout(h_pad=0.3, w_pad=0.2)
    return fig

def loss_curves(losses: dict[str, list[float]], title: str):
    fig, ax = plt.subplots(figsize=(6.2, 4.0))
    for name, values in losses.items():
        ax.plot(range(1, len(values) + 1), values, marker="o", ms=4, color=COLORS.get(name),
                label=LABELS.get(name, name))
    ax.set(xlabel="epoch", ylabel="mean training loss (cross-entropy)", title=title, yscale="log")
    ax.legend()
    fig.tight_layout()
    return fig

def prediction_distribution(preds, epsilons, title: str):
    """Heatmap: for each eps (row), the share of adversarial images predicted as each class (%).
    A row dominated by one column is the seed's "collapse onto a single class"."""
    preds = np.asarray(preds)
    share = np.stack([np.bincount(p, minlength=10) / len(p) * 100 for p in preds])
    fig, ax = plt.subplots(figsize=(7.0, 0.45 * len(epsilons) + 1.2))
    sns.heatmap(share, annot=True, fmt=".0f", cmap="mako_r", vmin=0, vmax=100, cbar_kws={"label": "% of images"},
                xticklabels=range(10), yticklabels=[f"{e:g}" for e in epsilons], ax=ax)
    ax.set(xlabel="predicted class", ylabel="epsilon", title=title)
    fig.tight_layout()
    return fig
