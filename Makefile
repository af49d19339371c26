# AdvLab: every target creates what it needs (venv, data) first.
#   make report   build the course report (quick profile) -> report/quick/index.html
#                 (PROFILE=smoke|quick|paper, DEVICE=auto|cpu|cuda|mps, SEEDS=0,1,2, ARGS="--only 02 --force")
#   make test     lint (make lint: ruff check, ruff format --check), then the test suite
#   make lab      JupyterLab on the notebooks, with the project's kernel
#   make bench    speed benchmarks -> bench/results.json
#   make assign   exercises: regenerate exercises/student/ from exercises/masters/ (otter-grader)
#   make grade NB=path.ipynb   a student's score per exercise (graded in a sandbox)
#   make grade DIR=submissions/   a class's folder -> DIR/final_grades.csv (otter's gradebook columns)
#   make check-exercises   solutions full marks; blank student notebooks and cheats zero
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
PROFILE ?= quick
DEVICE  ?= auto
# training seeds, e.g.  make report SEEDS=0,1,2  (run_all.py --seeds: one report with each number's spread)
SEEDS   ?=
# more run_all.py options, e.g.  make report ARGS="--only 02,03 --set epochs=5"
ARGS    ?=
# This machine's pip carries torch 2.14.1 / torchvision 0.29.1 on disk; elsewhere pyproject's ranges apply.
TORCH_PIN ?= torch==2.14.1 torchvision==0.29.1
# torchattacks pins an old requests: a test-only dependency, installed without its dependencies.
TORCHATTACKS ?= torchattacks==3.5.1

.PHONY: venv data report test lint lab bench clean-artifacts assign grade check-exercises

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH_PIN) || $(PIP) install --quiet "torch>=2.4" "torchvision>=0.19"
	$(PIP) install --quiet -e '.[test]'
	$(PIP) install --quiet --no-deps $(TORCHATTACKS)
	$(PY) -m ipykernel install --sys-prefix --name advlab --display-name "Python (advlab)" >/dev/null
	touch $@

data: venv
	$(PY) -c "from advlab.core.data import ensure_mnist; print('MNIST ready in', ensure_mnist('data'))"

report: venv data
	$(PY) run_all.py --profile $(PROFILE) --device $(DEVICE) $(if $(SEEDS),--seeds $(SEEDS)) $(ARGS)
	@echo "Open report/$(PROFILE)/index.html in a browser (it works offline)."

test: venv data lint
	$(PY) -m pytest

# ruff (configured in pyproject.toml): the same checks as .pre-commit-config.yaml
lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

lab: venv data
	$(VENV)/bin/jupyter lab notebooks/

bench: venv data
	$(PY) bench/run.py

# Exercises (advlab.course.exercises, graded by advlab.runtime.exercises). check-exercises also runs inside
# `make test` (tests/test_exercises.py). GRADE_SECONDS: the time limit per submission.
GRADE_SECONDS ?= 600
assign: venv
	$(PY) -m advlab.runtime.exercises assign

grade: venv data
	@test -n "$(NB)$(DIR)" || { echo "usage: make grade NB=path/to/notebook.ipynb  or  make grade DIR=submissions/"; exit 2; }
	$(PY) -m advlab.runtime.exercises grade $(if $(DIR),--dir "$(DIR)","$(NB)") --seconds $(GRADE_SECONDS)

check-exercises: venv data
	$(PY) -m advlab.runtime.exercises check

clean-artifacts:
	rm -rf artifacts figures/* report/*
