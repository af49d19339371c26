"""The report of a run over several training seeds, from two seeds' synthetic parts built in a temporary folder:
the spread of every number, the scorecard judged per seed, chapter 5's conclusions seed by seed, the page."""

import json
import math
import shutil
import time
import types

import pytest
from markupsafe import escape
from test_report import synthetic_parts

from advlab.core.errors import AdvlabError
from advlab.core.io import write_json
from advlab.course import records
from advlab.evaluation import spread
from advlab.report import build as report
from advlab.report import seeds as seeds_report

PROFILE = "test"


def _seed_parts(root, tmp, seed, change):
    """Seed ``seed``'s parts in the run-over-seeds layout, with ``change(parts folder)`` applied to them."""
    synthetic_parts(tmp, PROFILE)
    src = tmp / "report" / PROFILE
    dst = report.seed_dir(PROFILE, root, seed)
    dst.mkdir(parents=True)
    shutil.move(src / "parts", dst / "parts")
    shutil.move(src / "timings.json", dst / "timings.json")
    shutil.move(tmp / "figures" / PROFILE, root / "figures" / PROFILE / "seeds" / str(seed))
    change(dst / "parts")


def _edit(parts, name, edit):
    p = parts / f"{name}.json"
    part = json.loads(p.read_text())
    edit(part)
    write_json(p, part)


def _over_report(robust_images):
    """Fast adversarial's robust evaluation with an APGD record: its PGD curve (60% at eps 0.3 on 100 images) is
    ``60 - robust_images`` points above APGD on the same images."""

    def edit(part):
        r = part["models"]["fast_adv"]["robust_eval"]
        r["per_attack"] = {"apgd_ce": {"per_image_robust": [i < robust_images for i in range(100)]}}

    return edit


def _seed0(parts):
    _edit(parts, "05_on_the_fly_adversarial_training", _over_report(50))


def _seed1(parts):
    """Another training run: the baseline at 90% clean (the seed says 99%), fast adversarial no more robust
    than the baseline, its PGD curve no longer over-reporting."""

    def baseline(part):
        part["models"]["baseline"]["clean_acc"] = 0.90

    def on_the_fly(part):
        baseline(part)
        part["models"]["baseline"]["robust_eval"]["clean_acc"] = 0.90
        part["models"]["fast_adv"]["robust_eval"]["robust_acc"] = 0.0
        _over_report(60)(part)

    def curves(part):
        baseline(part)
        part["curves"][0]["acc"] = [0.98, 0.6, 0.3, 0.1, 0.05, 0.0, 0.0, 0.0, 0.0, 0.0]  # white-box FGSM

    _edit(parts, "01_baseline", baseline)
    _edit(parts, "02_fgsm_attack", curves)
    _edit(parts, "05_on_the_fly_adversarial_training", on_the_fly)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("repo")
    _seed_parts(root, tmp_path_factory.mktemp("s0"), 0, _seed0)
    _seed_parts(root, tmp_path_factory.mktemp("s1"), 1, _seed1)
    executor = {"name": "ray", "version": "2.60.0", "address": "local", "workers": 2}
    page = report.build_report(PROFILE, root=root, seeds=[0, 1], executor=executor)
    results = json.loads((root / "report" / PROFILE / "results.json").read_text())
    return root, page.read_text(), results


def test_spread_of_values():
    s = spread.spread([0.9, 0.8], 100)
    assert s["values"] == [0.9, 0.8] and s["n_images"] == 100
    assert s["mean"] == pytest.approx(0.85) and s["sd"] == pytest.approx(math.sqrt(0.005))
    assert (s["min"], s["max"]) == (0.8, 0.9)
    assert spread.spread([0.5])["sd"] == 0.0
    with pytest.raises(ValueError, match="one value per seed"):
        spread.spread([])


