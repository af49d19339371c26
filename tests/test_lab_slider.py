"""The explorers' sliders work in JupyterLab (headless runs open no widget, a real front end must still
get them). A real browser: JupyterLab headless on a free port, Debian's Chromium
driven by Playwright opens a notebook whose cell calls ``widgets.explore`` (with a stand-in view that
prints the chosen eps and draws a small figure, so the test needs no trained model), runs it, moves the
eps slider with the keyboard and waits for the output to change.

Skipped, with the reason, without Chromium (apt-get install chromium), Playwright (pip install
playwright) or JupyterLab. Marked slow: starting JupyterLab and a browser takes half a minute or more.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("ADVLAB_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
KERNEL = "advlab-lab-test"
CELL = """%matplotlib inline
import matplotlib.pyplot as plt
from advlab.course import widgets

def view(cfg, model, attack, eps, threat, n):
    print(f"view: eps={eps:.2f}")
    plt.figure(figsize=(3, 2))
    plt.plot([0, 1], [0, eps])

widgets.explore(None, eps=0.2, view=view)
"""


def _missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install playwright)"
    if shutil.which("jupyter-lab", path=str(Path(sys.executable).parent)) is None:
        return "JupyterLab is not installed beside this Python"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(_missing() is not None, reason=str(_missing()))]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """JupyterLab on a free port with a token, serving a folder holding the explorer notebook; its
    kernel runs this Python without ADVLAB_HEADLESS, as `make lab`'s does."""
    spec = tmp_path / "jupyter" / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python (advlab test)",
                "language": "python",
            }
        )
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(CELL)]
    nb.metadata["kernelspec"] = {"name": KERNEL, "display_name": "Python (advlab test)", "language": "python"}
    (tmp_path / "work").mkdir()
    nbformat.write(nb, tmp_path / "work" / "explorer.ipynb")

    port, token = _free_port(), "advlab-test-token"
    env = {k: v for k, v in os.environ.items() if k != "ADVLAB_HEADLESS"}
    env.update(
        JUPYTER_PATH=str(tmp_path / "jupyter"),
        JUPYTER_CONFIG_DIR=str(tmp_path / "config"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
        JUPYTER_DATA_DIR=str(tmp_path / "data"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp_path / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
        PYTHONPATH=os.pathsep.join([str(ROOT / "lib")] + [p for p in [env.get("PYTHONPATH")] if p]),
    )
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "jupyter-lab"),
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--IdentityProvider.token={token}",
            "--ServerApp.port_retries=0",
            "--allow-root",
            f"--ServerApp.root_dir={tmp_path / 'work'}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5)
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    pytest.fail(f"JupyterLab did not start:\n{(tmp_path / 'lab.log').read_text()[-3000:]}")
                time.sleep(0.5)
        yield f"{base}/lab/tree/explorer.ipynb?token={token}"
    finally:
        try:  # shuts the kernels down too
            urllib.request.urlopen(
                urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST"), timeout=10
            )
            proc.wait(30)
        except Exception:
            proc.terminate()
            proc.wait(30)
        log.close()


def test_lab_explorer_slider_changes_the_output(lab):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(120_000)
            expect.set_options(timeout=120_000)  # a loaded machine: the kernel imports torch
            page.goto(lab)
            page.locator(".jp-Notebook .jp-Cell .cm-content").first.click()
            expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_have_count(1)
            page.keyboard.press("Shift+Enter")
            output = page.locator(".widget-output")
            expect(output).to_contain_text("view: eps=0.20")
            expect(output.locator("img")).to_have_count(1)
            first_image = output.locator("img").get_attribute("src")
            readout = page.locator(".widget-readout").last
            expect(readout).to_have_text("0.20")
            page.locator(".widget-slider .noUi-handle").first.focus()
            page.keyboard.press("ArrowRight")
            expect(readout).to_have_text("0.25")
            expect(output).to_contain_text("view: eps=0.25")
            expect(output).not_to_contain_text("view: eps=0.20")
            expect(output.locator("img")).to_have_count(1)
            assert output.locator("img").get_attribute("src") != first_image
        finally:
            browser.close()
