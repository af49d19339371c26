"""The reproduction scorecard: every claim of ``advlab.course.claims`` judged on a results dict (one
notebook's, or the report's merged results) by the one rule of ``advlab.evaluation.verdict``, through
the measures of ``advlab.course.measures``.

The chapters and the report call the same :func:`scorecard`, so a chapter's verdicts and the report's
rows are the same whenever they read the same numbers."""

from __future__ import annotations

from advlab.course import claims, claims_generalisation
from advlab.course.claims import CLAIMED_CLEAN as CLAIMED_CLEAN
from advlab.course.measures import MEASURES
from advlab.evaluation.verdict import AGREE, NOT_MEASURED, VERDICTS

CLAIMS = claims.CLAIMS + claims_generalisation.CLAIMS  # every claim of the seed, in chapter order


def _judge(claim, results, threat) -> dict:
    try:
        got = MEASURES[claim.measure](results, threat, **claim.args)
    except (KeyError, IndexError, TypeError, ValueError) as exc:  # odd data must not sink a chapter or the report
        text = f"not measured: the recorded numbers could not be read ({type(exc).__name__}: {exc})"
        return {"verdict": NOT_MEASURED, "text": text, "failing": []}
    return got or {"verdict": NOT_MEASURED, "text": "not measured", "failing": []}


def scorecard(results: dict, claims=CLAIMS, chapter: str | None = None, ids=None) -> list[dict]:
    """One row per claim (of ``chapter``, or with an id in ``ids``, when given): the seed's words, what we
    measure, the seed's numbers, and ours per threat model with the verdict of the one rule
    (``advlab.evaluation.verdict``)."""
    rows = []
    for c in claims:
        if (chapter and c.chapter != chapter) or (ids and c.id not in ids):
            continue
        ours = {threat: _judge(c, results, threat) for threat in c.threats}
        rows.append({"id": c.id, "chapter": c.chapter, "quote": c.quote, "claim": c.what, "seed": c.seed, "ours": ours})
    return rows


def tally(rows: list[dict]) -> dict:
    """How many verdicts of each kind the rows hold (one per row and threat model), in the rule's order."""
    found = [o["verdict"] for row in rows for o in row["ours"].values()]
    return {v: found.count(v) for v in VERDICTS if found.count(v)}


def claims_by_threat(rows: list[dict]) -> dict:
    """The seed's claims that depend on a threat model, sorted by where they hold (verdict "agree"):
    ``{"whitebox": [...], "transfer_only": [...], "neither": [...], "not_measured": [...]}``."""
    out = {"whitebox": [], "transfer_only": [], "neither": [], "not_measured": []}
    for row in rows:
        ours = row["ours"]
        if set(ours) != {"whitebox", "transfer"}:
            continue
        verdicts = {t: o["verdict"] for t, o in ours.items()}
        if all(v == NOT_MEASURED for v in verdicts.values()):
            out["not_measured"].append(row["claim"])
        elif verdicts["whitebox"] == AGREE:
            out["whitebox"].append(row["claim"])
        elif verdicts["transfer"] == AGREE:
            out["transfer_only"].append(row["claim"])
        else:
            out["neither"].append(row["claim"])
    return out
