"""Wilson intervals against scipy's."""
import pytest
from scipy.stats import binomtest

from advlab.evaluation.stats import wilson, wilson_acc


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
