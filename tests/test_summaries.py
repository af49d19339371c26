"""advlab.course.summaries: each chapter's Summary states this run's numbers, generated from what the chapter
records; and chapter 4's train-attack x test-attack heatmap (advlab.course.plots) shows the same means."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from advlab.course import plots, story, summaries  # noqa: E402
from advlab.course.profiles import config  # noqa: E402

EPS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
CFG = config("smoke")


def curve(model, attack, threat, acc, n=200):
    return {"model": model, "attack": attack, "threat": threat, "eps": EPS, "acc": acc, "n_images": n}


def test_mean_accuracy_over_eps_0_1_to_0_3():
    curves = [curve("baseline", "fgsm", "whitebox", [0.99, 0.6, 0.3, 0.0, 0.1, 0.1])]
    assert summaries.mean_accuracy(curves, "baseline", "fgsm", "whitebox") == pytest.approx(0.3)
    assert summaries.mean_accuracy(curves, "baseline", "fgsm", "whitebox", (0.4, 0.5)) == pytest.approx(0.1)
    assert summaries.mean_accuracy(curves, "baseline", "pgd", "whitebox") is None
    assert summaries.mean_accuracy(curves, "baseline", "fgsm", "whitebox", (0.6, 0.9)) is None


def test_chapter_01_states_the_recorded_accuracy_and_losses():
    text = summaries.chapter_01(
        {"models": {"baseline": {"clean_acc": 0.9731}}, "losses": {"baseline": [0.5, 0.2]}}, CFG
    )
    assert story.rate(0.9731, 10000) in text and "0.500 in epoch 1, 0.200 in epoch 2" in text
    assert f"after {CFG.epochs} epochs on {CFG.n_train:,} training images" in text and "profile `smoke`" in text
    other = summaries.chapter_01({"models": {"baseline": {"clean_acc": 0.5}}, "losses": {}}, CFG)
    assert story.rate(0.5, 10000) in other and "no training loss recorded" in other
    one = summaries.chapter_01({"models": {}, "losses": {"baseline": [0.7]}}, CFG)
    assert "0.700 in its one epoch" in one and "Baseline: not measured" in one


def test_chapter_02_finds_the_largest_fall_the_floor_and_the_grid():
    acc = [0.98, 0.7, 0.2, 0.1, 0.08, 0.09]
    results = {
        "curves": [curve("baseline", "fgsm", "whitebox", acc)],
        "noise": {"eps": EPS, "acc": [0.98, 0.97, 0.9, 0.8, 0.6, 0.5]},
        "collapse": {"eps": EPS, "top_class": [1, 2, 8, 8, 3, 8], "top_share": [0.1, 0.2, 0.5, 0.7, 0.9, 0.85]},
        "grids": {
            "baseline": {
                "eps": [0.0, 0.15, 0.2],
                "label": 5,
                "preds": [[5] * 10, [5] * 7 + [3] * 3, [8] * 10],
                "all_correct_up_to": 0.0,
            }
        },
    }
    text = summaries.chapter_02(results, CFG)
    assert "from 0.1 to 0.2, 70.0% to 20.0%" in text  # the largest fall, not the first one
    assert f"eps 0.1: {story.rate(0.7, 200)}" in text and "between 8.0% and 9.0%" in text
    assert f"noise of the same size at eps 0.2: {story.rate(0.9, 200)}" in text
    assert "90.0% of the attacked images called '3' at eps 0.4" in text
    assert "all 10 correct up to eps 0; at eps 0.15 (the seed's), 7 of 10" in text
    assert "No FGSM curve" in summaries.chapter_02({"curves": []}, CFG)


def test_chapters_03_and_04_tabulate_every_model_under_both_threat_models():
    models = ["baseline", "fgsm_retrained", "fgsm_untrained", "pgd_retrained", "pgd_untrained"]
    curves = [
        curve(m, a, t, [0.99, 0.1 * (i + 1), 0.1 * (i + 1), 0.1 * (i + 1), 0.0, 0.0] if t == "whitebox" else [0.99] * 6)
        for i, m in enumerate(models)
        for a in ("fgsm", "pgd")
        for t in ("whitebox", "transfer")
    ]
    results = {"curves": curves, "models": {m: {"clean_acc": 0.95} for m in models}, "losses": {}}
    three = summaries.chapter_03(results, CFG)
    assert "| FGSM retrained | 20.0% | 99.0% |" in three and "| FGSM untrained | 30.0% | 99.0% |" in three
    four = summaries.chapter_04(results, CFG)
    assert "| PGD untrained | 50.0% | 99.0% | 50.0% | 99.0% |" in four
    assert f"| PGD retrained | {summaries._short(0.4, 200)} | {summaries._short(0.4, 200)} |" in four
    assert story.rate(0.95, 10000) in four


def test_heatmap_shows_the_mean_of_each_model_and_attack_per_threat_model():
    curves = [
        curve("fgsm_retrained", "fgsm", "whitebox", [0.99, 0.3, 0.2, 0.1, 0, 0]),
        curve("fgsm_retrained", "fgsm", "transfer", [0.99, 0.99, 0.98, 0.97, 0, 0]),
        curve("pgd_retrained", "pgd", "whitebox", [0.99, 0.5, 0.4, 0.3, 0, 0]),
    ]
    fig = plots.train_attack_heatmap(curves, ["fgsm_retrained", "pgd_retrained"], title="t")
    white, transfer = fig.axes[0], fig.axes[1]
    assert [t.get_text() for t in white.texts] == ["20", "40"]  # a missing curve is a blank cell
    assert [t.get_text() for t in transfer.texts] == ["98"]
    assert "white-box" in white.get_title() and "transfer" in transfer.get_title()
    assert [t.get_text() for t in white.get_xticklabels()] == ["FGSM", "PGD"]
    plt.close(fig)
