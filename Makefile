# root-key-detector: every target sets up what it needs (its own venv) on a fresh machine.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help venv test lint format demo demo-root chaos fuzz bench bench-org redrive clean

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (set PYTHON=...)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

venv: $(STAMP) ## Create .venv with the runtime and dev dependencies

test: $(STAMP) ## Run the test suite (unit, property, contract, integration, end-to-end)
	$(BIN)/python -m pytest -q

lint: $(STAMP) ## ruff (complexity 10 on detector/), mypy strict, vulture (dead code), cfn-lint, checkov
	$(BIN)/ruff check detector sandbox tests bench infra
	$(BIN)/ruff format --check detector sandbox tests bench infra
	$(BIN)/mypy
	$(BIN)/vulture
	$(MAKE) --no-print-directory lint-infra

format: $(STAMP) ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format detector sandbox tests bench infra
	$(BIN)/ruff check --fix detector sandbox tests bench infra

demo: $(STAMP) ## Run the whole path on the embedded sandbox (moto + Slack emulator)
	$(BIN)/python -m sandbox.demo

demo-root: $(STAMP) ## Centralized root access on the sandbox: sweep by key id, a key's use, a root session, removal by two
	$(BIN)/python -m sandbox.demo_root

.PHONY: docs-images
docs-images: CHROMIUM ?= chromium
docs-images: ## Pictures of what the detector posts, into docs/ (headless Chromium; not in make test)
	@command -v "$(CHROMIUM)" >/dev/null 2>&1 || { printf '%s\n' \
		"make docs-images needs Chromium, run headless. On Debian or Ubuntu:" \
		"    sudo apt-get install -y chromium fonts-noto-color-emoji" \
		"(or point CHROMIUM= at a Chromium or Chrome binary)." >&2; exit 1; }
	@$(MAKE) --no-print-directory -q $(STAMP) || $(MAKE) --no-print-directory $(STAMP)
	$(BIN)/python -m sandbox.docs_images --chromium "$(CHROMIUM)"

chaos: $(STAMP) ## 2,000 events under Slack/AWS faults, 8 workers, DLQ redrive; counts lost/duplicated
	$(BIN)/python -m sandbox.chaos

fuzz: $(STAMP) ## 100,000 generated and mutated inputs; crashes outside EventParseError, bad findings/messages
	$(BIN)/python -m bench.fuzz

bench: $(STAMP) ## Alert latency, cold start, memory, zip size, classify throughput (bench/README.md)
	$(BIN)/python -m bench.perf

bench-org: $(STAMP) ## Sweep of 1,000 accounts and S3 backfill vs zcat, 50 ms on every call
	$(BIN)/python -m bench.org_sweep
	$(BIN)/python -m bench.org_backfill

# The values reach the command through the environment, never pasted into the shell line.
redrive: export RKD_STACK = $(STACK_NAME)
redrive: export RKD_MAX = $(or $(MAX),10000)
redrive: $(STAMP) ## Redrive the deployed stack's dead-letter queue with its function's settings (STACK_NAME=, MAX=)
	@test -n "$$RKD_STACK" || { echo 'make redrive: set STACK_NAME (the stack of the detector)' >&2; exit 2; }
	$(BIN)/python -m detector redrive --from-stack "$$RKD_STACK" --max "$$RKD_MAX"

-include infra/infra.mk

clean: ## Remove the venv, caches and build output
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache .hypothesis *.egg-info
