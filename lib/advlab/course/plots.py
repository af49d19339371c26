"""The course's figures. Each function returns a matplotlib Figure; ``save`` writes it to
``figures/<profile>/<name>.png`` (150 dpi, atomically), and ``save_figure`` also returns the entry
a notebook records for the report. ``grid_examples``, ``all_correct_up_to`` and ``curve_table``
prepare what the figures and tables show."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
import torch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from advlab.core.attacks import fgsm_signs
from advlab.core.inference import predict
from advlab.core.io import atomic_path
from advlab.course.records import figures_dir
from advlab.course.registry import FIGURES, LABELS
from advlab.course.summaries import mean_accuracy

COLORS = dict(zip(LABELS, sns.color_palette("colorblind", len(LABELS))))
THREAT_TITLES = {
    "whitebox": "white-box (crafted on the model itself)",
    "transfer": "transfer (crafted on the baseline)",
}


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


def save_figure(fig, cfg, name: str) -> dict:
    """Save ``fig`` as ``figures/<cfg.profile>/<name>.png`` (``records.figures_dir``: a seed's folder under
    ``run_all.py --seeds``); return its record entry (name, path, caption). ``name`` must be one of
    ``pipeline.FIGURES``."""
    if name not in FIGURES:
        raise KeyError(f"{name!r} is not a course figure; known: {', '.join(FIGURES)}")
    p = save(fig, figures_dir(cfg).as_posix() + "/", name)
    return {"name": name, "path": p.as_posix(), "caption": FIGURES[name]}


def _curve_axes(ax, curve, linestyle="-", label=None):
    ax.plot(
        curve["eps"],
        [100 * a for a in curve["acc"]],
        marker="o",
        ms=4,
        linestyle=linestyle,
        color=COLORS.get(curve["model"]),
        label=label or LABELS.get(curve["model"], curve["model"]),
    )


def accuracy_vs_eps(curves: list[dict], title: str, threats=("whitebox", "transfer"), extra=(), references=None):
    """Accuracy (%) against eps, one panel per threat model, one line per model (dashed for PGD).

    ``extra``: ``(label, eps, acc)`` lines drawn dotted in every panel (e.g. random noise);
    ``references``: ``{label: (eps, acc)}`` points drawn as grey crosses (e.g. the seed's numbers).
    """
    threats = [t for t in threats if any(c["threat"] == t for c in curves)]
    fig, axes = plt.subplots(1, len(threats), figsize=(6.2 * len(threats), 4.2), sharey=True, squeeze=False)
    several_attacks = len({c["attack"] for c in curves}) > 1
    for ax, threat in zip(axes[0], threats):
        for c in curves:
            if c["threat"] == threat:
                _curve_axes(
                    ax,
                    c,
                    "-" if c["attack"] == "fgsm" else "--",
                    label=LABELS.get(c["model"], c["model"]) + (f" / {c['attack'].upper()}" if several_attacks else ""),
                )
        for label, eps, acc in extra:
            ax.plot(eps, [100 * a for a in acc], linestyle=":", marker=".", color="0.35", label=label)
        for label, (eps, acc) in (references or {}).items():
            ax.plot(eps, [100 * a for a in acc], linestyle="none", marker="x", ms=8, mew=2, color="0.45", label=label)
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
        ax.plot(
            range(1, len(values) + 1), values, marker="o", ms=4, color=COLORS.get(name), label=LABELS.get(name, name)
        )
    ax.set(xlabel="epoch", ylabel="training loss (log scale)", title=title, yscale="log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    plain = FuncFormatter(lambda v, _: f"{v:g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain)
    ax.tick_params(axis="y", which="minor", labelsize=8)
    ax.legend()
    fig.tight_layout()
    return fig


def prediction_distribution(preds, epsilons, title: str):
    """Heatmap: for each eps (row), the share of adversarial images predicted as each class (%).
    A row dominated by one column is the seed's "collapse onto a single class"."""
    preds = np.asarray(preds)
    share = np.stack([np.bincount(p, minlength=10) / len(p) * 100 for p in preds])
    fig, ax = plt.subplots(figsize=(7.0, 0.45 * len(epsilons) + 1.2))
    sns.heatmap(
        share,
        annot=True,
        fmt=".0f",
        cmap="mako_r",
        vmin=0,
        vmax=100,
        cbar_kws={"label": "% of images"},
        xticklabels=range(10),
        yticklabels=[f"{e:g}" for e in epsilons],
        ax=ax,
    )
    ax.set(xlabel="predicted class", ylabel="epsilon", title=title)
    fig.tight_layout()
    return fig


def digits(images, labels, title: str = "", ncols: int = 10):
    """A row (or rows) of images, each titled with its label."""
    images = np.asarray(images)
    n = len(images)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.05 * ncols, 1.2 * nrows + 0.4), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k < n:
            ax.imshow(images[k].squeeze(), cmap="gray", vmin=0, vmax=1)
            ax.set_title(str(labels[k]), fontsize=9, pad=2)
    if title:
        fig.suptitle(title)
    fig.tight_layout(h_pad=0.3, w_pad=0.2)
    return fig


