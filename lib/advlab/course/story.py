"""The notebooks' prose about our own results, generated from the recorded numbers.

No number of our own runs is typed into a notebook's markdown: a sentence that states a result is
built here from the values a notebook just computed, so it is true under ``smoke``, ``quick`` and
``paper`` alike. Qualitative claims ("falls steeply", "collapses onto one class") are checked in
code: :func:`check` says in the text when this run disagrees. The seed's and the papers' numbers stay
in markdown, attributed on the same line.

- :func:`pct`, :func:`rate`: a proportion as text, with its 95% Wilson interval;
- :func:`show`: display Markdown (printed outside IPython);
- :func:`check`: a sentence for a claim, and what this run says about it;
- :func:`verdicts`: the seed's claims of a chapter judged on its numbers, one line each with :func:`show`;
- :func:`differences`: the table that ends each notebook: the seed's words, our number under each
  threat model, and the verdict. Both are the report's scorecard rows (``advlab.course.scorecard``),
  judged by the course's one rule (``advlab.evaluation.verdict``).
"""

from __future__ import annotations

import json
from pathlib import Path

from advlab.course.scorecard import scorecard
from advlab.evaluation.results import acc_at, find_curve, pct
from advlab.evaluation.stats import wilson_acc
from advlab.evaluation.verdict import RULE, Count, above, combine

THREAT_NAMES = {"whitebox": "white-box", "transfer": "transfer"}


def interval(acc: float, n: int) -> tuple[float, float]:
    """95% Wilson interval of an accuracy ``acc`` measured on ``n`` images."""
    return wilson_acc(acc, n)


def rate(acc: float, n: int, digits: int = 1) -> str:
    """``'98.3% (95% CI 98.0-98.5%, 10,000 images)'``: an accuracy with its interval and sample size."""
    lo, hi = interval(acc, n)
    return f"{pct(acc, digits)} (95% CI {100 * lo:.{digits}f}-{pct(hi, digits)}, {n:,} images)"


def show(text) -> None:
    """Display ``text`` as Markdown in a notebook (wherever the call sits in the cell); print it elsewhere.
    A list of verdicts (:func:`verdicts`) is shown one line per claim (the rule is stated under the
    chapter's table of :func:`differences`)."""
    if not isinstance(text, str):
        text = lines(text)
    try:
        from IPython import get_ipython
        from IPython.display import Markdown, display
    except ImportError:  # pragma: no cover - IPython ships with the notebook stack
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(Markdown(text))
    else:
        print(text)


def check(holds: bool, claim: str, evidence: str) -> str:
    """One sentence for a claim the prose makes, with this run's verdict, e.g.
    ``check(drop > 0.5, "The curve falls steeply between 0.1 and 0.3", "from 92% to 11%")``."""
    if holds:
        return f"{claim}: this run agrees ({evidence})."
    return f"{claim}: **this run disagrees** ({evidence})."


def compute_time(notebook: str, root: str | Path = ".") -> str:
    """This notebook's compute time per profile, as last measured on this machine by ``run_all.py``
    (``report/<profile>/timings.json``); docs/performance.md where nothing was measured."""
    found = []
    for profile in ("smoke", "quick", "paper"):
        try:
            seconds = json.loads((Path(root) / "report" / profile / "timings.json").read_text())[notebook]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        found.append(f"`{profile}` {float(seconds):.0f} s")
    if not found:
        return (
            "**Compute time:** not measured on this machine yet; `docs/performance.md` gives the "
            "measured time of each profile."
        )
    return (
        f"**Compute time** of this notebook, measured by the last `run_all.py` of each profile on this machine "
        f"(with whatever was cached then): {', '.join(found)}. Other profiles: see `docs/performance.md`."
    )


# --- verdicts on the seed's claims ------------------------------------------------------------------------


def verdicts(results: dict, chapter: str | None = None, ids=None) -> list[dict]:
    """The seed's claims of ``chapter`` (or those with an id in ``ids``) judged on ``results`` by the
    course's one rule (``advlab.evaluation.verdict``): the report's scorecard rows, computed by the
    same function. Pass them to :func:`show` for one line per claim."""
    return scorecard(results, chapter=chapter, ids=ids)


def _cell(o: dict | None, threat: str, only: tuple) -> str:
    if o is None:
        if only == ("whitebox",):
            return "the same (for the baseline, transfer is white-box)"
        return "not claimed for this threat model"
    why = f" (parts not agreeing: {'; '.join(o['failing'])})" if o.get("failing") and o["verdict"] != "agree" else ""
    return f"{o['text']}: **{o['verdict']}**{why}"


def _cells(row: dict) -> dict:
    ours = row["ours"]
    if "all" in ours:
        return {"whitebox": _cell(ours["all"], "all", ()), "transfer": "the same (no attack involved)"}
    return {t: _cell(ours.get(t), t, tuple(ours)) for t in THREAT_NAMES}


def lines(rows: list[dict]) -> str:
    """One Markdown line per claim: the seed's words, what we measure, our numbers and the verdict under
    each threat model."""
    out = []
    for row in rows:
        cells = _cells(row)
        ours = "; ".join(f"{THREAT_NAMES[t]}: {cells[t]}" for t in THREAT_NAMES if "the same" not in cells[t])
        out.append(f"- \u201c{row['quote']}\u201d {row['claim']}. {ours or cells['whitebox']}.")
    return "\n".join(out)


def differences(results: dict, chapter, same_threats: bool = False) -> str:
    """The Markdown table "Where we differ from the seed" of a chapter (``"02"``), or of the claims whose
    ids are in ``chapter`` when it is a list (``(quote, id)`` pairs are read for their ids): the seed's
    words, what we measure, our number under each threat model and the verdict, then the rule."""
    if isinstance(chapter, str):
        rows = verdicts(results, chapter)
    else:
        ids = [i for item in chapter for i in ([item[1]] if isinstance(item[1], str) else item[1])]
        rows = verdicts(results, ids=ids)
    table = ["| the seed says | we measure | ours, white-box | ours, transfer |", "|---|---|---|---|"]
    for row in rows:
        cells = _cells(row)
        items = [f"\u201c{row['quote']}\u201d", row["claim"], cells["whitebox"], cells["transfer"]]
        table.append("| " + " | ".join(x.replace("|", "\\|") for x in items) + " |")
    return "\n".join(table) + f"\n\n*The rule.* {RULE}"


def noise_control(results: dict, eps=(0.1, 0.2)) -> str:
    """One line: random sign noise of the same size against FGSM on the baseline (``results["noise"]`` and
    the white-box FGSM curve), judged by the course's rule as "noise leaves more images correct than FGSM"."""
    fgsm = find_curve(results, "baseline", "fgsm", "whitebox")
    noise, n = results.get("noise") or {}, (fgsm or {}).get("n_images")
    if not fgsm or not noise or not n:
        return "- Random sign noise against FGSM: not measured."
    parts, texts = [], []
    for e in eps:
        f, z = acc_at(fgsm, e), acc_at(noise, e)
        if f is not None and z is not None:
            parts.append((f"eps {e:g}", above(Count.of(z, n), Count.of(f, n))))
            texts.append(f"eps {e:g}: noise {pct(z)}, FGSM {pct(f)}")
    got, failing = combine(parts)
    why = f"; does not hold at {', '.join(failing)}" if failing else ""
    claim = "Random sign noise of the same size leaves more images correct than FGSM"
    return f"- {claim} ({'; '.join(texts)}): **{got}**{why}."
