"""The whole course end to end on the smoke profile over two training seeds, on Ray embedded, as a user runs it:
`python run_all.py --profile smoke --seeds 0,1`.

Artifacts (models, sets, curves) go to a temporary folder (ADVLAB_ARTIFACTS), so everything is computed
afresh; the executed notebooks land in report/smoke/seeds/<k>/, the figures in figures/smoke/seeds/<k>/ and
the report (seed 0's numbers with every number's spread over the two seeds) in report/smoke/ as for a user.
Seed 1 is checked against the single-process path (`--set seed=1 --executor local`). Takes a few minutes
on 2 CPU cores. Deselect with `pytest -m "not slow"`. (The layout of a run of one seed: tests/test_pretrained.py.)
"""

import json
import os
import re
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest
import torch
from processes import left_behind, marked_env
from test_scheduler import finish, stand_in_repo, start

from advlab.course.pipeline import ATTACKS, FIGURES, MODELS, NOTEBOOKS, THREATS
from advlab.course.profiles import config
from advlab.course.registry import model_key
from advlab.evaluation.model_checks import MODEL_CHECKS
from advlab.evaluation.sanity import DESCRIPTIONS
from advlab.report import page as report_page
from advlab.report.names import check_name

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "report" / "smoke"
SEEDS = (0, 1)
SEED_DIR = {k: REPORT / "seeds" / str(k) for k in SEEDS}


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    """The run, its start time, its artifacts folder and the processes it left behind."""
    missing = [nb for nb in NOTEBOOKS if not (ROOT / "notebooks" / f"{nb}.ipynb").exists()]
    if missing:
        pytest.fail(f"notebooks missing: {missing}")
    artifacts = tmp_path_factory.mktemp("artifacts")
    env = marked_env({**os.environ, "ADVLAB_ARTIFACTS": str(artifacts)})
    start = time.time() - 1
    args = [sys.executable, "run_all.py", "--profile", "smoke", "--seeds", ",".join(map(str, SEEDS))]
    run = subprocess.Popen(args, cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           start_new_session=True)  # fmt: skip
    out, err = run.communicate(timeout=1800)
    proc = subprocess.CompletedProcess(args, run.returncode, out, err)
    return types.SimpleNamespace(proc=proc, start=start, artifacts=artifacts, left=left_behind(run.pid, env))


@pytest.mark.slow
def test_run_all_smoke_succeeds(smoke_run):
    proc, start = smoke_run.proc, smoke_run.start
    assert proc.returncode == 0, f"run_all failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "seeds 0, 1, executor ray" in proc.stdout
    for k in SEEDS:
        done = " ".join(re.findall(rf"^\[seed {k}\] notebooks done: (.*)$", proc.stdout, re.M))  # the driver's lines
        for nb in NOTEBOOKS:
            assert f"{nb} " in done, f"seed {k}: {nb} not reported done"
            made = [SEED_DIR[k] / f"{nb}.ipynb", SEED_DIR[k] / "parts" / f"{nb}.json"]
            made += [SEED_DIR[k] / f"{nb}.html"] if k == SEEDS[0] else []  # the page links the first seed's
            for path in made:
                assert path.exists() and path.stat().st_mtime >= start, f"{path} was not written by this run"
        assert set(NOTEBOOKS) <= set(json.loads((SEED_DIR[k] / "timings.json").read_text()))
        trainings = json.loads((SEED_DIR[k] / "trainings.json").read_text())
        assert {"baseline", "fgsm_retrained", "fast_adv"} <= set(trainings), trainings
    assert "report/smoke/index.html" in proc.stdout


@pytest.mark.slow
def test_no_ray_process_or_folder_is_left_and_the_logs_are_kept(smoke_run):
    assert smoke_run.proc.returncode == 0
    assert smoke_run.left == {}, f"processes outlived run_all: {smoke_run.left}"
    kept = list((smoke_run.artifacts / "ray").glob("session_*/raylet.out"))
    assert kept, "Ray's logs were not kept under artifacts/ray/"
    session = kept[0].parent.name
    assert not list(Path("/tmp").glob(f"advlab-ray-*/{session}")), "Ray's temporary folder was left behind"


