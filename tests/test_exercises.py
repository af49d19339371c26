"""The exercises (exercises/, advlab.course.exercises, advlab.runtime.exercises): well-formed masters, student
versions without solutions or outputs, the library switched off while an answer is graded, and
`make check-exercises` (solutions full marks, student versions and cheats zero) run by the same code."""

import importlib
import json
import re
from pathlib import Path

import pytest
import torch

import advlab
from advlab.course import exercises
from advlab.runtime import exercises as instructor
from advlab.runtime import grading, probes

ROOT = Path(__file__).resolve().parents[1]


def _cells(path):
    return json.loads(Path(path).read_text())["cells"]


def _source(cell):
    return "".join(cell["source"])


def test_masters_have_at_least_three_checked_questions():
    masters = exercises.masters()
    assert [m.name[:2] for m in masters] == ["01", "02", "03", "04", "05"]
    for master in masters:
        cells = _cells(master)
        raws = [_source(c) for c in cells if c["cell_type"] == "raw"]
        assert raws[0].startswith("# ASSIGNMENT CONFIG") and exercises.assignment_name(master)
        questions = [r for r in raws if r.startswith("# BEGIN QUESTION")]
        coded = [q for q in questions if "manual: true" not in q]
        assert len(coded) >= 3, f"{master.name}: {len(coded)} coded questions"
        assert raws.count("# BEGIN SOLUTION") == raws.count("# END SOLUTION") == len(questions), master.name
        # each question has at least one public test (a test cell without the hidden config)
        in_tests, public = False, 0
        for c in cells:
            src = _source(c)
            if c["cell_type"] == "raw" and src in ("# BEGIN TESTS", "# END TESTS"):
                in_tests = src == "# BEGIN TESTS"
                if not in_tests:
                    assert public >= 1, f"{master.name}: a question without public tests"
                    public = 0
            elif in_tests and c["cell_type"] == "code" and "hidden: true" not in src:
                public += 1


def test_test_cells_have_no_bare_expressions():
    """Otter runs each test cell as a doctest: a bare expression (``torch.manual_seed(0)``, ``model.eval()``)
    prints a value the doctest does not expect, and the test fails even for a right answer."""
    import ast

    for master in exercises.masters():
        in_tests = False
        for cell in _cells(master):
            src = _source(cell)
            if cell["cell_type"] == "raw" and src in ("# BEGIN TESTS", "# END TESTS"):
                in_tests = src == "# BEGIN TESTS"
            elif in_tests and cell["cell_type"] == "code":
                for node in ast.parse(src).body:
                    bare = isinstance(node, ast.Expr) and not (
                        isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
                    )
                    assert not bare, f"{master.name}: assign it (`_ = ...`): {ast.unparse(node)}"


def test_notebooks_carry_no_outputs_and_students_no_solutions():
    for path in sorted((ROOT / "exercises").glob("*/*.ipynb")):
        if "build" in path.parts:
            continue
        for cell in _cells(path):
            if cell["cell_type"] == "code":
                assert not cell.get("outputs") and cell.get("execution_count") is None, (
                    f"{path.relative_to(ROOT)} carries outputs: clear them before committing"
                )
    masters = {m.name for m in exercises.masters()}
    students = sorted(exercises.STUDENT.glob("*.ipynb"))
    assert {s.name for s in students} == masters, "run `make assign`: exercises/student/ must match the masters"
    for path in students:
        nb = json.loads(path.read_text())
        text = "\n".join(_source(c) for c in nb["cells"])
        assert "# BEGIN SOLUTION" not in text and "# SOLUTION" not in text, path.name
        assert text.count("grader.check(") >= 3, path.name
        for q in nb["metadata"]["otter"]["tests"].values():
            for suite in q["suites"]:
                assert not any(case["hidden"] for case in suite["cases"]), f"{path.name}: hidden tests handed out"


