"""The course notebooks read as a course: no number of our own runs typed into markdown, and each
notebook has its scaffolding (objectives, prerequisites, time, where we differ from the seed, linked
references, the glossary, one set-up cell after the parameters that also installs the course on Colab), and no
wall of prose without a figure, code or list to break it.

Attribution rule for percentages: a markdown line may state a percentage only if the same line names
where it comes from: the seed ("seed"), a paper ("et al." or an author pair with a year, e.g.
"Croce and Hein (2020)"), the PyTorch tutorial ("tutorial") or a link. Everything else that states a
result is generated from the recorded numbers (``advlab.course.story``) in a code cell.
"""

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [
    "01_baseline",
    "02_fgsm_attack",
    "03_adversarial_training",
    "04_generalization",
    "05_on_the_fly_adversarial_training",
]
PERCENT = re.compile(r"\d+(?:\.\d+)?\s*(?:%|\\%|percent\b)")
ATTRIBUTED = re.compile(
    r"\bseed\b|\bseed's\b|et al\.|\b[A-Z][a-z]+ and [A-Z][a-z]+ \(\d{4}\)|tutorial|https?://", re.IGNORECASE
)
CONFIDENCE = re.compile(r"\b95\s*%\s*(?:Wilson|confidence|CI)\b")  # a confidence level, not a result
LINK = re.compile(r"\]\((https?://[^)\s]+)\)")


def _cells(stem: str):
    return json.loads((ROOT / "notebooks" / f"{stem}.ipynb").read_text())["cells"]


def _markdown(stem: str) -> str:
    return "\n".join("".join(c["source"]) for c in _cells(stem) if c["cell_type"] == "markdown")


def unattributed_percentages(markdown: str) -> list[str]:
    return [
        line
        for line in markdown.splitlines()
        if PERCENT.search(CONFIDENCE.sub("", line)) and not ATTRIBUTED.search(line)
    ]


def test_the_rule_catches_a_typed_result_and_allows_an_attributed_one():
    assert unattributed_percentages("With the quick profile they stay near 97-99% up to eps 0.3.")
    assert unattributed_percentages("about 10-40% at eps 0.1 against the baseline's 70%")
    assert not unattributed_percentages("The seed reports 98% for the retrained model.")
    assert not unattributed_percentages("clean 98.5% (Madry et al. 2018)")
    assert not unattributed_percentages("Each pixel moves by eps; no percentage here.")
    assert not unattributed_percentages("the interval printed with it is the 95% Wilson interval.")


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_no_percentage_of_our_runs_in_markdown(stem):
    bad = unattributed_percentages(_markdown(stem))
    assert not bad, f"{stem}: percentages not attributed to the seed or a paper (generate them in code): {bad}"


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_scaffolding(stem):
    text = _markdown(stem)
    for needed in (
        "**You will learn**",
        "**Prerequisites:**",
        "**Time:**",
        "## Where we differ from the seed",
        "## References",
        "](GLOSSARY.md)",
    ):
        assert needed in text, f"{stem}: no {needed!r}"
    assert len(set(LINK.findall(text[text.index("## References") :]))) >= 4, f"{stem}: references need links"
    cells = _cells(stem)
    colab = _colab_part(stem)
    assert 'find_spec("google.colab")' in colab and "pip install" in colab, (
        f"{stem}: the set-up cell must install the course on Colab before it imports it"
    )
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "story.differences(" in code or "story.comparisons(" in code, (
        f"{stem}: 'Where we differ from the seed' must be generated from the run"
    )


def _parameters_cell(cells) -> int:
    return next(i for i, c in enumerate(cells) if "parameters" in c["metadata"].get("tags", []))


def _colab_part(stem: str) -> str:
    """The set-up cell's first lines, up to the first import of the course: what runs before advlab exists."""
    cells = _cells(stem)
    lines = "".join(cells[_parameters_cell(cells) + 1]["source"]).splitlines()
    end = next(i for i, line in enumerate(lines) if re.match(r"(import torch|import advlab|from advlab)", line))
    return "\n".join(lines[:end]) + "\n"


def plain_assignments(source: str) -> list[str]:
    """The statements of ``source`` that are not ``name = literal`` (papermill replaces such cells' values)."""
    bad = []
    for node in ast.parse(source).body:
        try:
            ok = isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets)
            ast.literal_eval(node.value) if ok else None
        except ValueError:
            ok = False
        if not ok:
            bad.append(ast.get_source_segment(source, node))
    return bad


def _declared_fields(source: str) -> list[str]:
    """The Config fields the parameters cell assigns (profile, device and force have their own arguments)."""
    from advlab.course.profiles import field_names

    names = [
        t.id
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    ]
    return [n for n in names if n in field_names() and n not in ("profile", "device", "force")]


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_one_setup_cell_after_the_parameters(stem):
    """The parameters cell (plain assignments) is the first code cell; the next one is the only set-up cell:
    the Colab install, the imports, one chapter(...) call with every Config field of the parameters cell (it
    shows them and the measured compute time once); figures and numbers go through ``ch``."""
    cells = _cells(stem)
    i = _parameters_cell(cells)
    assert [c["cell_type"] for c in cells[:i]] == ["markdown"], f"{stem}: the parameters are the first code cell"
    assert not plain_assignments("".join(cells[i]["source"])), f"{stem}: the parameters cell holds only assignments"
    setup = "".join(cells[i + 1]["source"])
    assert cells[i + 1]["cell_type"] == "code" and setup.index("find_spec") < setup.index("ch = chapter("), stem
    assert f'ch = chapter("{stem}", profile, device=device, force=force, overrides=overrides' in setup, stem
    missing = [n for n in _declared_fields("".join(cells[i]["source"])) if f"{n}={n}" not in setup]
    assert not missing, f"{stem}: the set-up cell does not pass {missing} to chapter()"
    code = "\n".join("".join(c["source"]) for c in cells[i + 2 :] if c["cell_type"] == "code")
    for old in (
        "chdir_root(",
        "plots.setup(",
        "story.compute_time(",
        "records.record(",
        "plots.save_figure(",
        "figures.append(",
        "profiles.config(",
    ):
        assert old not in code, f"{stem}: {old} is the chapter's job (advlab.course.chapter)"
    assert "ch.record(" in code and "ch.save(" in code, stem


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_no_history_of_the_making(stem):
    text = "\n".join("".join(c["source"]) for c in _cells(stem))
    for phrase in ("prototype", "GUIDE", "issue #", "session"):
        assert phrase not in text, f"{stem}: {phrase!r}"
    assert not re.search(r"\bissue \d", text), stem


