"""Grading a class safely (advlab.runtime.grading, advlab.runtime.sandbox, advlab.runtime.probes): a folder of
submissions of a tiny assignment grades to a gradebook CSV in otter's columns, each submission in its own
sandbox: a correct one scores full marks, a blank one zero, a cheating one (reads the hidden tests, patches
the grader, writes its own results) zero, a never-ending one zero (stopped at its limit), a memory hog is
stopped at its cap, and none of them stops the others."""

import csv
import json

import pytest

from advlab.course import exercises
from advlab.runtime import exercises as instructor
from advlab.runtime import grading, probes, sandbox


def _cell(kind, source):
    cell = {"cell_type": kind, "metadata": {}, "source": source}
    return cell | ({"outputs": [], "execution_count": None} if kind == "code" else {})


def _hidden_test(body):
    return _cell("code", '""" # BEGIN TEST CONFIG\nhidden: true\n""" # END TEST CONFIG\n' + body)


TINY = [
    _cell(
        "raw",
        "# ASSIGNMENT CONFIG\nname: tiny\ninit_cell: true\ncheck_all_cell: false\nexport_cell: false\n"
        "run_tests: false\ngenerate: true\ntests:\n  files: false\n  ok_format: true",
    ),  # fmt: skip
    _cell("code", "SCALE = 2"),
    _cell("raw", "# BEGIN QUESTION\nname: q1\npoints: 2"),
    _cell("markdown", "Write `double(x)`."),
    _cell("raw", "# BEGIN SOLUTION"),
    _cell("code", "def double(x):\n    # BEGIN SOLUTION\n    return SCALE * x\n    # END SOLUTION"),
    _cell("raw", "# END SOLUTION"),
    _cell("raw", "# BEGIN TESTS"),
    _cell("code", "_r = double(3)\nassert _r == 6, 'double(3) is 6'"),
    _hidden_test("_s = double(-4.5)\nassert _s == -9.0, 'double(-4.5) is -9'"),
    _cell("raw", "# END TESTS"),
    _cell("raw", "# END QUESTION"),
    _cell("raw", "# BEGIN QUESTION\nname: q2\npoints: 1"),
    _cell("markdown", "Set `values` to the doubles of 0, 1, 2."),
    _cell("raw", "# BEGIN SOLUTION"),
    _cell("code", "values = [double(i) for i in range(3)]  # SOLUTION"),
    _cell("raw", "# END SOLUTION"),
    _cell("raw", "# BEGIN TESTS"),
    _cell("code", "assert values == [0, 2, 4], 'values: 0, 2, 4'"),
    _cell("raw", "# END TESTS"),
    _cell("raw", "# END QUESTION"),
]

# A cheat: answers nothing itself; looks for the hidden tests where Otter and this course keep them, patches
# otter and this grader, writes results files claiming full marks, and reports what it managed.
CHEAT = r"""
import glob, json, os, re
found = {{}}
for path in glob.glob("{root}/**/*.ipynb", recursive=True) + glob.glob("{root}/**/*.py", recursive=True):
    try:
        text = open(path).read()
    except OSError:
        continue
    for arg, out in re.findall(r"double\((-?[0-9.]+)\) is (-?[0-9.]+)", text):
        found[float(arg)] = float(out)
print("HIDDEN:", len(found))
double = lambda x: found.get(x)
values = None
import otter
otter.Notebook.check = lambda self, *a, **k: None
import advlab.runtime.grading as g, advlab.runtime.probes as p
g.score = lambda *a, **k: "full marks"
p.encode = lambda values, prefix="": ({{k: {{"v": 6}} for k in values}}, {{}})
wrote = []
for target in ["results.json", os.path.expanduser("~/results.json"), "out/answers.json",
               "{root}/final_grades.csv", "{masters}/results.json", "/tmp/advlab_results.json"]:
    try:
        with open(target, "w") as f:
            json.dump({{"q1": 2, "q2": 1, "score": 3, "q1/0": {{"values": {{"_r": {{"v": 6}}}}}}}}, f)
        wrote.append(target)
    except OSError:
        pass
print("WROTE:", wrote)
"""


def _notebook(student: dict, extra: list[str], dest):
    nb = json.loads(json.dumps(student))
    nb["cells"] += [_cell("code", src) for src in extra]
    dest.write_text(json.dumps(nb))
    return dest


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("course")
    masters, build, subs = root / "masters", root / "build", root / "submissions"
    for d in (masters, subs):
        d.mkdir()
    nb = {"cells": TINY, "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
          "nbformat": 4, "nbformat_minor": 5}  # fmt: skip
    master = masters / "tiny_exercises.ipynb"
    master.write_text(json.dumps(nb))
    out = exercises.assign_one(master, build / master.stem)
    student = json.loads((out / "student" / master.name).read_text())
    instructor.solutions_notebook(
        out / "autograder" / master.name, out / "student" / master.name, subs / "correct.ipynb"
    )
    (subs / "blank.ipynb").write_text(json.dumps(student))
    _notebook(student, [CHEAT.format(root=root, masters=masters)], subs / "cheat.ipynb")
    _notebook(student, ["while True:\n    pass"], subs / "forever.ipynb")
    greedy = json.loads((subs / "correct.ipynb").read_text())
    greedy["cells"].insert(2, _cell("code", "hog = bytearray(8 * 2**30)  # over the cap: a MemoryError, not a crash"))
    (subs / "greedy.ipynb").write_text(json.dumps(greedy))
    return root, masters, build, subs