def test_results_keep_seeds_executor_and_first_seeds_numbers(built):
    root, _, results = built
    assert results["seeds"] == [0, 1]
    assert results["executor"] == {"name": "ray", "version": "2.60.0", "address": "local", "workers": 2}
    first = report.collect(PROFILE, root, seed=0)
    assert results["models"]["baseline"]["clean_acc"] == first["models"]["baseline"]["clean_acc"] == 0.99
    assert results["curves"] == json.loads(json.dumps(first["curves"]))


def test_per_seed_records(built):
    _, _, results = built
    per = results["per_seed"]
    clean = per["models.baseline.clean_acc"]
    assert clean["values"] == [0.99, 0.90] and clean["n_images"] == 10000
    assert clean["mean"] == pytest.approx(0.945) and clean["sd"] == pytest.approx(0.0636396, abs=1e-6)
    assert (clean["min"], clean["max"]) == (0.90, 0.99)
    assert per["models.fast_adv.robust.worst"]["values"] == [0.70, 0.0]
    assert per["headline.worst_case"]["values"] == [0.70, 0.0]
    point = per["curves.baseline.fgsm.whitebox@0.1"]
    assert point["values"] == [0.80, 0.60] and point["n_images"] == 100
    same = per["curves.baseline.fgsm.transfer@0.1"]
    assert same["values"] == [0.80, 0.80] and same["sd"] == 0.0
    assert all(len(r["values"]) == 2 for r in per.values())
    assert any(r["sd"] > 0 for r in per.values())
    assert "models.pgd_untrained.robust.pgd40x10_ce" in per


def test_scorecard_judged_per_seed(built):
    root, _, results = built
    alone = {k: {r["id"]: r for r in report.collect(PROFILE, root, seed=k)["scorecard"]} for k in (0, 1)}
    differing = 0
    for row in results["scorecard"]:
        for threat, cell in row["ours"].items():
            verdicts = [alone[k][row["id"]]["ours"][threat]["verdict"] for k in (0, 1)]
            assert cell["seeds"]["verdicts"] == verdicts
            assert cell["verdict"] == verdicts[0]
            agree = verdicts.count("agree")
            assert cell["seeds"]["text"] == f"agrees in {agree} of 2 seeds"
            differing += verdicts[0] != verdicts[1]
    assert differing, "seed 1's baseline at 90% must change some verdict"
    tallies = results["seed_tally"]["per_seed"]
    assert set(tallies) == {"0", "1"} and tallies["0"] != tallies["1"]
    assert results["seed_tally"]["spread"]["agree"]["values"] == [
        tallies["0"].get("agree", 0),
        tallies["1"].get("agree", 0),
    ]


def test_chapter_5_conclusions_per_seed(built):
    _, _, results = built
    by_claim = {c["claim"]: c for c in results["conclusions"]}
    over = next(c for claim, c in by_claim.items() if "over-reports" in claim)
    assert over["holds"] == [True, False]
    assert over["text"].startswith("Holds in 1 of 2 seeds (not in seed(s) 1)")
    above = next(c for claim, c in by_claim.items() if "more robust than the baseline" in claim)
    assert above["holds"] == [True, False]


def test_curve_bands_from_the_per_seed_curves(built):
    root, _, _ = built
    by_seed = {k: report.collect(PROFILE, root, seed=k) for k in (0, 1)}
    band = seeds_report.curve_bands(by_seed)[("fgsm", "whitebox")]["baseline"]
    i = band["eps"].index(0.1)
    assert (band["mean"][i], band["min"][i], band["max"][i]) == (pytest.approx(0.7), 0.6, 0.8)
    del by_seed[1]["curves"][0]  # a curve one seed lacks has no band
    assert "baseline" not in seeds_report.curve_bands(by_seed).get(("fgsm", "whitebox"), {})


def test_holds_text():
    assert seeds_report.holds_text("x", [True, True], [0, 1]) == "Holds in every seed (2 of 2): x."
    assert seeds_report.holds_text("x", [None, None], [0, 1]) == "Not measured: x."
    text = seeds_report.holds_text("x", [True, None, False], [0, 1, 2])
    assert text == "Holds in 1 of 3 seeds (not in seed(s) 2; not measured in seed(s) 1): x."