def test_at_least_15_distinct_links_and_a_glossary():
    links = set()
    for stem in NOTEBOOKS:
        links |= set(LINK.findall(_markdown(stem)))
    assert len(links) >= 15, f"only {len(links)} distinct links: {sorted(links)}"
    glossary = (ROOT / "notebooks" / "GLOSSARY.md").read_text()
    for term in ("FGSM", "PGD", "white-box", "transfer", "label leaking", "robust accuracy", "threat model"):
        assert term.lower() in glossary.lower(), f"the glossary does not define {term!r}"


def test_boilerplate_lives_in_one_place():
    """The stronger evaluation is chapter 5's: 01-04 do not repeat its 'final numbers' cell."""
    for stem in NOTEBOOKS[:4]:
        code = "\n".join("".join(c["source"]) for c in _cells(stem) if c["cell_type"] == "code")
        assert "evaluate_models(" not in code, stem


def test_colab_cell_installs_only_on_colab_and_asks_for_the_repository_url(tmp_path):
    """Outside Colab the set-up cell's install does nothing; on Colab without a URL it stops with one clear sentence."""
    import os
    import shutil
    import subprocess

    python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if python is None:
        pytest.skip("no interpreter outside the project's venv")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "ADVLAB_REPO", "VIRTUAL_ENV")}
    found = subprocess.run(
        [python, "-I", "-c", "import importlib.util as u; print(u.find_spec('advlab') is None)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    if found.stdout.strip() != "True":
        pytest.skip("advlab is importable outside the venv")
    code = _colab_part("02_fgsm_attack")
    run = subprocess.run([python, "-I", "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0 and not run.stderr, run.stderr  # not on Colab: nothing to do
    fake = tmp_path / "fake"  # a stand-in for Colab's google.colab
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "__init__.py").write_text("")
    (fake / "google" / "colab" / "__init__.py").write_text("")
    on_colab = f"import sys; sys.path.insert(0, {str(fake)!r})\n" + code
    run = subprocess.run([python, "-I", "-c", on_colab], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode != 0 and "set REPO" in run.stderr and "repository" in run.stderr, run.stderr
    assert not (tmp_path / "advlab").exists(), "nothing is cloned"


def test_the_parameters_rule_catches_anything_but_plain_assignments():
    assert plain_assignments('profile = "quick"  # a comment\nn_test = None\neps = [0.1, 0.2]\nmix = {"a": -1.5}') == []
    assert plain_assignments("import torch\nn = len([1])\nx = y = 3\na, b = 1, 2") == [
        "import torch",
        "n = len([1])",
        "a, b = 1, 2",
    ]


# --- walls of text -------------------------------------------------------------------------------------

WALL_WORDS = 150
BREAKS = re.compile(r"\s*(?:[-*+]\s|\d+\.\s|\||\$\$|!\[|```|<img|<figure)")


def walls(cells: list[dict], limit: int = WALL_WORDS) -> list[str]:
    """Every run of prose over ``limit`` words that no figure, code or list breaks: a code cell, a list, a table,
    display math, an image or fenced code ends a run; paragraphs and headings add their words, across cells."""
    found, run, start, first = [], 0, None, ""

    def close():
        if run > limit:
            found.append(f"cell {start} ({run} words from {first!r})")

    for i, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            close()
            run, start = 0, None
            continue
        in_list = False
        for line in "".join(cell["source"]).splitlines():
            if not line.strip():
                continue
            item = BREAKS.match(line)
            in_list = bool(item) or (in_list and line.startswith((" ", "\t")))
            if item or in_list:
                close()
                run, start = 0, None
                continue
            if start is None:
                start, first = i, " ".join(line.split()[:6])
            run += len(line.split())
    close()
    return found


def test_the_wall_rule_finds_long_prose_and_lets_lists_and_code_break_it():
    para = {"cell_type": "markdown", "source": ["word " * 80 + "\n\n", "## A heading\n\n", "word " * 80]}
    assert walls([para]) == ["cell 0 (163 words from 'word word word word word word')"]
    listed = {"cell_type": "markdown", "source": ["word " * 80 + "\n", "- an item\n  still the item\n", "word " * 80]}
    assert walls([listed]) == []
    code = {"cell_type": "code", "source": ["x = 1"]}
    half = {"cell_type": "markdown", "source": ["word " * 100]}
    assert walls([half, code, half]) == [] and walls([half, half]) == [
        "cell 0 (200 words from 'word word word word word word')"
    ]


@pytest.mark.parametrize("stem", NOTEBOOKS)
def test_no_wall_of_text(stem):
    bad = walls(_cells(stem))
    assert not bad, f"{stem}: prose over {WALL_WORDS} words with no figure, code or list to break it: {bad}"