@pytest.mark.slow
def test_a_class_folder_grades_each_submission_on_its_own(tiny):
    root, masters, build, subs = tiny
    limits = sandbox.Limits(seconds=25, memory_mb=6144)
    lines = []
    (path,) = grading.grade_folder(subs, masters=masters, build=build, limits=limits, log=lines.append)
    with open(path) as f:
        rows = {r["file"]: r for r in csv.DictReader(f)}
    assert list(next(iter(rows.values()))) == [
        "file",
        "q1",
        "q2",
        "total_points_earned",
        "percent_correct",
        "grading_status",
    ]
    assert float(rows["points-per-question"]["total_points_earned"]) == 3
    score = {
        name: float(rows[f"{name}.ipynb"]["total_points_earned"])
        for name in ("correct", "blank", "cheat", "forever", "greedy")
    }
    expected = {"correct": 3, "blank": 0, "cheat": 0, "forever": 0, "greedy": 3}
    if not sandbox.namespaces():  # without them the cheat reads the hidden tests (docs/teaching.md says so)
        expected["cheat"] = score["cheat"]
    assert score == expected, score
    assert rows["forever.ipynb"]["grading_status"] == "stopped at its time limit (25 s)"
    assert rows["cheat.ipynb"]["grading_status"] == "Completed"


@pytest.mark.slow
def test_the_sandbox_hides_the_tests_and_keeps_the_files(tiny):
    root, masters, build, subs = tiny
    if not sandbox.namespaces():
        pytest.skip("no user namespaces here: the hidden tests stay readable (docs/teaching.md says so)")
    graded = grading.grade(subs / "cheat.ipynb", masters=masters, build=build, limits=sandbox.Limits(seconds=25))
    assert graded.total == 0 and graded.scores == {"q1": (0.0, 2.0), "q2": (0.0, 1.0)}
    assert "HIDDEN: 0" in graded.log, graded.log[-1500:]
    assert "WROTE: ['results.json', " in graded.log and str(root) not in graded.log.split("WROTE:")[1], graded.log[
        -800:
    ]
    assert not (masters / "results.json").exists() and not (root / "final_grades.csv").exists()


def test_a_test_case_splits_into_probes_and_checks():
    source = (
        "_t = y + 1\n_ = torch.manual_seed(0)\n_ref = reference(x)\n"
        "with exercises.library_off():\n    _x = answer(x, _t)\n"
        "assert _x.shape == x.shape\n_gap = (_x - _ref).abs().max()\nassert _gap < 1 and len(losses) > 2"
    )
    split = probes.split_case(source, {"answer"}, {"losses"})
    assert split.probe == "_t = y + 1\n_ = torch.manual_seed(0)\nwith exercises.library_off():\n    _x = answer(x, _t)"
    assert split.exports == ("_x", "losses")
    assert "assert" not in split.probe and "reference" not in split.probe
    assert split.check.count("assert") == 2 and "answer(" not in split.check and "_ref = reference(x)" in split.check


def test_answers_cross_as_data_only():
    import numpy as np
    import torch

    from advlab import BaselineCNN

    model = BaselineCNN().eval()
    values = {"t": torch.arange(6.0).reshape(2, 3), "f": float("inf"), "l": [1, (2.5, "a")], "m": model}
    data, arrays = probes.encode(values, "p0_")
    back = {k: probes.decode(v, arrays) for k, v in json.loads(json.dumps(data)).items()}
    assert torch.equal(back["t"], values["t"]) and back["f"] == float("inf") and back["l"] == [1, (2.5, "a")]
    x = torch.rand(3, 1, 28, 28)
    assert isinstance(back["m"], BaselineCNN) and not back["m"].training and torch.allclose(back["m"](x), model(x))
    with pytest.raises(TypeError, match="cannot be handed to the grader"):
        probes.encode({"f": lambda: 1})
    with pytest.raises(TypeError, match="cannot be handed"):
        probes.encode({"a": np.array(["x"])})
    with pytest.raises(ValueError, match="malformed"):
        probes.decode({"code": "import os"}, {})


def test_the_sandbox_never_hides_the_course_or_its_own_folder(tmp_path):
    if not sandbox.namespaces():
        pytest.skip("no user namespaces here")
    (tmp_path / "w").mkdir()
    (tmp_path / "masters").mkdir()
    prefix, _ = sandbox.isolation(tmp_path / "w", hide=[sandbox.ROOT, tmp_path, tmp_path / "masters"])
    script = prefix[prefix.index("-c") + 1]
    hidden = [part.split(" none ")[1] for part in script.split(" && ") if " none " in part]
    assert str(tmp_path / "masters") in hidden and str(sandbox.ROOT / "exercises" / "masters") in hidden
    assert str(tmp_path) not in hidden and str(sandbox.ROOT) not in hidden, hidden
