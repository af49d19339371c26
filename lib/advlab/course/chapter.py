"""A chapter's set-up in one call, the way every course notebook starts:

    ch = chapter("02_fgsm_attack", profile, device=device, force=force, overrides=overrides, n_test=n_test)

changes to the repository root, sets the plot style, builds the Config of ``profile`` with the notebook's
parameters (``overrides`` win), shows each parameter once, the device and the measured compute time,
and returns a :class:`Chapter`: ``ch.cfg`` is the Config, ``ch.save(fig, name)`` saves a figure and
``ch.record(results)`` writes the chapter's numbers with the figures it saved.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

from advlab.core.errors import AdvlabError
from advlab.course import pipeline, plots, profiles, records, story
from advlab.course.profiles import Config


@dataclass
class Chapter:
    """One notebook's run: its name, its Config, the repository root and the figures saved so far."""

    notebook: str
    cfg: Config
    root: Path
    figures: list = field(default_factory=list)

    def save(self, fig, name: str) -> None:
        """Save ``fig`` as ``figures/<profile>/<name>.png`` (a ``pipeline.FIGURES`` name) for the report."""
        entry = plots.save_figure(fig, self.cfg, name)
        names = [f["name"] for f in self.figures]
        if name in names:  # a cell run again replaces its figure
            self.figures[names.index(name)] = entry
        else:
            self.figures.append(entry)

    def record(self, results: dict) -> Path:
        """Write ``results`` and the saved figures to ``report/<profile>/parts/<notebook>.json``."""
        part = records.record(self.cfg, self.notebook, {**results, "figures": list(self.figures)})
        print(f"numbers saved to {part}")
        return part


def chapter(
    notebook: str,
    profile: str = "quick",
    *,
    device: str = "auto",
    force: bool = False,
    overrides: dict | None = None,
    **params,
) -> Chapter:
    """Set up chapter ``notebook`` with its parameters (Config fields) and return its :class:`Chapter`."""
    if notebook not in pipeline.NOTEBOOKS:
        raise AdvlabError(f"unknown chapter {notebook!r}: choose one of {', '.join(pipeline.NOTEBOOKS)}")
    overrides = dict(overrides or {})
    _check_names(notebook, params, "parameter")
    _check_names(notebook, overrides, "override")
    cfg = profiles.config(profile, device=device, force=force, **(params | overrides))
    root = pipeline.chdir_root()
    _inline_figures()
    plots.setup()
    story.show(summary(notebook, cfg, list(params), overrides))
    return Chapter(notebook, cfg, root)


def _check_names(notebook: str, values: dict, what: str) -> None:
    """Raise AdvlabError for a name that is not a Config field (with the closest field, if any)."""
    fields = profiles.field_names()
    for name in values:
        if name not in fields or name in ("profile", "device", "force"):
            close = difflib.get_close_matches(name, fields, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close and close[0] != name else ""
            where = f"pass {name} as its own argument" if name in fields else f"Config fields: {', '.join(fields)}"
            raise AdvlabError(f"chapter {notebook}: unknown {what} {name!r}{hint}; {where}")


def summary(notebook: str, cfg: Config, names: list[str], overrides: dict) -> str:
    """Markdown: the chapter's parameters as used, each once (an overridden one marked so, an override of
    another field added), the device and the measured compute time."""
    device = pipeline.resolve_device(cfg.device)
    every = list(names) + [n for n in overrides if n not in names]
    shown = ", ".join(f"`{n}` = {getattr(cfg, n)!r}" + (" (override)" if n in overrides else "") for n in every)
    lines = [f"**Chapter {notebook}**, profile `{cfg.profile}`. Parameters: {shown or 'none'}."]
    flags = [flag for flag in ("force", "pretrained") if getattr(cfg, flag)]
    lines.append(
        f"**Device:** {device}"
        + (f" (asked: {cfg.device})" if cfg.device != str(device) else "")
        + "".join(f"; `{flag}` is on" for flag in flags)
        + "."
    )
    lines.append(story.compute_time(notebook))
    return "\n\n".join(lines)


def _inline_figures() -> None:
    """``%matplotlib inline`` inside a Jupyter kernel; nothing elsewhere."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with the notebook stack
        return
    shell = get_ipython()
    if shell is not None and getattr(shell, "kernel", None) is not None:
        shell.run_line_magic("matplotlib", "inline")
