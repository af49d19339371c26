"""advlab.course.story: the sentences the notebooks generate from their numbers."""

import json
import math

import pytest

from advlab.course import scorecard, story
from advlab.evaluation import verdict
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


EPS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]


def _curve(model, attack, threat, acc, n=2000):
    return {"model": model, "attack": attack, "threat": threat, "eps": EPS, "acc": acc, "n_images": n}


def _robust(acc, n=1000):
    return {"eps": 0.3, "n_images": n, "robust_acc": acc, "attacks": {}}


def course_results():
    """A whole course's results (the numbers of a quick run, rounded), as the report merges them."""
    fgsm = {
        "baseline": [0.984, 0.735, 0.175, 0.074, 0.075, 0.078, 0.079, 0.079, 0.077, 0.071],
        "fgsm_retrained": [0.984, 0.343, 0.034, 0.004, 0.0, 0.0, 0.0, 0.001, 0.015, 0.063],
        "fgsm_untrained": [0.947, 0.169, 0.022, 0.005, 0.002, 0.004, 0.009, 0.012, 0.032, 0.052],
        "pgd_retrained": [0.975, 0.708, 0.398, 0.133, 0.052, 0.04, 0.052, 0.07, 0.083, 0.093],
    }
    transfer = {
        "baseline": fgsm["baseline"],
        "fgsm_retrained": [0.984, 0.992, 0.991, 0.988, 0.967, 0.823, 0.483, 0.223, 0.138, 0.104],
        "fgsm_untrained": [0.947, 0.983, 0.983, 0.977, 0.935, 0.789, 0.54, 0.346, 0.252, 0.219],
        "pgd_retrained": [0.975, 0.974, 0.968, 0.933, 0.789, 0.48, 0.259, 0.191, 0.159, 0.149],
    }
    pgd = {
        "baseline": [0.984, 0.274, 0.002] + [0.0] * 7,
        "fgsm_retrained": [0.98, 0.004] + [0.0] * 8,
        "pgd_retrained": [0.974, 0.434] + [0.0] * 8,
    }
    curves = [_curve(m, "fgsm", "whitebox", a) for m, a in fgsm.items()]
    curves += [_curve(m, "fgsm", "transfer", a) for m, a in transfer.items()]
    curves += [_curve(m, "pgd", t, a, 500) for m, a in pgd.items() for t in ("whitebox", "transfer")]
    curves += [_curve(m, "pgd", "transfer", [0.98, 0.97, 0.97, 0.968] + [0.1] * 6, 500) for m in ("fast_adv",)]
    grid = [[5] * 10, [5] * 10, [8, 5, 5, 0, 5, 5, 8, 5, 5, 5], [8, 8, 5, 8, 8, 8, 8, 8, 8, 8]] + [[8] * 10] * 5
    return {
        "models": {
            "baseline": {"clean_acc": 0.9883, "robust_eval": _robust(0.0)},
            "fgsm_retrained": {"clean_acc": 0.9835, "robust_eval": _robust(0.0)},
            "fgsm_untrained": {"clean_acc": 0.9477},
            "pgd_retrained": {"clean_acc": 0.9769, "robust_eval": _robust(0.0)},
            "fast_adv": {"clean_acc": 0.9843, "robust_eval": _robust(0.334)},
            "fast_pgd_adv": {"clean_acc": 0.9825, "robust_eval": _robust(0.826)},
        },
        "curves": curves,
        "losses": {"fgsm_retrained": [0.269, 0.055], "fgsm_untrained": [0.447, 0.093]},
        "grids": {"baseline": {"eps": [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5], "preds": grid, "label": 5}},
        "collapse": {"eps": EPS, "top_class": [9] + [8] * 9, "top_share": [0.11, 0.18, 0.72, 0.9] + [0.98] * 6},
    }


def _verdict(rows, claim_id, threat="whitebox"):
    return next(r for r in rows if r["id"] == claim_id)["ours"][threat]


