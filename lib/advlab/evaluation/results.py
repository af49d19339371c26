"""Reading recorded results: a curve of the merged results, its accuracy at an eps, a percentage."""
from __future__ import annotations


def pct(a: float, digits: int = 1) -> str:
    """``0.9832 -> '98.3%'``."""
    return f"{100 * a:.{digits}f}%"


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
