# Two commands do all the set-up: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NOTEBOOK := assignment_3.ipynb
BUILD := build

.PHONY: test run lint venv clean

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

run: $(STAMP)
	@if [ ! -f $(NOTEBOOK) ]; then \
	  echo "make run: $(NOTEBOOK) does not exist yet (it comes with the notebook issue);"; \
	  echo "the environment is ready in $(VENV); run the tests with 'make test'."; \
	  exit 1; \
	fi
	$(PY) -m ccn_run $(NOTEBOOK) $(BUILD)

clean:
	rm -rf $(VENV) $(BUILD) .pytest_cache .ruff_cache