@pytest.mark.slow
def test_smoke_results_schema(smoke_run):
    proc = smoke_run.proc
    assert proc.returncode == 0
    results = json.loads((REPORT / "results.json").read_text())
    assert results["profile"] == "smoke" and results["device"]
    assert set(NOTEBOOKS) <= set(results["seconds"])
    for model in MODELS + ["fast_adv", "fast_pgd_adv"]:
        m = results["models"][model]
        assert isinstance(m["clean_acc"], float), model
        r = m["robust_eval"]
        assert (
            r["eps"] == 0.3
            and r["n_images"] == 100
            and set(r["attacks"]) == {"fgsm", "pgd5x2_ce", "pgd5x1_cw", "apgd_ce", "apgd_t"}
        )
        assert 0 <= r["robust_acc"] <= min(min(r["attacks"].values()), r["clean_acc"]), model
        assert set(m["sanity"]) >= {"noise_hurts_less", "label_leaking", "pgd_not_weaker_than_fgsm"}
        assert all(isinstance(c["passed"], bool) and c["detail"] for c in m["sanity"].values())
    assert results["on_the_fly"]["fast_adv"]["epochs"], "no training history of the fast model"
    assert [c["width"] for c in results["capacity"]] == [1, 2]
    have = {(c["model"], c["attack"], c["threat"]) for c in results["curves"]}
    for model in MODELS + ["fast_adv"]:
        for attack in ATTACKS:
            for threat in THREATS:
                assert (model, attack, threat) in have, f"no curve for {model} / {attack} / {threat}"
    for c in results["curves"]:
        assert len(c["eps"]) == len(c["acc"]) > 0 and all(0.0 <= a <= 1.0 for a in c["acc"])
    for model in ("fgsm_retrained", "fgsm_untrained", "pgd_retrained", "pgd_untrained"):
        assert results["losses"][model], model
    assert results["attack_settings"]
    assert results["scorecard"] and results["sanity"]


@pytest.mark.slow
def test_every_number_has_its_spread_over_the_two_seeds(smoke_run):
    assert smoke_run.proc.returncode == 0
    results = json.loads((REPORT / "results.json").read_text())
    assert results["seeds"] == list(SEEDS)
    ex = results["executor"]
    assert ex["name"] == "ray" and ex["version"] and ex["address"] and ex["workers"] >= 1
    per = results["per_seed"]
    assert "models.baseline.clean_acc" in per and "headline.worst_case" in per
    for record in per.values():
        assert len(record["values"]) == len(SEEDS)
        assert record["min"] <= record["mean"] <= record["max"] and record["sd"] >= 0
    assert any(r["sd"] > 0 for r in per.values()), "two seeds trained the same models"
    first = json.loads((SEED_DIR[0] / "parts" / "01_baseline.json").read_text())
    assert per["models.baseline.clean_acc"]["values"][0] == first["models"]["baseline"]["clean_acc"]
    cells = [c for row in results["scorecard"] for c in row["ours"].values()]
    assert cells and all(c["seeds"]["text"].endswith(f"of {len(SEEDS)} seeds") for c in cells)
    assert results["conclusions"] and all(len(c["holds"]) == len(SEEDS) for c in results["conclusions"])
    page = (REPORT / "index.html").read_text()
    assert "Over training seeds" in page and "\u00b1" in page and "agrees in" in page


@pytest.mark.slow
def test_chapter_5_judges_its_conclusions_in_both_seeds(smoke_run):
    """The first seed's chapter 5 (the one the report links) ran after seed 1's, and says which conclusions hold
    in each seed, as the report does."""
    assert smoke_run.proc.returncode == 0
    nb = json.loads((SEED_DIR[0] / f"{NOTEBOOKS[-1]}.ipynb").read_text())
    shown = "".join(
        "".join(o.get("data", {}).get("text/markdown", "")) for c in nb["cells"] for o in c.get("outputs", [])
    )
    assert "This run trained 2 seeds (0, 1); this notebook is seed 0's." in shown
    assert "each of the 2 seed(s)" in shown and "Not yet recorded" not in shown
    results = json.loads((REPORT / "results.json").read_text())
    for c in results["conclusions"]:
        assert f"- {c['text']}" in shown


@pytest.mark.slow
def test_seed_1_on_ray_equals_the_single_process_path(smoke_run, tmp_path):
    """Seed 1's baseline and chapter-1 numbers from the run on Ray against `--set seed=1 --executor local`, in a
    stand-in repository (its own cache and report): the same weights, bit for bit, and the same numbers."""
    assert smoke_run.proc.returncode == 0
    local = stand_in_repo(tmp_path / "local")
    args = ["--profile", "smoke", "--only", "01", "--no-report", "--set", "seed=1", "--executor", "local"]
    code, _, err = finish(start(local, *args))
    assert code == 0, err[-3000:]
    key = model_key(config("smoke", seed=1), "baseline")
    a = torch.load(smoke_run.artifacts / "models" / f"{key}.pt", weights_only=False)["state_dict"]
    b = torch.load(local / "artifacts" / "models" / f"{key}.pt", weights_only=False)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    def numbers(part: Path) -> dict:
        p = json.loads(part.read_text())
        return {k: p[k] for k in ("models", "losses")}

    seeded = SEED_DIR[1] / "parts" / "01_baseline.json"
    assert numbers(seeded) == numbers(local / "report" / "smoke" / "parts" / "01_baseline.json")
    figure = json.loads(seeded.read_text())["figures"][0]["path"]
    assert figure == "figures/smoke/seeds/1/01_baseline_loss.png" and (ROOT / figure).exists()