def grid_examples(model, images, label: int, epsilons):
    """FGSM white-box examples of ``images`` (all of class ``label``) at each eps, and the model's
    predictions: arrays ``[n_eps, n, 1, 28, 28]`` and ``[n_eps, n]``, ready for ``example_grid``."""
    y = torch.full((len(images),), int(label), dtype=torch.long)
    sign = fgsm_signs(model, images, y)
    adv = torch.stack([(images + eps * sign).clamp(0, 1) for eps in epsilons])
    preds = torch.stack([predict(model, a) for a in adv])
    return adv.numpy(), preds.numpy()


def all_correct_up_to(preds, label: int, epsilons):
    """The largest eps such that every image is classified correctly at every eps up to it
    (None when some image is already wrong at the first eps)."""
    best = None
    for eps, row in zip(epsilons, np.asarray(preds)):
        if not (row == label).all():
            break
        best = float(eps)
    return best


def curve_table(curves: list[dict], epsilons=(0.0, 0.1, 0.2, 0.3)):
    """Accuracy (%) of each curve at the given eps: rows model, columns (attack, threat, eps)."""
    import pandas as pd

    rows = {}
    for c in curves:
        at = dict(zip([round(e, 6) for e in c["eps"]], c["acc"]))
        for eps in epsilons:
            if round(eps, 6) in at:
                rows.setdefault(LABELS.get(c["model"], c["model"]), {})[
                    (c["attack"].upper(), c["threat"], f"{eps:g}")
                ] = round(100 * at[round(eps, 6)], 1)
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["attack", "threat", "eps"])
    return table


