"""The notebooks' prose about our own results, generated from the recorded numbers.

No number of our own runs is typed into a notebook's markdown: a sentence that states a result is
built here from the values a notebook just computed, so it is true under ``smoke``, ``quick`` and
``paper`` alike. Qualitative claims ("falls steeply", "collapses onto one class") are checked in
code: :func:`check` says in the text when this run disagrees. The seed's and the papers' numbers stay
in markdown, attributed on the same line.

- :func:`pct`, :func:`rate`: a proportion as text, with its 95% Wilson interval;
- :func:`show`: display Markdown (printed outside IPython);
- :func:`check`: a sentence for a claim, and what this run says about it;
- :func:`differences`: the table that ends each notebook: the seed's words, our number under each
  threat model, and the verdict (the report's scorecard rules, ``advlab.course.scorecard.CLAIMS``).
"""

from __future__ import annotations

import json
from pathlib import Path

from advlab.course.scorecard import CLAIMS, Claim, Rule, scorecard
from advlab.evaluation.results import pct
from advlab.evaluation.stats import wilson_acc

THREAT_NAMES = {"whitebox": "white-box", "transfer": "transfer"}


def interval(acc: float, n: int) -> tuple[float, float]:
    """95% Wilson interval of an accuracy ``acc`` measured on ``n`` images."""
    return wilson_acc(acc, n)


def rate(acc: float, n: int, digits: int = 1) -> str:
    """``'98.3% (95% CI 98.0-98.5%, 10,000 images)'``: an accuracy with its interval and sample size."""
    lo, hi = interval(acc, n)
    return f"{pct(acc, digits)} (95% CI {100 * lo:.{digits}f}-{pct(hi, digits)}, {n:,} images)"


def show(text: str) -> None:
    """Display ``text`` as Markdown in a notebook (wherever the call sits in the cell); print it elsewhere."""
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


# --- where we differ from the seed --------------------------------------------------------------------


def _extra_claims():
    return [
        # Notebook 04: the seed's generalisation section.
        Claim(
            "pgd_ranking_pgd",
            "PGD: PGD-trained best, baseline worst",
            "PGD-trained > FGSM-trained > baseline",
            None,
            "ranking",
            {
                "attack": "pgd",
                "best": "pgd_retrained",
                "middle": "fgsm_retrained",
                "worst": "baseline",
                "eps_range": (0.1, 0.3),
            },
            ("whitebox", "transfer"),
            Rule("both"),
        ),
        Claim(
            "meet_pgd_baseline_fgsm",
            "FGSM: PGD-trained above the baseline up to eps",
            "0.33",
            0.33,
            "meeting",
            {"attack": "fgsm", "above": "pgd_retrained", "below": "baseline"},
            ("whitebox", "transfer"),
            Rule("eps", 0.05, 0.10),
        ),
        Claim(
            "cross_pgd_fgsm_fgsm",
            "FGSM: PGD-trained overtakes FGSM-trained at eps",
            "0.15",
            0.15,
            "meeting",
            {"attack": "fgsm", "above": "fgsm_retrained", "below": "pgd_retrained"},
            ("whitebox", "transfer"),
            Rule("eps", 0.05, 0.10),
        ),
        Claim(
            "fgsm_pair_fgsm_vs_pgd",
            "FGSM, mean accuracy over eps 0.1-0.3: FGSM-retrained above PGD-retrained",
            "FGSM-retrained better",
            None,
            "pair",
            {"attack": "fgsm", "better": "fgsm_retrained", "worse": "pgd_retrained", "eps_range": (0.1, 0.3)},
            ("whitebox", "transfer"),
            Rule("both"),
        ),
        Claim(
            "pgd_pair_fgsm_vs_pgd",
            "PGD, mean accuracy over eps 0.1-0.3: FGSM-retrained above PGD-retrained",
            "FGSM-retrained better",
            None,
            "pair",
            {"attack": "pgd", "better": "fgsm_retrained", "worse": "pgd_retrained", "eps_range": (0.1, 0.3)},
            ("whitebox", "transfer"),
            Rule("both"),
        ),
    ]