def test_page_shows_spreads_scorecard_seeds_and_band(built):
    root, page, results = built
    assert "Over training seeds" in page and "href='#seeds'" in page
    assert "Every other section of this page shows seed 0" in page
    assert "explorers attack seed\n0" in page or "explorers attack seed 0" in page
    assert seeds_report.spread_text(results["per_seed"]["models.baseline.clean_acc"]) == "94.5% \u00b1 6.4 (90.0-99.0)"
    assert "94.5% \u00b1 6.4 (90.0-99.0)" in page
    assert "99.0% (98.8-99.2)" in page and "90.0% (89.4-90.6)" in page  # each seed's Wilson interval
    assert "agrees in 1 of 2 seeds" in page
    first = "Trained with 2 seeds (0, 1); the page shows seed 0's numbers; the best on-the-fly model's worst case"
    assert str(escape(first)) in page
    assert "Holds in 1 of 2 seeds" in page
    assert "ray 2.60.0 (local), 2 worker(s)" in page
    assert results["seed_figure"] == f"figures/{PROFILE}/seeds_curves.png"
    assert (root / results["seed_figure"]).read_bytes()[:4] == b"\x89PNG"
    assert 'alt="Accuracy curves over training seeds"' in page


def test_one_seed_report_unchanged(tmp_path):
    synthetic_parts(tmp_path, PROFILE)
    page = report.build_report(PROFILE, root=tmp_path, export=False).read_text()
    results = json.loads((tmp_path / "report" / PROFILE / "results.json").read_text())
    assert not {"seeds", "executor", "per_seed", "conclusions"} & set(results)
    assert "Over training seeds" not in page and "agrees in" not in page and "\u00b1" not in page


def test_one_seed_run_by_a_scheduler_records_its_executor(tmp_path):
    synthetic_parts(tmp_path, PROFILE)
    executor = {"name": "ray", "version": "2.60.0", "address": "embedded (local instance)", "workers": 2}
    page = report.build_report(PROFILE, root=tmp_path, export=False, executor=executor).read_text()
    results = json.loads((tmp_path / "report" / PROFILE / "results.json").read_text())
    assert results["executor"] == executor and "seeds" not in results and "per_seed" not in results
    assert "name ray, version 2.60.0, address embedded (local instance), workers 2" in page


def test_missing_seed_says_what_to_do(tmp_path):
    with pytest.raises(AdvlabError, match=r"seed\(s\) 3 .*run them first \(python run_all.py --seeds"):
        report.build_report(PROFILE, root=tmp_path, seeds=[3])
    with pytest.raises(AdvlabError, match="no seed given"):
        report.build_report(PROFILE, root=tmp_path, seeds=[])


def test_chapter_5_states_its_conclusions_over_the_seeds_of_its_run(built, monkeypatch):
    """The text chapter 5 shows (``across_seeds``): every seed of the run whose chapter 5 recorded its numbers
    since the run started; a seed not yet recorded named; a run of one seed says how to run several."""
    root, _, _ = built
    cfg = types.SimpleNamespace(profile=PROFILE, seed=0)
    monkeypatch.delenv(records.SEEDS_ENV, raising=False)
    assert report.across_seeds(cfg, root).startswith("This run trained one seed (seed 0)")
    monkeypatch.setenv(records.SEEDS_ENV, "0,1")
    monkeypatch.setenv("ADVLAB_FORCE_SINCE", "0")
    text = report.across_seeds(cfg, root)
    assert "This run trained 2 seeds (0, 1)" in text and "each of the 2 seed(s)" in text
    assert "- Holds in 1 of 2 seeds (not in seed(s) 1): " in text and "over-reports" in text
    assert "Not yet recorded" not in text
    monkeypatch.setenv("ADVLAB_FORCE_SINCE", repr(time.time() + 3600))  # seed 1's chapter 5 is from an older run
    text = report.across_seeds(cfg, root)
    assert "each of the 1 seed(s)" in text and "Holds in every seed (1 of 1)" in text
    assert text.endswith("Not yet recorded in this run (still running, or failed): seed(s) 1.")
