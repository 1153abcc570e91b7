# ITB Console: one command to set up and run the app, one to set up and run the tests.
#   make run    set up .venv (first time) and open the app on your local database
#   make demo   set up .venv (first time) and open the app in demo mode (simulated pump)
#   make test   set up .venv with test tools (first time), lint (imports, ruff, mypy) and
#               run the whole test suite
#   make safety-check   remove each dose-programming rule in turn: a test must fail each time
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run demo test lint bench safety-check clean

.DELETE_ON_ERROR:

# A half-made environment (python3-venv missing, network down) is removed, so the next run
# starts clean instead of failing on a venv without pip.
$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "ITB Console needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); echo "Could not create $(VENV): install python3-venv (Debian/Ubuntu)"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip || { rm -rf $(VENV); exit 1; }

# -qq: pip shows errors only. setuptools' editable build always warns in a box that a folder
# named like the package may shadow it on import; here that folder is the package itself.
$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install -qq -e '.[test,dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/itbconsole

demo: $(STAMP)
	$(BIN)/itbconsole --demo

test: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

# Part of every test run (and so of CI): import contracts, ruff, formatting, and mypy on the
# core, the drivers and the UI.
lint: $(STAMP)
	$(BIN)/lint-imports --no-cache --no-logo
	$(BIN)/ruff check itbconsole drivers ui tests benchmarks
	$(BIN)/ruff format --check itbconsole drivers ui tests benchmarks
	$(BIN)/mypy

safety-check: $(STAMP)
	$(BIN)/python tests/safety_check.py --write

bench: $(STAMP)
	$(BIN)/python benchmarks/store_scale.py --patients 500
	$(BIN)/python benchmarks/link_interrogate.py
	$(BIN)/python benchmarks/startup.py --patients 500 --runs 3
	$(BIN)/python benchmarks/trends.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