def cost_vs_robustness(rows: list[dict], title: str):
    """Training cost beside white-box robustness, one bar per model: ``rows`` of ``{"model",
    "train_seconds", "robust_acc", "clean_acc"}`` (accuracies as fractions)."""
    labels = [LABELS.get(r["model"], r["model"]) for r in rows]
    colors = [COLORS.get(r["model"], "0.5") for r in rows]
    y = np.arange(len(rows))[::-1]
    fig, (ax_t, ax_a) = plt.subplots(1, 2, figsize=(11, 0.55 * len(rows) + 1.8), sharey=True)
    ax_t.barh(y, [r["train_seconds"] for r in rows], color=colors)
    for yi, r in zip(y, rows):
        ax_t.annotate(
            f"{r['train_seconds']:.0f} s",
            (r["train_seconds"], yi),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax_t.set(
        yticks=y,
        yticklabels=labels,
        xlabel="training time (s; static models: training only)",
        title="cost",
        xlim=(0, 1.18 * max(r["train_seconds"] for r in rows)),
    )
    ax_a.barh(y, [100 * r["robust_acc"] for r in rows], color=colors)
    ax_a.scatter([100 * r["clean_acc"] for r in rows], y, marker="|", s=300, color="0.2", zorder=3)
    for yi, r in zip(y, rows):
        ax_a.annotate(
            f"{100 * r['robust_acc']:.1f}%",
            (100 * r["robust_acc"], yi),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
        )
    ax_a.set(
        xlim=(0, 102),
        xlabel="test accuracy (%)",
        title="white-box robustness\n(bar: worst case over attacks; |: clean)",
    )
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def frontier(rows: list[dict], title: str, seconds_per_pass: float | None = None):
    """Training cost against robust accuracy, one point per training run: ``rows`` of ``{"label",
    "passes", "robust_acc", "interval", "clean_acc", "group"}`` (accuracies as fractions; ``interval``
    a 95% interval drawn as an error bar; ``passes``: forward-backward passes over the training set).
    Each ``group`` gets its own marker. With ``seconds_per_pass``, a top axis converts the cost to seconds."""
    markers = ["o", "s", "D", "^", "v", "P"]
    fig, ax = plt.subplots(figsize=(8.5, 5.2))
    groups = list(dict.fromkeys(r["group"] for r in rows))
    for i, group in enumerate(groups):
        mine = [r for r in rows if r["group"] == group]
        x = [r["passes"] for r in mine]
        y = [100 * r["robust_acc"] for r in mine]
        err = np.array(
            [[100 * (r["robust_acc"] - r["interval"][0]), 100 * (r["interval"][1] - r["robust_acc"])] for r in mine]
        ).T
        ax.errorbar(
            x,
            y,
            yerr=err,
            fmt=markers[i % len(markers)],
            ms=7,
            capsize=3,
            label=group,
            color=sns.color_palette("colorblind")[i],
        )
    _label_column(ax, rows)
    ax.set(
        xlabel="training cost: forward-backward passes over the training set (epochs x (attack steps + 1))",
        ylabel="robust accuracy (%)",
        title=title,
        ylim=(0, 100),
    )
    ax.set_xlim(0, 1.05 * max(r["passes"] for r in rows))
    if seconds_per_pass:
        top = ax.secondary_xaxis("top", functions=(lambda p: p * seconds_per_pass, lambda s: s / seconds_per_pass))
        top.set_xlabel("estimated training time on this run's device (s)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig


def _label_column(ax, rows: list[dict], gap: float = 5.5) -> None:
    """Each point's label in a column right of the axes, in the points' vertical order, at least ``gap`` points
    of accuracy apart (so no two labels overlap), with a thin line to its point."""
    order = sorted(rows, key=lambda r: r["robust_acc"])
    slots = []
    for r in order:  # upwards from each point's height, never closer than gap to the label below
        slots.append(max(100 * r["robust_acc"], slots[-1] + gap if slots else -1e9))
    top = 100 + gap / 2
    for i in range(len(slots) - 1, -1, -1):  # then down from the top where the column overflows
        top = slots[i] = min(slots[i], top - gap if i < len(slots) - 1 else top)
    for r, y in zip(order, slots):
        ax.annotate(
            f"{r['label']} (clean {100 * r['clean_acc']:.1f}%)",
            (r["passes"], 100 * r["robust_acc"]),
            xytext=(1.02, y),
            textcoords=("axes fraction", "data"),
            va="center",
            fontsize=7,
            arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5},
        )


def capacity(rows: list[dict], title: str):
    """Clean and robust accuracy against model width: ``rows`` of ``{"width", "params", "clean_acc",
    "robust_acc"}``."""
    rows = sorted(rows, key=lambda r: r["width"])
    fig, ax = plt.subplots(figsize=(6.2, 4.2))
    w = [r["width"] for r in rows]
    ax.plot(w, [100 * r["clean_acc"] for r in rows], marker="o", label="clean")
    ax.plot(w, [100 * r["robust_acc"] for r in rows], marker="s", linestyle="--", label="robust (worst case)")
    ax.set_xticks(w, [f"x{r['width']}\n{r['params'] / 1000:.0f}k params" for r in rows])
    ax.set(xlabel="width (channels and hidden units)", ylabel="test accuracy (%)", title=title, ylim=(-3, 103))
    ax.legend()
    fig.tight_layout()
    return fig


def robust_table(evaluated: dict):
    """Clean accuracy, accuracy under each attack and the worst case (%), one row per model, from
    ``robustness.evaluate_models``."""
    import pandas as pd

    rows = {}
    for name, e in evaluated.items():
        r = e["robust_eval"]
        row = {
            "clean (10k)": round(100 * e["clean_acc"], 2),
            f"clean ({r['n_images']})": round(100 * r["clean_acc"], 1),
        }
        row.update({f"{a} eps {r['eps']:g}": round(100 * v, 1) for a, v in r["attacks"].items()})
        row["robust (worst case)"] = round(100 * r["robust_acc"], 1)
        rows[LABELS.get(name, name)] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def sanity_table(evaluated: dict):
    """Pass/fail of each model's sanity checks (``robustness.evaluate_models``); details in ``detail``."""
    import pandas as pd

    rows = {
        LABELS.get(name, name): {check: "pass" if r["passed"] else "FAIL" for check, r in e["sanity"].items()}
        for name, e in evaluated.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def train_attack_heatmap(curves: list[dict], models: list[str], attacks=("fgsm", "pgd"), title: str = ""):
    """Trained on (rows) against attacked with (columns): each model's mean accuracy over eps 0.1-0.3
    (``summaries.mean_accuracy``), one panel per threat model; a missing curve is a blank cell."""
    fig, axes = plt.subplots(1, len(THREAT_TITLES), figsize=(10, 1.6 + 0.55 * len(models)), sharey=True)
    for k, (ax, threat) in enumerate(zip(axes, THREAT_TITLES)):
        grid = [[mean_accuracy(curves, m, a, threat) for a in attacks] for m in models]
        values = np.array([[np.nan if v is None else 100 * v for v in row] for row in grid])
        sns.heatmap(
            values,
            ax=ax,
            vmin=0,
            vmax=100,
            cmap="viridis",
            annot=True,
            fmt=".0f",
            cbar=k == len(axes) - 1,
            cbar_kws={"label": "mean accuracy, eps 0.1-0.3 (%)"},
            linewidths=1,
            linecolor="white",
        )
        ax.set_xticklabels([a.upper() for a in attacks])
        ax.set_yticklabels([LABELS.get(m, m) for m in models], rotation=0)
        ax.set_title(THREAT_TITLES[threat], fontsize=10)
        ax.set_xlabel("attack at test time")
    axes[0].set_ylabel("model (attack it was trained on)")
    fig.suptitle(title)
    fig.tight_layout()
    return fig