def test_the_course_scorecard_covers_every_chapter_with_quotes():
    rows = story.verdicts(course_results())
    assert len(rows) >= 20 and {r["chapter"] for r in rows} == {"01", "02", "03", "04", "05"}
    assert len({r["id"] for r in rows}) == len(rows) and len({r["quote"] for r in rows}) == len(rows)
    for r in rows:
        assert len(r["quote"]) > 10 and r["claim"] and r["seed"] and r["ours"]
        assert all(o["verdict"] in verdict.VERDICTS and o["text"] for o in r["ours"].values())
    explained = [r for r in rows if r["ours"].get("all", {}).get("verdict") == verdict.EXPLAINED]
    assert len(explained) >= 3 and all(r["ours"]["all"]["text"].endswith(".") for r in explained)


def test_the_chapters_verdicts_are_the_reports_rows():
    results = course_results()
    whole = scorecard.scorecard(results)
    for chapter in ("01", "02", "03", "04", "05"):
        assert story.verdicts(results, chapter) == [r for r in whole if r["chapter"] == chapter]


def test_the_verdicts_the_issue_found_wrong():
    rows = story.verdicts(course_results())
    # 73.5% -> 17.5% is the steepest step, where the seed's 79% -> 24% is
    assert _verdict(rows, "fgsm_steepest")["verdict"] == "agree"
    # the PGD-trained model above the FGSM-trained one at every eps: the direction holds, not the eps
    overtakes = _verdict(rows, "pgd_overtakes_fgsm")
    assert overtakes["verdict"] == "partly" and overtakes["failing"] == ["overtakes at about eps 0.15"]
    # below the baseline at 0.1 (70.8% vs 73.5%): said so
    above = _verdict(rows, "pgd_above_baseline_to_033")
    assert above["verdict"] == "partly" and "not at eps 0.1" in above["failing"][0]
    # static training: 0.0% against 0.0% white-box is no robustness at all, not "within sampling error"
    helps = _verdict(rows, "fgsm_training_helps")
    assert helps["verdict"] == "partly" and helps["failing"] == ["FGSM retrained above Baseline"]
    assert "neither keeps a single image" in helps["text"]
    # the grid is judged on its ten images: 1 of 10 correct up to 0.15 against the seed's 10 of 10
    grid = _verdict(rows, "grid_baseline")
    assert grid["verdict"] == "disagree" and grid["text"] == "1 of 10 correct up to eps 0.15"
    assert _verdict(rows, "loss_retrained", "all")["verdict"] == verdict.NOT_COMPARABLE  # 2 epochs, not 50
    assert _verdict(rows, "pgd_restarts")["verdict"] == "not measured"


def test_show_and_differences_give_one_line_per_claim_and_the_rule(capsys):
    results = course_results()
    story.show(story.verdicts(results, "02"))
    out = capsys.readouterr().out
    assert out.count("\n- \u201c") + out.startswith("- \u201c") == len(story.verdicts(results, "02"))
    assert "*The rule.*" not in out  # stated once per chapter, under its table
    assert verdict.RULE in story.differences(results, "03")
    table = story.differences(results, "03").splitlines()
    assert table[0].startswith("| the seed says |") and "the same (no attack involved)" in table[2]
    # the old call, (quote, claim id) pairs, still reads the claims' ids
    assert "98.8%" in story.differences(results, [("With the MNIST testing dataset", "baseline_clean")])


def test_compute_time_reads_the_measured_timings(tmp_path):
    assert "not measured" in story.compute_time("01_baseline", tmp_path)
    (tmp_path / "report" / "quick").mkdir(parents=True)
    (tmp_path / "report" / "quick" / "timings.json").write_text(json.dumps({"01_baseline": 61.4}))
    text = story.compute_time("01_baseline", tmp_path)
    assert "`quick` 61 s" in text and "smoke" not in text
