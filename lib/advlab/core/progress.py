"""Progress bars: on by default, off with ``progress=False`` or the environment variable ADVLAB_PROGRESS=0."""

from __future__ import annotations

import os
from collections.abc import Iterable


def progress_enabled(progress: bool | None = None) -> bool:
    """Progress bars are on unless ``progress=False`` or ADVLAB_PROGRESS=0 (set by run_all.py, where
    papermill already reports progress and per-batch bars would bloat the executed notebooks)."""
    if progress is not None:
        return progress
    return os.environ.get("ADVLAB_PROGRESS", "1") not in ("0", "false", "no", "off")


def progress_bar(items: Iterable, label: str | None, unit: str) -> Iterable:
    """``items`` behind a transient tqdm bar titled ``label``; ``items`` unchanged when ``label`` is None."""
    if label is None:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=label, unit=unit, leave=False, disable=not progress_enabled())