def claims() -> dict:
    """Every claim a notebook can compare against, by id: the report's scorecard and a few more."""
    return {c.id: c for c in CLAIMS + _extra_claims()}


def measure(results: dict, claim_id: str) -> dict:
    """``{threat: {"text", "verdict"}}`` of one claim on a notebook's ``results`` (the dict it records:
    ``models``, ``curves``, ``losses``, ``grids``, ``collapse``); threat ``all`` when it has none."""
    return scorecard(results, [claims()[claim_id]])[0]["ours"]


def differences(results: dict, rows, same_threats: bool = False) -> str:
    """The Markdown table "Where we differ from the seed": for each ``(quote, claim ids)``, the seed's
    exact words, what we measure, our number under each threat model and the verdict of the report's
    rule (agree / partly / disagree, or not measured). ``same_threats``: the rows are about the baseline,
    for which transfer examples (crafted on the baseline) are the white-box ones."""
    lines = ["| the seed says | we measure | ours, white-box | ours, transfer |", "|---|---|---|---|"]
    for quote, ids in rows:
        ids = [ids] if isinstance(ids, str) else list(ids)
        for i, cid in enumerate(ids):
            c = claims()[cid]
            ours = measure(results, cid)
            cells = {}
            for threat in THREAT_NAMES:
                o = ours.get(threat, ours.get("all"))
                if o is None:
                    cells[threat] = (
                        "the same (for the baseline, transfer is white-box)"
                        if same_threats
                        else "not measured under this threat model"
                    )
                elif "all" in ours:
                    cells[threat] = (
                        "the same (no attack involved)" if threat == "transfer" else f"{o['text']}: **{o['verdict']}**"
                    )
                else:
                    cells[threat] = f"{o['text']}: **{o['verdict']}**"
            row = [
                f"\u201c{quote}\u201d" if i == 0 else "",
                f"{c.claim} (seed: {c.seed_text})",
                cells["whitebox"],
                cells["transfer"],
            ]
            lines.append("| " + " | ".join(x.replace("|", "\\|") for x in row) + " |")
    return "\n".join(lines)


def ordering(better: tuple[float, int], worse: tuple[float, int]) -> str:
    """Verdict on "model A is more robust than model B" from two accuracies ``(acc, n_images)``:
    ``agree`` when A's 95% Wilson interval lies wholly above B's, ``disagree`` when wholly below,
    otherwise ``within sampling error``."""
    (a_lo, a_hi), (b_lo, b_hi) = interval(*better), interval(*worse)
    if a_lo > b_hi:
        return "agree"
    if a_hi < b_lo:
        return "disagree"
    return "within sampling error"


def comparisons(rows, numbers: dict, labels: dict | None = None) -> str:
    """The Markdown table "Where we differ from the seed" for claims that one model is more robust than
    another, in the same columns as :func:`differences`. ``rows``: ``(quote, [(better, worse), ...])``;
    ``numbers``: ``{threat: {model: (acc, n_images)}}`` for threats ``whitebox`` and ``transfer`` (a
    model missing under a threat is "not measured")."""
    labels = labels or {}
    lines = ["| the seed says | we measure | ours, white-box | ours, transfer |", "|---|---|---|---|"]
    for quote, pairs in rows:
        for i, (better, worse) in enumerate(pairs):
            a, b = labels.get(better, better), labels.get(worse, worse)
            cells = []
            for threat in THREAT_NAMES:
                got = numbers.get(threat, {})
                if better not in got or worse not in got:
                    cells.append("not measured under this threat model")
                    continue
                cells.append(
                    f"{a} {rate(*got[better])} vs {b} {rate(*got[worse])}: **{ordering(got[better], got[worse])}**"
                )
            row = [f"\u201c{quote}\u201d" if i == 0 else "", f"{a} more robust than {b}"] + cells
            lines.append("| " + " | ".join(x.replace("|", "\\|") for x in row) + " |")
    return "\n".join(lines)
