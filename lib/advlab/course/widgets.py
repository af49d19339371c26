"""Explore an attack by hand: pick a model, an attack, a threat model and eps; see a few attacked
test images with the model's predictions, and where that eps sits on the model's accuracy curve.

The pattern (from riemann_book): ``attack_view`` draws one static figure, so papermill and the HTML
report get a picture; ``explore`` wraps the same function in ``ipywidgets.interact`` for JupyterLab.
Each slider move attacks only ``n`` images; the accuracy curves come from the pipeline's cache.

Headless runs (``run_all.py`` sets ADVLAB_HEADLESS=1 for its kernels) get no widget at all: an
explorer's widgets would open comms that nobody answers, and nbclient's stand-in for the Output
widget sends a message on the shell channel while it waits for the cell's reply there; that send
could swallow the socket's wake-up, so the reply sat unread until the cell timeout (see
``advlab.runtime.engine``).
"""

from __future__ import annotations

import os

import matplotlib.pyplot as plt
import numpy as np

from advlab.core.inference import predict
from advlab.course import pipeline
from advlab.course.curves import adversarial_examples, curve
from advlab.course.plots import COLORS, LABELS, THREAT_TITLES

_NETS: dict = {}


def _net(cfg, name: str):
    """The trained model ``name``, loaded once per process."""
    key = (pipeline.model_key(cfg, name), cfg.device)
    if key not in _NETS:
        _NETS[key] = pipeline.get_model(cfg.replace(force=False), name)
    return _NETS[key]


def attacked_images(cfg, model: str, attack: str, eps: float, threat: str = "whitebox", n: int = 4):
    """The first ``n`` test images (the curves' own first images) attacked at ``eps`` exactly as the
    curves attack them (``curves.adversarial_examples``), and ``model``'s predictions on them.
    Returns ``(x_adv, y, preds)``."""
    source = model if threat == "whitebox" else "baseline"
    ((_, x_adv),) = adversarial_examples(
        cfg.replace(force=False), source, attack, [eps], n, early_stop=threat == "whitebox"
    )
    _, y = pipeline.test_data(cfg, n)
    return x_adv, y, predict(_net(cfg, model), x_adv)


def attack_view(
    cfg, model: str = "baseline", attack: str = "fgsm", eps: float = 0.2, threat: str = "whitebox", n: int = 4
):
    """Figure: ``n`` attacked test images titled with ``model``'s prediction (red when wrong), and
    the model's accuracy curves for ``attack`` (both threat models) with a marker at ``eps``."""
    x_adv, y, preds = attacked_images(cfg, model, attack, eps, threat, n)
    curves = {t: curve(cfg, model, attack, t) for t in pipeline.THREATS}
    fig = plt.figure(figsize=(2.0 * n + 5.5, 3.2))
    grid = fig.add_gridspec(1, n + 2, width_ratios=[1] * n + [0.45, 2.6], wspace=0.12)
    for j in range(n):
        ax = fig.add_subplot(grid[0, j])
        ax.imshow(x_adv[j].squeeze().numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
        ok = int(preds[j]) == int(y[j])
        ax.set_title(f"predicted {int(preds[j])}", color="black" if ok else "crimson", fontsize=10)
        ax.set_xlabel(f"true {int(y[j])}", fontsize=9)
    ax = fig.add_subplot(grid[0, n + 1])
    for t, style in zip(pipeline.THREATS, ("-", "--")):
        c = curves[t]
        acc = [100 * a for a in c["acc"]]
        ax.plot(c["eps"], acc, linestyle=style, color=COLORS.get(model), label=THREAT_TITLES[t].split(" (")[0])
        at = float(np.interp(eps, c["eps"], acc))
        ax.plot([eps], [at], marker="o", ms=9, color="crimson" if t == threat else "0.5", zorder=3)
    ax.axvline(eps, color="0.6", lw=0.8)
    at = float(np.interp(eps, curves[threat]["eps"], curves[threat]["acc"])) * 100
    names = {"whitebox": "white-box", "transfer": "transfer"}
    ax.set(
        xlabel="epsilon",
        ylabel="accuracy (%)",
        ylim=(-2, 102),
        title=f"{attack.upper()}, {names[threat]}: {at:.0f}% at eps {eps:.2f}",
    )
    ax.legend(fontsize=8, loc="upper right")
    fig.suptitle(
        f"{LABELS.get(model, model)} under {attack.upper()} ({names[threat]}), eps = {eps:.2f}"
        f" (curve: {curves[threat]['n_images']} test images, marker interpolated)",
        y=1.04,
    )
    return fig


STATIC_NOTE = "[Interactive explorer: open this notebook in JupyterLab to use the slider and menus.]"


def headless() -> bool:
    """True when a notebook runs without a front end to talk to: ADVLAB_HEADLESS=1 (set by run_all.py
    for its kernels; set it yourself for papermill or nbconvert --execute)."""
    return os.environ.get("ADVLAB_HEADLESS", "0") not in ("", "0", "false", "no", "off")


def explore(cfg, models=("baseline",), attacks=tuple(pipeline.ATTACKS), eps: float = 0.2, n: int = 4, view=None):
    """``attack_view`` with a slider for eps (0 to 0.9) and menus for model, attack and threat
    (``view``, with attack_view's arguments, replaces attack_view: a test uses it).
    Headless (see ``headless``) it only prints a line saying where the sliders work, and creates no
    widget: the cell before it in the notebooks draws the static figure."""
    view = view or attack_view
    if headless():
        print(STATIC_NOTE)
        return None
    try:
        import ipywidgets as w
    except ImportError:  # the static figure above still tells the story
        print("ipywidgets is not installed: the interactive explorer is unavailable.")
        return None

    def show(model, attack, threat, eps):
        view(cfg, model, attack, eps, threat, n)
        plt.show()

    ui = w.interactive(
        show,
        model=w.Dropdown(options=list(models), value=list(models)[0], description="model"),
        attack=w.Dropdown(options=list(attacks), value=list(attacks)[0], description="attack"),
        threat=w.Dropdown(options=list(pipeline.THREATS), value="whitebox", description="threat"),
        eps=w.FloatSlider(
            value=eps, min=0.0, max=0.9, step=0.05, continuous_update=False, readout_format=".2f", description="eps"
        ),
    )
    # A static copy (the HTML report) shows this line instead of the widget's repr.
    bundle = ui._repr_mimebundle_()
    bundle["text/plain"] = STATIC_NOTE
    from IPython.display import display

    display(bundle, raw=True)
    return None
