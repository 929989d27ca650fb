# One command vocabulary for people, pre-commit and CI.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test lint fmt typecheck bench postgres sshd chromium clean

help: ## Show this help
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install triadops with dev extras

run: $(STAMP) ## Serve the API and a worker on 127.0.0.1:8000 (SQLite in ./.triad)
	$(BIN)/triad serve

postgres: ## Make sure the local PostgreSQL answers, starting the cluster if it is down
	@pg_isready -q -h 127.0.0.1 -p 5432 || { \
	  command -v pg_ctlcluster >/dev/null && \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | tail -n1) main start && \
	  for i in 1 2 3 4 5 6 7 8 9 10; do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; } || true
	@pg_isready -h 127.0.0.1 -p 5432 || { [ "$$CI" != "true" ] || { echo "PostgreSQL is required under CI"; exit 1; }; }

sshd: ## Make sure Debian's sshd is there for the SSH tests (installed under CI when missing)
	@test -x /usr/sbin/sshd || [ "$$CI" != "true" ] || { \
	  command -v apt-get >/dev/null || { echo "openssh-server is required under CI"; exit 1; }; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server >/dev/null; }
	@test -x /usr/sbin/sshd || { [ "$$CI" != "true" ] || { echo "sshd is required under CI"; exit 1; }; \
	  echo "no /usr/sbin/sshd: the SSH tests run against asyncssh's server"; }

chromium: ## Make sure Debian's chromium is there for the web console's browser tests (installed under CI when missing)
	@test -x /usr/bin/chromium || [ "$$CI" != "true" ] || { \
	  command -v apt-get >/dev/null || { echo "chromium is required under CI"; exit 1; }; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
	@test -x /usr/bin/chromium || { [ "$$CI" != "true" ] || { echo "chromium is required under CI"; exit 1; }; \
	  echo "no /usr/bin/chromium: the browser tests of the web console skip"; }

lint: $(STAMP) ## ruff, mypy, the import contracts, and sizes (tools/sizes.toml keeps the reasons)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python tools/sizes.py

typecheck: $(STAMP) ## mypy only
	$(BIN)/mypy

fmt: $(STAMP) ## Format and autofix
	$(BIN)/ruff format src tests bench tools
	$(BIN)/ruff check --fix src tests bench tools

test: $(STAMP) postgres sshd chromium lint ## Lint, then the whole suite on SQLite and PostgreSQL
	$(BIN)/pytest -p no:cacheprovider -n 2 --cov=triadops --cov-report=term:skip-covered --cov-fail-under=90

bench: $(STAMP) postgres ## The benchmark table: each path beside a baseline from the same run
	$(BIN)/python bench/run.py

clean: ## Remove the virtualenv and local data
	rm -rf $(VENV) .triad .mypy_cache .ruff_cache
