"""Grading the exercises: one notebook, a class's folder, and the instructor's self-check.

Where Docker runs and an image with the course is named (``ADVLAB_GRADER_IMAGE``), a folder is graded
with Otter's own containers (``otter grade``), its convention. Otherwise every submission is graded in
two processes (docs/teaching.md, "Grading a class safely"):

1. the student's notebook runs in a sandbox (:mod:`advlab.runtime.sandbox`: a throwaway folder and
   home, memory, CPU-time, file-size and wall-clock limits, no network and no view of the hidden tests
   where Linux namespaces allow), followed by the *probes* of every test case: the calls into the
   student's functions, with their inputs (:mod:`advlab.runtime.probes`). Only the values they return
   come back, as data;
2. this process, which never runs a line of the student's code, runs each test case's *checks* (every
   assertion, every reference computation) on those values, with the models and data of the master's
   own set-up cell, and scores the cases as Otter does (its point split, the same CSV columns).

Commands: ``python -m advlab.runtime.exercises assign | grade NB | grade --dir DIR [--out CSV] | check``
(the Makefile's ``assign``, ``grade NB=...``, ``grade DIR=...`` and ``check-exercises``).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from advlab.core.errors import AdvlabError
from advlab.course import exercises
from advlab.runtime import probes, sandbox
from advlab.runtime.sandbox import Limits

MASTERS, STUDENT, BUILD = exercises.MASTERS, exercises.STUDENT, exercises.BUILD


@dataclass
class Case:
    id: str
    points: float
    hidden: bool
    split: probes.Split


@dataclass
class Assignment:
    master: Path
    name: str
    setup: str  # the master's set-up cells: trusted code, run in this process
    questions: dict[str, list[Case]]

    def probes(self) -> list[dict]:
        return [
            {"id": c.id, "code": c.split.probe, "exports": list(c.split.exports)}
            for cases in self.questions.values()
            for c in cases
            if c.split.probe or c.split.exports
        ]


@dataclass
class Graded:
    file: str
    scores: dict  # question -> (score, possible)
    status: str = "Completed"
    failures: list = field(default_factory=list)  # (case id, message)
    isolation: str = ""
    log: str = ""

    @property
    def total(self) -> float:
        return sum(s for s, _ in self.scores.values())

    @property
    def possible(self) -> float:
        return sum(p for _, p in self.scores.values())


def _cells(nb: dict):
    """``(cell_type, source, in_question, in_tests)`` for each cell of an Otter Assign master."""
    in_question = in_tests = False
    for cell in nb["cells"]:
        src = "".join(cell["source"])
        if cell["cell_type"] == "raw":
            head = src.strip().splitlines()[0] if src.strip() else ""
            if head in ("# BEGIN QUESTION", "# END QUESTION"):
                in_question = head == "# BEGIN QUESTION"
            elif head in ("# BEGIN TESTS", "# END TESTS"):
                in_tests = head == "# BEGIN TESTS"
        yield cell["cell_type"], src, in_question, in_tests


def load_assignment(master: Path, build: Path = BUILD) -> Assignment:
    """The master's set-up code, and every test case of its autograder split into probes and checks."""
    from otter.test_files.ok_test import OKTestFile

    nb = json.loads(Path(master).read_text())
    setup, functions, data, started = [], set(), set(), False
    for kind, src, in_question, in_tests in _cells(nb):
        started = started or in_question
        if kind == "code" and not started:
            setup.append(src)
        elif kind == "code" and in_question and not in_tests:
            f, d = probes.defined_names(src)
            functions, data = functions | f, data | d
    graded = json.loads((exercises.autograder(master, build) / master.name).read_text())
    questions = {}
    for q, spec in graded["metadata"]["otter"]["tests"].items():
        test = OKTestFile.from_spec(spec, path=q)
        questions[q] = [
            Case(
                f"{q}/{i}",
                float(tc.points),
                tc.hidden,
                probes.split_case(probes.doctest_source(tc.body), functions, data),
            )
            for i, tc in enumerate(test.test_cases)
        ]
    return Assignment(master, exercises.assignment_name(master) or master.stem, "\n\n".join(setup), questions)


