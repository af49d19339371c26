"""Uncertainty of an accuracy measured on a finite test set."""
from __future__ import annotations

import math

Z95 = 1.959963984540054   # the standard normal quantile of 0.975


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval (95% by default) of a proportion: ``k`` successes out of ``n``
    (e.g. images classified correctly). Unlike the normal approximation it stays inside [0, 1] and
    is sensible at 0% and 100%."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # at 0 and n the bounds are exactly 0 and 1 (rounding would leave 1e-16 off)
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


def wilson_acc(acc: float, n: int) -> tuple[float, float]:
    """:func:`wilson` of an accuracy ``acc`` measured on ``n`` images."""
    return wilson(round(acc * n), n)
