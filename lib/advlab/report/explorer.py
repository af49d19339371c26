"""The report's explorers: the notebooks' epsilon sliders, working in the static page with no kernel
and no network.

The frames (attacked images as small PNG data URIs, predictions, curves with their Wilson intervals) are
computed by :mod:`advlab.course.frames`; this module lays them out.

The page's script (``static/explorer.js``, plain JavaScript) reads that data and redraws on every
slider or menu change. Plain JavaScript rather than the ipywidgets embed manager: the embed manager is
a large bundle normally fetched from a CDN (the page must work offline), and its ``jslink`` only links
one widget value to another; choosing which of hundreds of precomputed images to show is a lookup
that would need custom widget code anyway. A 150-line script has no dependency and no build step.
"""

from __future__ import annotations

import json
from pathlib import Path

from advlab.report.templating import render as render_template

STATIC = Path(__file__).resolve().parent / "static"


def page_assets() -> dict:
    """The explorer's script and style sheet, to inline in the page."""
    return {
        "js": (STATIC / "explorer.js").read_text(encoding="utf-8"),
        "css": (STATIC / "explorer.css").read_text(encoding="utf-8"),
    }


def data_json(data: dict, labels: dict) -> str:
    """The data as JSON safe inside a ``<script type="application/json">`` element."""
    blob = json.dumps({**data, "modelLabels": labels}, separators=(",", ":"))
    return blob.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(data: dict | None, labels: dict, threat_labels: dict) -> str:
    """The explorers' HTML section (``templates/explorer.html.j2``), script and data inlined."""
    if not data or not data["explorers"]:
        return ""
    return render_template(
        "explorer.html.j2",
        data=data,
        labels=labels,
        threat_labels=threat_labels,
        assets=page_assets(),
        data_json=data_json(data, labels),
    )
