"""The instructor's commands for the exercises: assign, grade (one notebook or a class's folder), check.

``python -m advlab.runtime.exercises assign | grade NB | grade --dir DIR [--out CSV] | check``, or the
Makefile's ``make assign``, ``make grade NB=...``, ``make grade DIR=...`` and ``make check-exercises``.

:func:`check` is the exercises' own test: for every master, the committed student notebook matches it,
its solutions score full marks, the blank student notebook zero, and a *cheat* (the solutions with the
graded function replaced by one call to the library's own function) zero on that question.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from advlab.core.errors import AdvlabError
from advlab.course import exercises
from advlab.runtime import grading
from advlab.runtime.sandbox import Limits

# master -> (question, function, body): the answer written as one call to the library's own function
CHEATS = {
    "01_baseline_exercises": ("q1", "accuracy", "from advlab import evaluate\nreturn evaluate(model, x, y)"),
    "02_fgsm_attack_exercises": (
        "q1",
        "fgsm_without_labels",
        "from advlab import fgsm, predict\nreturn fgsm(model, x, predict(model, x), eps)",
    ),
    "04_generalization_exercises": (
        "q1",
        "pgd_best",
        "from advlab import pgd\nreturn pgd(model, x, y, eps, alpha, steps, early_stop=False, seed=seed)",
    ),
    "05_on_the_fly_adversarial_training_exercises": (
        "q1",
        "my_fgsm_rs",
        "from advlab.core.adversarial_training import fgsm_rs\nreturn fgsm_rs(model, x, y, eps, alpha)",
    ),
}


def solutions_notebook(autograder_nb: Path, student_nb: Path, dest: Path) -> Path:
    """The solutions as a student would hand them in: the autograder's notebook with only the public
    tests of the student version in its metadata."""
    nb = json.loads(autograder_nb.read_text())
    nb["metadata"]["otter"] = json.loads(student_nb.read_text())["metadata"]["otter"]
    dest.write_text(json.dumps(nb))
    return dest


def cheat_notebook(solutions: Path, function: str, body: str, dest: Path) -> Path:
    """``solutions`` with ``function``'s solution (between ``# BEGIN SOLUTION`` and ``# END SOLUTION``)
    replaced by ``body``."""
    nb = json.loads(solutions.read_text())
    cells = [c for c in nb["cells"] if c["cell_type"] == "code" and f"def {function}(" in "".join(c["source"])]
    if len(cells) != 1:
        raise AdvlabError(f"{solutions.name}: expected one cell defining {function}(), found {len(cells)}")
    lines, out, skipping = "".join(cells[0]["source"]).splitlines(), [], False
    for line in lines:
        if line.strip() == "# BEGIN SOLUTION":
            indent = line[: len(line) - len(line.lstrip())]
            out += [indent + b for b in body.splitlines()]
            skipping = True
        elif line.strip() == "# END SOLUTION":
            skipping = False
        elif not skipping:
            out.append(line)
    cells[0]["source"] = "\n".join(out)
    dest.write_text(json.dumps(nb))
    return dest


def _verdicts(master: Path, runs: list, problems: list, log, **kw) -> None:
    for label, nb, want, only in runs:
        t = time.perf_counter()
        graded = grading.grade(nb, **kw)
        log(f"{master.stem} {label}: "
            + ", ".join(f"{q} {s:g}/{p:g}" for q, (s, p) in graded.scores.items())
            + f" ({graded.status}, {time.perf_counter() - t:.0f} s)")  # fmt: skip
        if want == "full" and len(graded.scores) < 3:
            problems.append(f"{master.name}: {len(graded.scores)} graded exercises, want at least 3")
        for q, (s, p) in graded.scores.items():
            if only and q != only:
                continue
            if p <= 0 or (want == "full" and s != p) or (want == "zero" and s != 0):
                failed = "; ".join(f"{c}: {w}" for c, w in graded.failures if c.startswith(q + "/"))[:600]
                problems.append(f"{master.name} {label} {q}: {s:g}/{p:g}, want {want} marks ({failed})")


def check(masters: Path = grading.MASTERS, student_dir: Path = grading.STUDENT, build: Path = grading.BUILD,
          log=print, limits: Limits = Limits()) -> list[str]:  # fmt: skip
    """For every master: the committed student notebook matches it; solutions full marks, the blank
    student notebook zero, the cheat zero on its question. Returns the problems found (empty: all good)."""
    exercises.require_otter()
    problems, start = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for master in exercises.masters(masters):
            out = exercises.assign_one(master, build / master.stem)
            generated = out / "student" / master.name
            committed = student_dir / master.name
            if not committed.is_file():
                problems.append(f"{committed} is missing: run `make assign`")
                continue
            views = [exercises.student_view(json.loads(p.read_text())) for p in (committed, generated)]
            if views[0] != views[1]:
                problems.append(f"{committed} differs from its master: run `make assign` and commit it")
            solved = solutions_notebook(out / "autograder" / master.name, generated, Path(tmp) / master.name)
            runs = [("solutions", solved, "full", None), ("student", committed, "zero", None)]
            if master.stem in CHEATS:
                q, fn, body = CHEATS[master.stem]
                cheat = cheat_notebook(solved, fn, body, Path(tmp) / f"cheat_{master.name}")
                runs.append((f"cheat (library's own function in {fn})", cheat, "zero", q))
            _verdicts(master, runs, problems, log, masters=masters, build=build, limits=limits)
    log(f"checked {len(exercises.masters(masters))} exercise notebooks in {time.perf_counter() - start:.0f} s")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m advlab.runtime.exercises", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("assign", help="regenerate exercises/student/ and the autograders from the masters")
    g = sub.add_parser("grade", help="grade a notebook (NB) or a folder of them (--dir) in sandboxes")
    g.add_argument("notebook", nargs="?")
    g.add_argument("--dir", help="a folder of submitted notebooks: writes a gradebook CSV")
    g.add_argument("--out", help="the gradebook's path (default: DIR/final_grades.csv)")
    g.add_argument("--seconds", type=float, default=Limits.seconds, help="time limit per submission")
    g.add_argument("--memory-mb", type=int, default=Limits.memory_mb, help="memory cap per submission")
    g.add_argument("-v", "--verbose", action="store_true", help="show the failing tests and the notebook's output")
    sub.add_parser("check", help="solutions score full marks, student versions and cheats zero")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "assign":
            for p in exercises.assign():
                print(f"wrote {p.relative_to(exercises.ROOT) if p.is_relative_to(exercises.ROOT) else p}")
        elif args.cmd == "grade":
            return _grade(args, parser)
        else:
            problems = check()
            for p in problems:
                print(f"FAILED: {p}", file=sys.stderr)
            if problems:
                return 1
            print("exercises OK: solutions score full marks, student versions and cheats zero")
    except AdvlabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _grade(args, parser) -> int:
    limits = Limits(seconds=args.seconds, memory_mb=args.memory_mb)
    if bool(args.dir) == bool(args.notebook):
        parser.error("give a notebook (make grade NB=path.ipynb) or a folder (make grade DIR=submissions/)")
    if args.dir:
        for path in grading.grade_folder(args.dir, args.out, limits=limits):
            print(f"wrote {path}")
    else:
        print(grading.format_scores(grading.grade(args.notebook, limits=limits), args.verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main())
