# Two commands do all the set-up: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NOTEBOOK := assignment_3.ipynb
BUILD := build

.PHONY: test run notebook lint venv clean mutate

venv: $(STAMP)

# Rebuilt whenever a requirements file changes.
$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# Execute the notebook top to bottom into build/ and write an HTML report there.
# Parameters go through papermill, e.g. `make run RUN_ARGS="-p DATA_SOURCE surrogate"`.
run: $(STAMP)
	mkdir -p $(BUILD)
	@start=$$(date +%s); \
	$(PY) -m papermill $(NOTEBOOK) $(BUILD)/$(NOTEBOOK) --cwd . --progress-bar $(RUN_ARGS) && \
	$(VENV)/bin/jupyter nbconvert --to html $(BUILD)/$(NOTEBOOK) --output-dir $(BUILD) && \
	echo "make run: executed in $$(( $$(date +%s) - start )) s; report: $(BUILD)/assignment_3.html"

# Re-execute the committed notebook in place (execution counts 1..N), after any change to
# ccn_helpers.py or the notebook, before committing it.
notebook: $(STAMP)
	$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.timeout=600 $(NOTEBOOK)

# Mutation testing of the analysis sections with their fast tests (tools/mutate.py says which);
# about half an hour on 2 cores. Not part of CI. mutmut is installed on first use.
MUTMUT := $(VENV)/bin/mutmut
$(MUTMUT): requirements-mutate.txt | $(STAMP)
	$(PY) -m pip install --quiet -r requirements-mutate.txt
	touch $(MUTMUT)

mutate: $(STAMP) $(MUTMUT)
	$(PY) tools/mutate.py $(MUTATE_ARGS)

clean:
	rm -rf $(VENV) $(BUILD) .pytest_cache .ruff_cache mutants