def test_solution_lines_are_removed_for_students():
    """Every solution line of a master is absent from its student version."""
    for master in exercises.masters():
        solution = []
        for cell in _cells(master):
            src = _source(cell)
            if "# BEGIN SOLUTION" in src or "# SOLUTION" in src:
                inside = False
                for line in src.splitlines():
                    if "# END SOLUTION" in line:
                        inside = False
                    elif inside or line.rstrip().endswith("# SOLUTION"):
                        if len(line.strip()) > 25:  # long enough to be specific to a solution
                            solution.append(line.split("# SOLUTION")[0].strip())
                    if "# BEGIN SOLUTION" in line:
                        inside = True
        assert solution, master.name
        student = "\n".join(_source(c) for c in _cells(exercises.STUDENT / master.name))
        leaked = [line for line in solution if line in student]
        assert not leaked, f"{master.name}: solution lines in the student version: {leaked[:3]}"


def test_grade_rejects_a_file_that_is_not_a_course_notebook(tmp_path):
    other = tmp_path / "other.ipynb"
    other.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    with pytest.raises(exercises.AdvlabError, match="not one of the course's exercise notebooks"):
        exercises.master_of(other)
    with pytest.raises(exercises.AdvlabError, match="not a notebook"):
        grading.grade(tmp_path / "missing.txt")


@pytest.mark.slow
def test_check_exercises():
    """`make check-exercises`: the solutions score full marks, the unmodified student versions zero and
    the cheats (one call to the library's own function) zero on their question, on the smoke profile;
    the committed student versions match the masters. Several minutes here."""
    problems = instructor.check()
    assert not problems, "\n".join(problems)


def test_exercise_sentences_name_existing_files():
    """The chapters point at the exercise notebooks by these paths."""
    for master in exercises.masters():
        chapter = re.sub(r"_exercises$", "", master.stem)
        assert (ROOT / "notebooks" / f"{chapter}.ipynb").is_file(), master.name


def test_library_off_switches_off_every_name_and_restores_them():
    model = advlab.BaselineCNN().eval()
    x, y = torch.rand(4, 1, 28, 28), torch.tensor([0, 1, 2, 3])
    kept = advlab.fgsm  # a reference taken before: changing names alone would miss it
    with exercises.library_off():
        for call in (
            lambda: advlab.fgsm(model, x, y, 0.1),
            lambda: importlib.import_module("advlab.core.attacks.fgsm").fgsm(model, x, y, 0.1),
            lambda: kept(model, x, y, 0.1),
            lambda: advlab.pgd(model, x, y, 0.1, 0.05, 2),
            lambda: advlab.evaluate(model, x, y),
            lambda: advlab.predict(model, x),
        ):
            with pytest.raises(RuntimeError, match="switched off while this exercise is graded"):
                call()
        assert model(x).shape == (4, 10), "the model itself stays usable"
    assert advlab.fgsm(model, x, y, 0.1).shape == x.shape and 0 <= advlab.evaluate(model, x, y) <= 1


def test_set_up_cells_do_not_import_the_graded_functions():
    """An answer must not find the library's own version of what it is asked to write in its namespace."""
    forbidden = {"01": "evaluate", "02": "fgsm", "04": "pgd", "05": "fgsm_rs"}
    for master in exercises.masters():
        setup = grading.load_assignment(master).setup
        names = set().union(*probes.defined_names(setup))
        bad = forbidden.get(master.name[:2])
        assert bad is None or bad not in names, f"{master.name}: its set-up cell imports {bad}"


def test_cheat_notebook_replaces_only_the_graded_solution(tmp_path):
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "metadata": {},
                "source": "def f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION\n\n\ny = f(2)",
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "s.ipynb").write_text(json.dumps(nb))
    out = instructor.cheat_notebook(tmp_path / "s.ipynb", "f", "from m import g\nreturn g(x)", tmp_path / "c.ipynb")
    assert _source(_cells(out)[0]) == "def f(x):\n    from m import g\n    return g(x)\n\n\ny = f(2)"
    with pytest.raises(exercises.AdvlabError, match="one cell defining h"):
        instructor.cheat_notebook(tmp_path / "s.ipynb", "h", "return 1", tmp_path / "c.ipynb")


def test_every_chapter_has_written_questions_with_a_rubric():
    for master in exercises.masters():
        cells = _cells(master)
        manual = [i for i, c in enumerate(cells) if c["cell_type"] == "raw" and "manual: true" in _source(c)]
        assert len(manual) >= 4, f"{master.name}: {len(manual)} written questions"
        for i in manual:
            rubric = _source(cells[i + 3])
            assert _source(cells[i + 2]) == "# BEGIN SOLUTION" and rubric.startswith("**Rubric"), master.name
