"""advlab.evaluation.verdict: the one rule every verdict of the course follows, branch by branch."""

import pytest

from advlab.evaluation import verdict as v
from advlab.evaluation.verdict import Count

EPS = [0.0, 0.1, 0.2, 0.3, 0.4]


def counts(accs, n=1000):
    return [Count.of(a, n) for a in accs]


def test_a_number_against_the_seeds_agrees_when_the_intervals_overlap():
    seed = Count.seed(0.79)  # 7,900 of the seed's 10,000 test images
    assert seed.n == 10000 and seed.k == 7900
    assert v.versus_seed(Count.of(0.77, 2000), seed) == v.AGREE  # 75.1-78.8 overlaps 78.2-79.8
    assert v.versus_seed(Count.of(0.76, 2000), seed) == v.DISAGREE  # 74.1-77.8: apart
    # ten grid images: 5 of 10 still overlaps the seed's 10 of 10, 4 of 10 does not
    assert v.versus_seed(Count(5, 10), Count(10, 10)) == v.AGREE
    assert v.versus_seed(Count(4, 10), Count(10, 10)) == v.DISAGREE


def test_a_above_b_agree_partly_disagree_and_zero_against_zero():
    assert v.above(Count(800, 1000), Count(500, 1000)) == v.AGREE
    assert v.above(Count(52, 100), Count(50, 100)) == v.PARTLY  # higher, but within sampling error
    assert v.above(Count(50, 100), Count(52, 100)) == v.DISAGREE
    assert v.above(Count(0, 1000), Count(0, 1000)) == v.DISAGREE  # no robustness at all is not "within error"
    assert v.above(Count(3, 1000), Count(0, 1000)) == v.PARTLY
    assert v.above(Count(700, 1000), Count.share(0.5)) == v.AGREE  # against a fixed share (no interval)


def test_several_parts_name_what_fails():
    assert v.combine([("a", v.AGREE), ("b", v.AGREE)]) == (v.AGREE, [])
    assert v.combine([("a", v.AGREE), ("b", v.DISAGREE)]) == (v.PARTLY, ["b"])
    assert v.combine([("a", v.PARTLY), ("b", v.DISAGREE)]) == (v.PARTLY, ["a", "b"])
    assert v.combine([("a", v.DISAGREE), ("b", v.DISAGREE)]) == (v.DISAGREE, ["a", "b"])
    assert v.combine([("a", v.NOT_MEASURED)]) == (v.NOT_MEASURED, [])
    assert v.combine([("a", v.AGREE), ("b", v.NOT_MEASURED)]) == (v.AGREE, [])


def test_the_bracket_rule_for_meeting_curves():
    a = counts([0.99, 0.90, 0.60, 0.31, 0.10])
    b = counts([0.99, 0.70, 0.40, 0.30, 0.10])
    # apart at 0.1 and 0.2, meet at 0.3: the bracket is (0.2, 0.3)
    assert v.meet_bracket(EPS, a, b) == (0.2, 0.3)
    assert v.in_bracket(0.30, (0.2, 0.3)) == v.AGREE and v.in_bracket(0.25, (0.2, 0.3)) == v.AGREE
    assert v.in_bracket(0.37, (0.2, 0.3)) == v.DISAGREE
    assert v.meet_bracket(EPS, a, a) is None  # never apart
    assert v.in_bracket(0.3, None) == v.DISAGREE
    assert v.meet_bracket(EPS, counts([0.99, 0.9, 0.9, 0.9, 0.9]), counts([0.99, 0.1, 0.1, 0.1, 0.1])) is None


def test_overtaking_steepest_fall_and_flat_from():
    low = counts([0.98, 0.50, 0.40, 0.30, 0.20])
    high = counts([0.97, 0.70, 0.60, 0.50, 0.40])
    assert v.overtake_bracket(EPS, high, low) == (0.0, 0.1)  # above from 0.1 on, for good
    assert v.overtake_bracket(EPS, low, high) is None
    falling = counts([0.99, 0.79, 0.24, 0.15, 0.10])
    assert v.steepest_bracket(EPS, falling) == (0.1, 0.2)
    # two steps of the same size within the intervals: the bracket spans both
    assert v.steepest_bracket(EPS, counts([0.99, 0.60, 0.21, 0.20, 0.20])) == (0.0, 0.2)
    assert v.flat_from(EPS, falling) == (0.3, 0.4)  # 15% and 10% of 1,000 are apart; from 0.4 on it is flat
    assert v.flat_from(EPS, counts([0.99, 0.79, 0.24, 0.11, 0.10])) == (0.2, 0.3)


def test_losses_not_comparable_under_the_seeds_epochs():
    assert v.loss_verdict((0.3, 0.05), (0.203, 0.002), epochs=2) == v.NOT_COMPARABLE
    assert v.loss_verdict((0.3, 0.003), (0.203, 0.002), epochs=50) == v.AGREE
    assert v.loss_verdict((0.3, 0.05), (0.203, 0.002), epochs=50) == v.DISAGREE


def test_count_text_and_the_rule_wording():
    assert Count.of(0.5, 10).text() == "50.0% (23.7-76.3, 10 images)"
    doc = " ".join((v.__doc__ or "").split()).lower()  # the module states the rule; RULE says it the same way
    for words in ("overlap", "wholly above", "0 against 0", "bracket", "Not comparable in this profile"):
        assert words in v.RULE and words.lower() in doc
    with pytest.raises(ValueError):
        Count(11, 10).interval
