"""Chapter 5's generated text and figures: the guard curves read, gradient masking claimed only with evidence,
APGD-T described from the settings, published figures beside ours, the summary, and a frontier whose labels
do not overlap."""

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from advlab.course import on_the_fly_plots, on_the_fly_story, published  # noqa: E402
from advlab.course.plots import frontier  # noqa: E402
from advlab.course.profiles import config  # noqa: E402


def _history(accs, stopped=None):
    return {"epochs": [{"epoch": i + 1, "guard_acc": a} for i, a in enumerate(accs)], "stopped": stopped}


def test_apgd_t_targets_follow_the_settings():
    assert "3 most likely wrong classes" in on_the_fly_story.apgd_t_targets({"apgd_t": {"n_target_classes": 3}})
    assert on_the_fly_story.apgd_t_targets({"apgd_t": {"n_target_classes": 9}}).startswith("each of the 9 other")
    assert "not run" in on_the_fly_story.apgd_t_targets({"apgd_ce": {}})


def test_guard_reading_tells_undertrained_from_levelled_off():
    rising = on_the_fly_story.guard_reading("fast_adv", _history([0.004, 0.052, 0.284, 0.476, 0.548]), 500, 0.3)
    assert "still rising at the last epoch" in rising and "undertrained" in rising and "238/500" in rising
    flat = on_the_fly_story.guard_reading("fast_adv", _history([0.5, 0.876, 0.882]), 500, 0.3)
    assert "no evidence that it was still improving" in flat and "undertrained" not in flat  # 438 -> 441 of 500
    stopped = on_the_fly_story.guard_reading("fast_adv", _history([0.5, 0.1], "catastrophic overfitting"), 500, 0.3)
    assert "Training stopped: catastrophic overfitting" in stopped
    assert "no trend" in on_the_fly_story.guard_reading("fast_adv", _history([0.5]), 500, 0.3)


def _landscape(above, k_step, n=100):
    return {"n_images": n, "gradient_above_random": above, "wrong_at_eps": {"gradient": k_step}, "eps": 0.3}


def _robust(k_robust, n=100):
    return {"per_attack": {"apgd_t": {"per_image_robust": [True] * k_robust + [False] * (n - k_robust)}}}


def test_masking_is_claimed_only_with_evidence():
    masked = on_the_fly_story.masking_reading("fast_adv", _landscape(48, 5), _robust(40))
    assert "masked gradient" in masked and "no sign" not in masked
    curved = on_the_fly_story.masking_reading("fast_adv", _landscape(97, 6), _robust(40))
    assert "no sign of a masked gradient" in curved and "clearly fewer" in curved and "6.0% (6/100)" in curved
    linear = on_the_fly_story.masking_reading("pgd_retrained", _landscape(99, 90), _robust(5))
    assert "about as much as APGD" in linear


def test_published_rows_carry_their_sources_and_ours_its_interval():
    rows = published.published_rows()
    wong = [r for r in rows if r["who"].startswith("[Wong") and r["attack"] == "AutoAttack"]
    assert wong and wong[0]["acc"] == 82.93 and "auto-attack" in wong[0]["from"]
    assert all("](" in r["from"] for r in rows)  # every published number has its link
    cfg = config("smoke")
    evaluated = {
        "fast_pgd_adv": {
            "clean_acc": 0.98,
            "robust_eval": {"robust_acc": 0.8, "n_images": 1000, "evaluation": "FGSM, APGD-CE"},
        }
    }
    info = {"params": {"method": "pgd", "steps": 3, "alpha": 0.1}, "history": {"epochs": [{}] * 4}}
    table = published.beside_ours(evaluated, {"fast_pgd_adv": info}, cfg)
    assert "PGD-3 of step 0.1 on the fly, 4 epochs" in table and "80.0%** (95% Wilson interval 77.4-82.4%)" in table
    assert "AutoAttack: **82.93%**" in table and table.count("\n") == len(published.PUBLISHED) + 2


def test_summary_states_this_runs_numbers():
    cfg = config("quick")

    def model(robust, clean=0.98):
        return {
            "clean_acc": clean,
            "robust_eval": {"robust_acc": robust, "n_images": 1000, "eps": 0.3, "evaluation": "E"},
        }

    evaluated = {"baseline": model(0.0), "fast_adv": model(0.334), "fast_pgd_adv": model(0.826)}
    histories = {"fast_adv": _history([0.004, 0.052, 0.284, 0.476, 0.548]), "fast_pgd_adv": _history([0.6, 0.6])}
    text = on_the_fly_story.summary(cfg, evaluated, ["fast_adv", "fast_pgd_adv"], histories, {"fast_adv": 0.694})
    assert "**Few-step PGD (on the fly)**, 82.6% of 1000" in text and "95% interval 80.1-84.8%" in text
    assert "36.0 points too high" in text and "Baseline 0.0%" in text
    assert "Fast adversarial (on the fly): its guard was still rising" in text
    assert "88.50%" in text and "82.93%" in text  # the published AutoAttack figures, from course.published


@pytest.mark.parametrize("n", [3, 11])
def test_frontier_labels_do_not_overlap(n):
    rows = [
        {
            "label": f"run_{i}_with_a_long_name",
            "passes": 12 + (i % 3),
            "robust_acc": 0.80 + 0.002 * i,
            "interval": [0.78, 0.84],
            "clean_acc": 0.98,
            "group": "bench" if i % 2 else "this run",
        }
        for i in range(n)
    ]
    fig = frontier(rows, "t", seconds_per_pass=2.0)
    fig.canvas.draw()
    boxes = [Text.get_window_extent(t) for t in fig.axes[0].texts]  # the label's own box, not its leader line
    assert len(boxes) == n
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1 :] if a.overlaps(b)]


def test_chapter5_figures_draw():
    histories = {"fast_adv": _history([0.1, 0.4]), "fast_pgd_adv": _history([0.2, 0.7])}
    assert len(on_the_fly_plots.guard_curves(histories, 500, "t").axes[0].lines) >= 2
    rec = {"t": [0.0, 0.3], "gradient": [0.1, 0.5], "random": [0.1, 0.12]}
    assert len(on_the_fly_plots.loss_along_directions({"fast_adv": rec, "baseline": rec}, "t").axes) == 2
    c = {"model": "fast_pgd_adv", "eps": [0.0, 0.3], "acc": [0.98, 0.9], "n_images": 100, "threat": "whitebox"}
    fig = on_the_fly_plots.apgd_beside_pgd([c], [{**c, "acc": [0.98, 0.8]}], {"fast_pgd_adv": (0.3, 0.78, 1000)}, "t")
    assert len(fig.axes[0].get_legend().get_texts()) == 3


def test_explorers_leave_apgd_curves_to_the_tables():
    """The report's explorers craft FGSM and PGD examples only: an APGD-CE curve gets no explorer view."""
    from pathlib import Path

    from advlab.course import frames

    apgd = {"model": "fast_pgd_adv", "attack": "apgd", "threat": "whitebox", "eps": [0.0, 0.3], "acc": [0.98, 0.8]}
    root = Path(__file__).resolve().parents[1]
    assert frames.build({"curves": [apgd]}, root) is None
    data = frames.build({"curves": [apgd, {**apgd, "attack": "pgd"}]}, root)
    assert list(data["views"]) == ["fast_pgd_adv|pgd|whitebox"]


def test_the_outline_names_the_apgd_curves():
    from advlab.course import outline

    text = " ".join(outline.describe("quick").split())
    assert "white-box APGD-CE curves (100 steps, 500 images) of fast_pgd_adv" in text
