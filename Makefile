# Two commands do all the set-up: `make run` and `make test` (see README.md);
# `make test-colab` runs the tests again with Colab's package versions.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NOTEBOOK := assignment_3.ipynb
BUILD := build
# papermill's command line writes the executed notebook once, at the end (or at an error):
# saving the growing notebook after every cell takes CPU from the kernel on a 2-core machine.
PAPERMILL_SAVE := --no-request-save-on-cell-execute --autosave-cell-every 0

.PHONY: test test-colab run notebook lint venv venv-colab clean mutate wheel release grade

venv: $(STAMP)

# Rebuilt whenever a requirements file changes.
$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# A DeprecationWarning or FutureWarning raised from our code (ccn_helpers, a notebook cell) is an
# error in the tests' notebook kernels too; pyproject.toml's filterwarnings covers pytest itself.
OUR_WARNINGS_AS_ERRORS := error::DeprecationWarning:ccn_helpers,error::FutureWarning:ccn_helpers,error::DeprecationWarning:__main__,error::FutureWarning:__main__

test: $(STAMP)
	PYTHONWARNINGS=$(OUR_WARNINGS_AS_ERRORS) $(PY) -m pytest

# Colab's package versions (requirements-colab.txt) in a second environment, built afresh
# whenever that file changes. There, the helper tests run, and the notebook is executed once
# on the surrogate (a fresh one, simulated with Colab's numpy) into build/colab/; the tests
# that execute the whole notebook (twice, for determinism) run only in `make test`, which
# keeps .ci/run within its time budget, and so do those of `make run`'s tool
# (tools/run_notebook.py, which needs nbconvert: not among Colab's pinned versions here) and of
# `make grade` (the grader's tool, run in the pinned environment). The student release's tests
# run there: the student notebook and its checks in Colab's versions.
VENV_COLAB := .venv-colab
PY_COLAB := $(VENV_COLAB)/bin/python
STAMP_COLAB := $(VENV_COLAB)/.installed
BUILD_COLAB := $(BUILD)/colab
# PYDEVD_DISABLE_FILE_VALIDATION: else ipykernel 6.17's debugger warns about frozen modules at
# every kernel start (noise on the terminal, not from our code).
ENV_COLAB := PYTHONWARNINGS=$(OUR_WARNINGS_AS_ERRORS) PYDEVD_DISABLE_FILE_VALIDATION=1

venv-colab: $(STAMP_COLAB)

$(STAMP_COLAB): requirements-colab.txt
	rm -rf $(VENV_COLAB)
	$(PYTHON) -m venv $(VENV_COLAB)
	$(PY_COLAB) -m pip install --quiet -r requirements-colab.txt
	$(PY_COLAB) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP_COLAB)

test-colab: $(STAMP_COLAB)
	$(ENV_COLAB) $(PY_COLAB) -m pytest --ignore-glob='tests/test_notebook*.py' \
	  --ignore=tests/test_run_notebook.py --ignore=tests/test_grade.py
	rm -rf $(BUILD_COLAB) && mkdir -p $(BUILD_COLAB)
	$(ENV_COLAB) CCN_DATA_DIR=$(BUILD_COLAB)/data $(PY_COLAB) -m papermill $(NOTEBOOK) \
	  $(BUILD_COLAB)/$(NOTEBOOK) --cwd . --no-progress-bar $(PAPERMILL_SAVE) -p DATA_SOURCE surrogate
	@echo "make test-colab: the notebook ran in Colab's versions: $(BUILD_COLAB)/$(NOTEBOOK)"

# The helpers' wheel (the package v1_orientation and its face ccn_helpers) into dist/: what the
# notebook's Colab setup cell installs from BASE_URL, or from an upload next to the notebook.
wheel: $(STAMP)
	$(PY) tools/build_wheel.py dist

# The course release into dist/ (docs/release.md): student/ (publish at BASE_URL/student/),
# autograder/ (for make grade and Gradescope) and solution/ (instructors, BASE_URL/solution/).
# BASE_URL defaults to the solution notebook's.
release: $(STAMP)
	$(PY) tools/release.py $(if $(BASE_URL),--base-url $(BASE_URL))

# Grade a folder of submissions against the last `make release` (docs/grading.md): grades.csv,
# the bonus leaderboard and a marking sheet per submission, under build/grades/.
JOBS ?= 2
TIMEOUT ?= 600
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "make grade SUBMISSIONS=folder [JOBS=2] [TIMEOUT=600]"; exit 2; }
	$(PY) tools/grade.py $(SUBMISSIONS) --jobs $(JOBS) --timeout $(TIMEOUT)

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Execute the notebook top to bottom into build/ and write an HTML report there, in one
# process (tools/run_notebook.py). Parameters go through papermill, e.g.
# `make run RUN_ARGS="-p DATA_SOURCE surrogate"`. The time printed includes everything.
run: $(STAMP)
	@start=$$(date +%s%N); \
	$(PY) tools/run_notebook.py $(NOTEBOOK) $(BUILD) $(RUN_ARGS) && \
	echo "make run: executed in $$(( ($$(date +%s%N) - start + 500000000) / 1000000000 )) s; report: $(BUILD)/assignment_3.html"

# Re-execute the committed notebook in place (execution counts 1..N), after any change to
# the package (v1_orientation/, ccn_helpers.py) or the notebook, before committing it.
notebook: $(STAMP)
	$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.timeout=600 $(NOTEBOOK)

# Mutation testing of the analysis modules with their fast tests (tools/mutate.py says which);
# about an hour on a busy 2-core machine. Not part of CI. mutmut is installed on first use.
MUTMUT := $(VENV)/bin/mutmut
$(MUTMUT): requirements-mutate.txt | $(STAMP)
	$(PY) -m pip install --quiet -r requirements-mutate.txt
	touch $(MUTMUT)

mutate: $(STAMP) $(MUTMUT)
	$(PY) tools/mutate.py $(MUTATE_ARGS)

clean:
	rm -rf $(VENV) $(VENV_COLAB) $(BUILD) dist .pytest_cache .ruff_cache mutants
