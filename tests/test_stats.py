"""Wilson intervals against scipy's, and the comparison of two counts on the same images."""

from fractions import Fraction

import pytest
from scipy.stats import binomtest

from advlab.evaluation.stats import count, gap_points, noise_margin, not_weaker, wilson, wilson_acc


@pytest.mark.parametrize("k,n", [(0, 10), (10, 10), (3, 7), (983, 1000), (500, 1000), (9829, 10000), (1, 200)])
def test_wilson_matches_scipy(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson(k, n) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_wilson_contains_the_estimate_and_narrows_with_n():
    lo, hi = wilson(50, 100)
    lo2, hi2 = wilson(500, 1000)
    assert lo < 0.5 < hi and lo < lo2 < 0.5 < hi2 < hi
    assert wilson_acc(0.983, 1000) == wilson(983, 1000)


def test_wilson_bad_input():
    with pytest.raises(ValueError, match="k <= n"):
        wilson(5, 3)
    with pytest.raises(ValueError, match="n > 0"):
        wilson(0, 0)


def test_count_recovers_the_images_behind_a_float32_accuracy():
    import numpy as np

    for k in (0, 1, 53, 54, 99, 100):
        assert count(float(np.float32(k / 100)), 100) == k
    assert count(0.54000002, 100) == 54 and count(0.52999997, 100) == 53


@pytest.mark.parametrize("k,n", [(0, 100), (53, 100), (100, 100), (3, 7), (500, 1000), (9829, 10000)])
def test_noise_margin_is_the_distance_to_the_upper_wilson_bound(k, n):
    """k + margin is the largest count inside the 95% Wilson interval of k of n."""
    m = noise_margin(n, k)
    assert isinstance(m, int) and m >= 0
    hi = wilson(k, n)[1]
    assert (k + m) / n <= hi < (k + m + 1) / n


def test_noise_margin_values_and_growth():
    assert [noise_margin(100, k) for k in (0, 53, 90, 100)] == [3, 9, 4, 0]
    # the margin in images grows like sqrt(n), so in points it shrinks: 9 of 100, 30 of 1000, 97 of 10,000 at 50%
    assert [noise_margin(n, n // 2) for n in (100, 1000, 10000)] == [9, 30, 97]


def test_not_weaker_judges_counts_at_the_margin():
    """Three restarts at 54 of 100 against one at 53 are within noise; the check still fails past the margin."""
    assert not_weaker(54, 53, 100)
    assert not_weaker(53 + 9, 53, 100) and not not_weaker(53 + 10, 53, 100)
    assert not_weaker(0, 0, 100) and not_weaker(3, 0, 100) and not not_weaker(4, 0, 100)
    assert not_weaker(100, 100, 100) and not_weaker(40, 53, 100)


def test_gap_points_is_exact():
    assert gap_points(7, 0, 100) == 7 and gap_points(3, 0, 100) <= 3 < gap_points(4, 0, 100)
    assert gap_points(15, 0, 500) == 3 and gap_points(1, 0, 3) > Fraction(33, 1)
    assert float(gap_points(101, 70, 200)) == 15.5
