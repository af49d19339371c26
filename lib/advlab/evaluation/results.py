"""Reading recorded results: a curve of the merged results, its accuracy at an eps, its number of
images, a percentage."""

from __future__ import annotations


def pct(a: float, digits: int = 1) -> str:
    """``0.9832 -> '98.3%'``."""
    return f"{100 * a:.{digits}f}%"


def share(k: int, n: int) -> str:
    """``53`` of ``100`` -> ``'53.0% (53/100)'``."""
    return f"{pct(k / n)} ({k}/{n})"


def find_curve(results: dict, model: str, attack: str, threat: str = "whitebox") -> dict | None:
    """The curve of ``model`` under ``attack`` and ``threat`` in merged results, or None."""
    for c in results.get("curves", []):
        if c.get("model") == model and c.get("attack") == attack and c.get("threat") == threat:
            return c
    return None


def acc_at(curve: dict, eps: float, tol: float = 1e-6) -> float | None:
    """The curve's accuracy at ``eps`` (None when it was not measured there)."""
    for e, a in zip(curve.get("eps", []), curve.get("acc", [])):
        if abs(float(e) - eps) <= tol:
            return float(a)
    return None


def n_images(record: dict | None) -> int | None:
    """The number of images behind a curve or record (its ``n_images``), None when not recorded."""
    n = (record or {}).get("n_images")
    return int(n) if n else None


def models_in(results: dict) -> list[str]:
    """The models of the curves, in order of first appearance."""
    seen = []
    for c in results.get("curves", []):
        if c.get("model") not in seen:
            seen.append(c.get("model"))
    return seen


def fgsm_on_pgd_images(results: dict, model: str) -> dict | None:
    """The white-box FGSM curve, on exactly the PGD curve's images where it recorded them (``subset``)."""
    fgsm, pgd = find_curve(results, model, "fgsm"), find_curve(results, model, "pgd")
    sub = (fgsm or {}).get("subset")
    if sub and pgd and sub.get("n_images") == pgd.get("n_images"):
        return {**fgsm, "acc": sub["acc"], "n_images": sub["n_images"]}
    return fgsm


def weaker_stronger(d: dict, weak: str, strong: str):
    """(label, acc) of the weaker and the stronger setting: keys ``weak``/``strong`` ("k"/"2k", "1"/"3"),
    or else the smallest and largest numeric keys (a notebook may record the actual step counts); None
    when there are not two."""
    if weak in d and strong in d:
        return (weak, d[weak]), (strong, d[strong])
    try:
        items = sorted((float(k), k, v) for k, v in d.items())
    except (TypeError, ValueError):
        return None
    if len(items) < 2:
        return None
    return (items[0][1], items[0][2]), (items[-1][1], items[-1][2])
