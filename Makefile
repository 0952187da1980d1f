# Two commands do all the set-up on a fresh machine (Debian 12, Python 3.11):
#   make align   installs everything, then aligns the embedded digital twin (the main job)
#   make test    installs everything, then runs the test suite (what CI runs)
PYTHON ?= python3
PYTEST_ARGS ?=

.PHONY: setup align lint test test-all gallery

setup:
	bash scripts/setup.sh

align: setup
	beamloop align

gallery: setup
	beamloop sim gallery

# dependency contracts (import-linter, pyproject [tool.importlinter]) and a small ruff rule set
lint: setup
	lint-imports
	ruff check .

test: setup lint
	$(PYTHON) -m pytest -q $(PYTEST_ARGS)

test-all: setup lint
	$(PYTHON) -m pytest -q -m "" $(PYTEST_ARGS)