_ENVIRONMENTS: dict = {}


def instructor_env(a: Assignment) -> dict:
    """The namespace of the master's set-up cells (models, data), built once per master and process."""
    key = (str(a.master), a.master.stat().st_mtime)
    if key not in _ENVIRONMENTS:
        ns: dict = {"__name__": "__grader__"}
        exercises.quietly(exec, compile(a.setup, f"<set-up of {a.master.name}>", "exec"), ns)
        _ENVIRONMENTS[key] = ns
    return _ENVIRONMENTS[key]


def _check(case: Case, env: dict, outcome: sandbox.Outcome) -> str | None:
    """Run one case's checks; ``None`` if it passes, else why it failed."""
    ns = dict(env)
    if case.split.probe or case.split.exports:
        answer = outcome.answers.get(case.id)
        if outcome.status != "completed" or not isinstance(answer, dict):
            return f"no answer ({outcome.status})"
        if "error" in answer:
            return str(answer["error"])
        values = answer.get("values") if isinstance(answer.get("values"), dict) else {}
        try:
            ns.update({k: probes.decode(v, outcome.arrays) for k, v in values.items() if k in case.split.exports})
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            return f"an answer could not be read: {exc}"
    try:
        exec(compile(case.split.check, f"<test {case.id}>", "exec"), ns)
    except Exception as exc:  # noqa: BLE001 - a failing check, whatever it raised
        return f"{type(exc).__name__}: {exc}"[:500]
    return None


def score(a: Assignment, outcome: sandbox.Outcome, file: str) -> Graded:
    env = instructor_env(a)
    graded = Graded(file=file, scores={}, isolation=outcome.isolation, log=outcome.log)
    if outcome.status != "completed":
        graded.status = outcome.status
    for q, cases in a.questions.items():
        got = 0.0
        for case in cases:
            why = _check(case, env, outcome)
            if why is None:
                got += case.points
            else:
                graded.failures.append((case.id + (" (hidden)" if case.hidden else ""), why))
        graded.scores[q] = (got, sum(c.points for c in cases))
    return graded


def grade(notebook, *, masters: Path = MASTERS, build: Path = BUILD, limits: Limits = Limits()) -> Graded:
    """Grade one submitted notebook (module docstring): its score per question, Otter's way."""
    notebook = Path(notebook)
    if not notebook.is_file() or notebook.suffix != ".ipynb":
        raise AdvlabError(f"{notebook} is not a notebook file: pass the path of a student's .ipynb")
    exercises.require_otter()
    a = load_assignment(exercises.master_of(notebook, masters), build)
    instructor_env(a)  # first: the models are cached before the sandbox sees the repository read-only
    outcome = sandbox.run(notebook, a.probes(), limits, name=a.master.name, hide=_hidden(a, build, notebook))
    return score(a, outcome, notebook.name)


def _hidden(a: Assignment, build: Path, notebook: Path) -> list[Path]:
    """What a submission's sandbox must not see: the masters, the autograders, the other submissions."""
    return [a.master.parent, build, Path(notebook).resolve().parent]


# --- a class's folder -------------------------------------------------------------------------

COLUMNS_END = ("total_points_earned", "percent_correct", "grading_status")  # otter grade's final_grades.csv


def write_gradebook(rows: list[Graded], path: Path) -> Path:
    """A gradebook in ``otter grade``'s format: ``file``, one column per question, total, percent and
    status, with a first row ``points-per-question``."""
    questions = sorted({q for r in rows for q in r.scores})
    possible = next((r.scores for r in rows if len(r.scores) == len(questions)), {})
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["file", *questions, *COLUMNS_END])
        total = sum(possible[q][1] for q in questions if q in possible)
        out.writerow(["points-per-question", *(possible.get(q, (0, 0))[1] for q in questions), total, 1, "--"])
        for r in sorted(rows, key=lambda r: r.file):
            percent = round(r.total / r.possible, 4) if r.possible else 0
            out.writerow([r.file, *(r.scores.get(q, (0, 0))[0] for q in questions), r.total, percent, r.status])
    return path