@pytest.mark.slow
def test_smoke_figures_and_page(smoke_run):
    proc, start = smoke_run.proc, smoke_run.start
    assert proc.returncode == 0
    for k in SEEDS:
        for name in FIGURES:
            path = ROOT / "figures" / "smoke" / "seeds" / str(k) / f"{name}.png"
            assert path.exists() and path.stat().st_mtime >= start, f"figure {name} of seed {k} was not made"
    page = (REPORT / "index.html").read_text()
    # every figure of the seed the page shows, and the curves' band over the seeds
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == len(FIGURES) + 1
    for nb in NOTEBOOKS:
        assert f"href='seeds/0/{nb}.html'" in page


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _playwright():
    """Playwright's sync API, or a skip saying what is missing (CI installs both: see .ci/run)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the browser test needs the playwright package (pip install -e '.[test]')")
    if not CHROMIUM.exists():
        pytest.skip(f"the browser test needs Chromium at {CHROMIUM} (apt-get install chromium)")
    return sync_playwright


@pytest.mark.slow
def test_explorer_works_offline_in_a_browser(smoke_run):
    """report/smoke/index.html opened from disk in headless Chromium, every non-file request blocked:
    moving the eps slider (arrow keys, End) and changing the model change the images, the readout and
    the curve's marker; the readout shows the recorded accuracy; no console error, nothing fetched."""
    sync_playwright = _playwright()
    assert smoke_run.proc.returncode == 0
    results = json.loads((REPORT / "results.json").read_text())
    curves = {(c["model"], c["attack"], c["threat"]): c for c in results["curves"]}
    page_path = REPORT / "index.html"
    assert page_path.stat().st_size < 5e6
    shot = REPORT / "explorer.png"
    errors, requests = [], []

    def route(r):
        if r.request.url.startswith(("file:", "data:")):
            return r.continue_()
        requests.append(r.request.url)
        return r.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route("**/*", route)
            page.goto(page_path.as_uri())
            ex = page.locator("#explore-04")
            ex.wait_for()
            assert ex.get_attribute("class").split() == ["explorer", "ready"], "the script did not run"
            slider, readout = ex.get_by_label("Epsilon", exact=True), ex.locator(".ex-readout")

            def state():
                return (
                    readout.inner_text(),
                    [i.get_attribute("src") for i in ex.locator(".ex-images img").all()],
                    ex.locator("circle.marker").get_attribute("cx"),
                )

            ex.get_by_label("Model", exact=True).select_option("baseline")
            ex.get_by_label("Attack", exact=True).select_option("fgsm")
            ex.get_by_label("Threat model", exact=True).select_option("whitebox")
            slider.focus()
            page.keyboard.press("Home")
            start = state()
            c = curves[("baseline", "fgsm", "whitebox")]
            assert f"eps {c['eps'][0]:.2f}: accuracy {100 * c['acc'][0]:.1f}%" in start[0]
            assert len(start[1]) == 5 and all(s.startswith("data:image/png;base64,") for s in start[1])
            page.keyboard.press("ArrowRight")
            page.keyboard.press("ArrowRight")
            moved = state()
            assert f"eps {c['eps'][2]:.2f}: accuracy {100 * c['acc'][2]:.1f}%" in moved[0]
            assert moved[0] != start[0] and moved[1] != start[1] and moved[2] != start[2]
            assert slider.get_attribute("aria-valuetext") == f"epsilon {c['eps'][2]:.2f}"
            page.keyboard.press("End")
            end = state()
            assert f"eps {c['eps'][-1]:.2f}" in end[0] and end[1] != moved[1]
            ex.get_by_label("Model", exact=True).select_option("pgd_retrained")  # another model at the same eps
            other = state()
            c2 = curves[("pgd_retrained", "fgsm", "whitebox")]
            assert f"eps {c2['eps'][-1]:.2f}: accuracy {100 * c2['acc'][-1]:.1f}%" in other[0]
            assert "Wilson interval" in other[0] and other[1] != end[1]
            slider.focus()
            page.keyboard.press("ArrowLeft")
            assert state()[0] != other[0]
            ex.screenshot(path=str(shot))
        finally:
            browser.close()
    print(f"explorer screenshot: {shot}")
    assert errors == [], errors
    assert requests == [], f"the page tried to fetch {requests}"


# --- the page on a laptop and on a phone ----------------------------------------------------------

