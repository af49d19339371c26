"""Uncertainty of an accuracy measured on a finite test set, and comparisons of two accuracies in images.

Accuracies are compared as counts of images classified correctly, never as floats at the edge of a
tolerance: a count is the same integer on every CPU, and every margin below is an integer too.
"""

from __future__ import annotations

import math
from fractions import Fraction

Z95 = 1.959963984540054  # the standard normal quantile of 0.975


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval (95% by default) of ``k`` successes out of ``n``: inside [0, 1], sensible at 0
    and ``n``."""
    if n <= 0 or not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n and n > 0, got k={k}, n={n}")
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    # at 0 and n the bounds are exactly 0 and 1 (rounding would leave 1e-16 off)
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


def wilson_acc(acc: float, n: int) -> tuple[float, float]:
    """:func:`wilson` of an accuracy ``acc`` measured on ``n`` images."""
    return wilson(count(acc, n), n)


def count(acc: float, n: int) -> int:
    """The number of images behind an accuracy ``acc`` measured on ``n`` images: ``round(acc * n)``."""
    return round(acc * n)


def noise_margin(n: int, k: int, z: float = Z95) -> int:
    """Images by which a second count on the same ``n`` images may exceed ``k`` by chance (95% by default).

    ``noise_margin(n, k) = floor(n * hi) - k``, where ``hi`` is the upper bound of the Wilson interval of
    ``k`` of ``n`` (:func:`wilson`): any count up to ``n * hi`` is within the binomial noise of ``k``.
    Examples at 95%: 9 images for k = 53 of 100, 3 for k = 0 of 100, 0 for k = n. The bound is computed from
    two integers in IEEE double arithmetic, so the margin is the same on every machine.
    """
    return math.floor(n * wilson(k, n, z)[1]) - k


def not_weaker(k_strong: int, k_weak: int, n: int) -> bool:
    """Does the stronger attack leave at most ``k_weak + noise_margin(n, k_weak)`` of ``n`` images correct?

    ``k_strong`` and ``k_weak``: images still classified correctly under the attack expected to be
    stronger (more steps, more restarts, PGD rather than FGSM, a larger eps) and under the weaker one.
    """
    return k_strong <= k_weak + noise_margin(n, k_weak)


def gap_points(k_a: int, k_b: int, n: int) -> Fraction:
    """``k_a - k_b`` in percentage points of ``n``, exactly (a fraction): compare it with an effect-size threshold."""
    return Fraction(100 * (k_a - k_b), n)
