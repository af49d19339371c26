"""The whole course end to end on the smoke profile: `python run_all.py --profile smoke`.

Artifacts (models, sets, curves) go to a temporary folder (ADVLAB_ARTIFACTS), so everything is
computed afresh; the executed notebooks, report and figures land in report/smoke/ and figures/smoke/
as for a user. Takes a few minutes on 2 CPU cores. Deselect with `pytest -m "not slow"`.
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from advlab.pipeline import ATTACKS, FIGURES, MODELS, NOTEBOOKS, THREATS

ROOT = Path(__file__).resolve().parents[1]
REPORT = ROOT / "report" / "smoke"


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    missing = [nb for nb in NOTEBOOKS if not (ROOT / "notebooks" / f"{nb}.ipynb").exists()]
    if missing:
        pytest.fail(f"notebooks missing: {missing}")
    env = {**os.environ, "ADVLAB_ARTIFACTS": str(tmp_path_factory.mktemp("artifacts"))}
    start = time.time() - 1
    proc = subprocess.run([sys.executable, "run_all.py", "--profile", "smoke"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=1800)
    return proc, start


@pytest.mark.slow
def test_run_all_smoke_succeeds(smoke_run):
    proc, start = smoke_run
    assert proc.returncode == 0, f"run_all failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    for i, nb in enumerate(NOTEBOOKS, 1):
        assert f"[{i}/{len(NOTEBOOKS)}] {nb}" in proc.stdout
        for path in (REPORT / f"{nb}.ipynb", REPORT / "parts" / f"{nb}.json", REPORT / f"{nb}.html"):
            assert path.exists() and path.stat().st_mtime >= start, f"{path} was not written by this run"
    timings = json.loads((REPORT / "timings.json").read_text())
    assert set(NOTEBOOKS) <= set(timings)
    assert "report/smoke/index.html" in proc.stdout


@pytest.mark.slow
def test_smoke_results_schema(smoke_run):
    proc, _ = smoke_run
    assert proc.returncode == 0
    results = json.loads((REPORT / "results.json").read_text())
    assert results["profile"] == "smoke" and results["device"]
    assert set(NOTEBOOKS) <= set(results["seconds"])
    for model in MODELS + ["fast_adv"]:
        m = results["models"][model]
        assert isinstance(m["clean_acc"], float), model
        r = m["robust_eval"]
        assert r["eps"] == 0.3 and r["n_images"] == 100 and set(r["attacks"]) == {"fgsm", "pgd5x2_ce", "pgd5x1_cw"}
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
def test_smoke_figures_and_page(smoke_run):
    proc, start = smoke_run
    assert proc.returncode == 0
    for name in FIGURES:
        path = ROOT / "figures" / "smoke" / f"{name}.png"
        assert path.exists() and path.stat().st_mtime >= start, f"figure {name} was not made"
    page = (REPORT / "index.html").read_text()
    assert len(re.findall(r'<img src="data:image/png;base64,', page)) == len(FIGURES)
    for nb in NOTEBOOKS:
        assert f"href='{nb}.html'" in page