SCREENS = [
    ("laptop", {"viewport": {"width": 1300, "height": 900}}),
    ("phone", {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}),
]
TOO_WIDE = """() => {
  const W = document.documentElement.clientWidth, out = [];
  const scrolls = (el) => { for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
    if (["auto", "scroll", "hidden"].includes(getComputedStyle(a).overflowX)) return true; } return false; };
  for (const el of document.querySelectorAll("body *")) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && (r.right > W + 1 || r.left < -1) && !scrolls(el))
      out.push(`${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""} ${Math.round(r.width)} px: ` +
               (el.innerText || "").slice(0, 50).replace(/\\s+/g, " "));
  }
  return {width: W, scroll: document.documentElement.scrollWidth, wide: out.slice(0, 10)};
}"""


def wider_than_window(html: Path) -> dict:
    """Open ``html`` (offline) on each screen; per screen, the window's width, the page's scroll width and the
    elements wider than the window that no scroll box of their own holds (at most ten)."""
    sync_playwright = _playwright()
    found = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for screen, options in SCREENS:
                page = browser.new_page(**options)
                page.route(
                    "**/*", lambda r: r.continue_() if r.request.url.startswith(("file:", "data:")) else r.abort()
                )
                page.goto(html.as_uri())
                found[screen] = page.evaluate(TOO_WIDE)
                page.close()
        finally:
            browser.close()
    return found


def _fits(found: dict) -> list[str]:
    """What does not fit, per screen, in words (empty when the page fits every screen)."""
    wanted = {screen: o["viewport"]["width"] for screen, o in SCREENS}
    return [
        f"{screen} ({wanted[screen]} px): the page is {f['scroll']} px wide in a {f['width']} px window; {f['wide']}"
        for screen, f in found.items()
        if f["width"] != wanted[screen] or f["scroll"] > f["width"] or f["wide"]
    ]


def _wide_results() -> dict:
    """Results whose tables are as wide as a paper run's: 20 curves over 19 eps, every sanity check of every model."""
    eps = [round(0.05 * i, 2) for i in range(19)]
    curves = [
        {"model": m, "attack": a, "threat": t, "eps": eps, "acc": [0.5] * len(eps), "n_images": 10000}
        for m in MODELS
        for a in ATTACKS
        for t in THREATS
    ]
    checks = list(MODEL_CHECKS) + [f"curves_{c}" for c in MODEL_CHECKS]
    evaluated = {
        "eps": 0.3,
        "n_images": 10000,
        "attacks": {"fgsm": 0.5, "pgd40x10_ce": 0.4, "pgd40x10_cw": 0.4, "apgd_ce": 0.3, "apgd_t": 0.3},
        "robust_acc": 0.3,
    }
    models = {
        m: {
            "clean_acc": 0.98,
            "robust_eval": evaluated,
            "sanity": {c: {"passed": True, "detail": "y" * 99} for c in checks},
        }
        for m in MODELS + ["fast_adv", "fast_pgd_adv"]
    }
    sanity = {c: {m: {"passed": True, "detail": "x" * 200} for m in models} for c in DESCRIPTIONS}
    return {"profile": "smoke", "curves": curves, "models": models, "sanity": sanity, "config": {"epochs": 1}}


def test_a_wide_page_fits_a_laptop_and_a_phone_and_the_check_can_fail(tmp_path):
    """The report's layout on its widest tables: nothing wider than the window at 1300 x 900 or 390 x 844;
    the control, a 3,000 px wide block without a scroll box, is caught on both screens."""
    html = report_page.render_html(_wide_results())
    good, bad = tmp_path / "wide.html", tmp_path / "too_wide.html"
    good.write_text(html)
    bad.write_text(html.replace("<h2 id='scorecard'>", "<div style='width: 3000px'>too wide</div><h2 id='scorecard'>"))
    assert _fits(wider_than_window(good)) == []
    caught = wider_than_window(bad)
    assert all(any("3000 px: too wide" in w for w in f["wide"]) for f in caught.values()), caught


@pytest.mark.slow
def test_report_fits_a_laptop_and_a_phone(smoke_run):
    """report/smoke/index.html: no element wider than the window at 1300 x 900 and at 390 x 844 (a phone);
    a wide table scrolls inside its own box."""
    assert smoke_run.proc.returncode == 0
    assert _fits(wider_than_window(REPORT / "index.html")) == []


def test_sanity_checks_show_names_a_person_reads():
    """The page names every sanity check in words (its id only as a tooltip); an unknown id still reads as words."""
    text = re.sub(r"<[^>]*>", " ", report_page.render_html(_wide_results()))  # the visible text, no attributes
    ids = set(MODEL_CHECKS) | set(DESCRIPTIONS)
    assert not [c for c in ids if c in text], "snake_case ids shown on the page"
    assert all("_" not in check_name(c) and check_name(c) in text for c in ids)
    assert check_name("curves_label_leaking") == "Curves: no label leaking"
    assert check_name("curves_pgd_not_weaker_than_fgsm") == "Curves: PGD at least as strong as FGSM"
    assert check_name("a_new_check") == "A new check"
