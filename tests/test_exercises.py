"""The exercises (exercises/, advlab.course.exercises): well-formed masters, student versions without solutions
or outputs, and `make check-exercises` (solutions full marks, student versions zero) run by the same code."""

import json
import re
from pathlib import Path

import pytest

from advlab.course import exercises

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
        assert raws[0].startswith("# ASSIGNMENT CONFIG") and exercises._assignment_name(master)
        questions = [r for r in raws if r.startswith("# BEGIN QUESTION")]
        assert len(questions) >= 3, f"{master.name}: {len(questions)} questions"
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
        exercises.grade(tmp_path / "missing.txt")


@pytest.mark.slow
def test_check_exercises():
    """`make check-exercises`: the solutions score full marks and the unmodified student versions zero,
    on the smoke profile; the committed student versions match the masters. Several minutes here."""
    problems = exercises.check()
    assert not problems, "\n".join(problems)


def test_exercise_sentences_name_existing_files():
    """The chapters point at the exercise notebooks by these paths."""
    for master in exercises.masters():
        chapter = re.sub(r"_exercises$", "", master.stem)
        assert (ROOT / "notebooks" / f"{chapter}.ipynb").is_file(), master.name