def docker_image() -> str | None:
    """The image for Otter's containers: ``ADVLAB_GRADER_IMAGE``, if Docker answers; else None."""
    image = os.environ.get("ADVLAB_GRADER_IMAGE")
    if not image or not shutil.which("docker"):
        return None
    try:
        return image if subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _by_assignment(folder: Path, masters: Path) -> tuple[dict, list[Graded]]:
    groups, refused = {}, []
    for nb in sorted(Path(folder).glob("*.ipynb")):
        try:
            groups.setdefault(exercises.master_of(nb, masters), []).append(nb)
        except AdvlabError as exc:
            refused.append(Graded(file=nb.name, scores={}, status=f"not graded: {exc}"))
    return groups, refused


def grade_folder(folder, out: Path | None = None, *, masters: Path = MASTERS, build: Path = BUILD,
                 limits: Limits = Limits(), log=print) -> list[Path]:  # fmt: skip
    """Grade every ``*.ipynb`` of ``folder``, each on its own, into a gradebook per assignment
    (``final_grades.csv``, or ``final_grades_<assignment>.csv`` when the folder mixes assignments)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AdvlabError(f"{folder} is not a folder: pass the folder of submitted notebooks (DIR=submissions/)")
    groups, refused = _by_assignment(folder, masters)
    if not groups:
        raise AdvlabError(f"no course exercise notebook in {folder}")
    out, image, written = Path(out or folder / "final_grades.csv"), docker_image(), []
    for master, notebooks in groups.items():
        a = load_assignment(master, build)
        path = out if len(groups) == 1 else out.with_name(f"{out.stem}_{a.name}{out.suffix}")
        if image:
            written.append(_otter_containers(a, notebooks, path, image, limits, build))
            continue
        rows = []
        for nb in notebooks:
            start = time.perf_counter()
            outcome = sandbox.run(nb, a.probes(), limits, name=master.name, hide=_hidden(a, build, nb))
            rows.append(score(a, outcome, nb.name))
            log(f"{nb.name}: {rows[-1].total:g} / {rows[-1].possible:g}, {rows[-1].status} "
                f"({time.perf_counter() - start:.0f} s)")  # fmt: skip
        written.append(write_gradebook(rows + (refused if len(groups) == 1 else []), path))
    log(f"isolation: {sandbox.isolation()[1] if not image else 'Docker (' + image + ')'}")
    return written


def _otter_containers(a: Assignment, notebooks, path: Path, image: str, limits: Limits, build: Path) -> Path:
    """``otter grade`` in Docker (Otter's convention): one container per submission, no network."""
    from otter.grade import main as otter_grade

    zips = sorted((exercises.autograder(a.master, build)).glob("*.zip"))
    with tempfile.TemporaryDirectory() as tmp:
        for nb in notebooks:
            shutil.copy(nb, Path(tmp) / nb.name)
        otter_grade(name=a.name, paths=[tmp], output_dir=tmp, autograder=str(zips[-1]), image=image,
                    timeout=int(limits.seconds), no_network=True, ext="ipynb")  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Path(tmp) / "final_grades.csv", path)
    return path


def format_scores(graded: Graded, verbose: bool = False) -> str:
    lines = [f"{graded.file}: {graded.total:g} / {graded.possible:g} ({graded.status})"]
    lines += [f"  {q:<6} {s:g} / {p:g}" for q, (s, p) in graded.scores.items()]
    if verbose or graded.isolation.startswith("no namespaces"):
        lines.append(f"  isolation: {graded.isolation}")
    if verbose:
        lines += [f"  failed {case}: {why}" for case, why in graded.failures]
        lines += ["  notebook output (tail):", graded.log[-2000:]]
    return "\n".join(lines)
