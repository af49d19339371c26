"""advlab.course.story: the sentences the notebooks generate from their numbers."""

import json
import math

import pytest

from advlab.course import story
from advlab.evaluation.stats import Z95


def test_wilson_interval_matches_the_closed_form():
    lo, hi = story.interval(0.0, 10)
    assert lo == 0 and math.isclose(hi, Z95**2 / (10 + Z95**2), rel_tol=1e-12)  # k = 0: upper = z^2 / (n + z^2)
    lo, hi = story.interval(0.5, 10)
    assert math.isclose(lo + hi, 1.0) and math.isclose(hi, 0.7634, abs_tol=1e-4)
    lo, hi = story.interval(0.983, 10000)
    assert lo < 0.983 < hi and hi - lo < 0.006
    with pytest.raises(ValueError):
        story.interval(0.1, 0)


def test_rate_and_check_read_true():
    assert story.rate(0.983, 10000) == "98.3% (95% CI 98.0-98.5%, 10,000 images)"
    assert (
        story.check(True, "The curve falls", "from 90% to 10%") == "The curve falls: this run agrees (from 90% to 10%)."
    )
    assert story.check(False, "The curve falls", "it rises") == "The curve falls: **this run disagrees** (it rises)."


def _curve(model, attack, threat, acc):
    return {"model": model, "attack": attack, "threat": threat, "eps": [0.0, 0.1, 0.2, 0.3, 0.4], "acc": acc}


def test_differences_quotes_the_seed_and_judges_each_threat_model():
    results = {
        "models": {"baseline": {"clean_acc": 0.95}},
        "curves": [
            _curve("baseline", "fgsm", "whitebox", [0.99, 0.7, 0.2, 0.1, 0.1]),
            _curve("fgsm_retrained", "fgsm", "whitebox", [0.98, 0.3, 0.1, 0.0, 0.0]),
            _curve("fgsm_untrained", "fgsm", "whitebox", [0.98, 0.2, 0.05, 0.0, 0.0]),
            _curve("baseline", "fgsm", "transfer", [0.99, 0.7, 0.2, 0.1, 0.1]),
            _curve("fgsm_retrained", "fgsm", "transfer", [0.98, 0.97, 0.96, 0.9, 0.5]),
            _curve("fgsm_untrained", "fgsm", "transfer", [0.98, 0.96, 0.9, 0.8, 0.4]),
        ],
    }
    table = story.differences(
        results,
        [("this model achieved 99% accuracy", "baseline_clean"), ("retrained better, untrained worst", "fgsm_ranking")],
    )
    lines = table.splitlines()
    assert lines[0].startswith("| the seed says |") and len(lines) == 4
    assert (
        "\u201cthis model achieved 99% accuracy\u201d" in lines[2]
        and "95.0%: **disagree**" in lines[2]
        and "the same (no attack involved)" in lines[2]
    )
    # white-box: retrained below the baseline (not best), untrained worst -> partly; transfer: retrained
    # best but the baseline, not the untrained model, worst -> partly.
    assert lines[3].count("**partly**") == 2


def test_compute_time_reads_the_measured_timings(tmp_path):
    assert "not measured" in story.compute_time("01_baseline", tmp_path)
    (tmp_path / "report" / "quick").mkdir(parents=True)
    (tmp_path / "report" / "quick" / "timings.json").write_text(json.dumps({"01_baseline": 61.4}))
    text = story.compute_time("01_baseline", tmp_path)
    assert "`quick` 61 s" in text and "smoke" not in text


def test_ordering_judges_by_the_intervals():
    assert story.ordering((0.80, 1000), (0.50, 1000)) == "agree"
    assert story.ordering((0.50, 1000), (0.80, 1000)) == "disagree"
    assert story.ordering((0.52, 100), (0.50, 100)) == "within sampling error"


def test_comparisons_quotes_once_and_says_what_was_not_measured():
    numbers = {
        "whitebox": {"a": (0.9, 1000), "b": (0.1, 1000), "c": (0.5, 500)},
        "transfer": {"a": (0.1, 500), "b": (0.9, 500)},
    }
    table = story.comparisons([("A beats B", [("a", "b"), ("c", "b")])], numbers, {"a": "Model A"})
    lines = table.splitlines()
    assert len(lines) == 4 and lines[2].count("\u201cA beats B\u201d") == 1 and "\u201c" not in lines[3]
    assert "Model A 90.0%" in lines[2] and "**agree**" in lines[2] and "**disagree**" in lines[2]
    assert "not measured under this threat model" in lines[3]
