# Every target creates .venv and installs what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check --quiet

.PHONY: demo test test-fast lint typecheck install install-dev upgrade bench bench-extraction bench-pipeline bench-archive bench-distributed clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# requirements.lock pins every package to the versions last tested; pyproject keeps compatible ranges
$(VENV)/.installed: pyproject.toml requirements.lock | $(BIN)/python
	$(PIP) install -c requirements.lock -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml requirements.lock | $(BIN)/python
	$(PIP) install -c requirements.lock -e '.[dev]'
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## upgrade: the newest versions pyproject allows, written to requirements.lock, then the whole suite
upgrade: | $(BIN)/python
	$(PIP) install --upgrade -e '.[dev]'
	( echo "# Exact versions for make install / make test / CI (pip constraints). Refresh with: make upgrade"; \
	  $(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e ' ) > requirements.lock
	touch $(VENV)/.installed-dev $(VENV)/.installed
	$(MAKE) test

## demo: serve the bundled sample news site on 127.0.0.1 and ingest it into ./newsflow.duckdb
demo: $(VENV)/.installed
	$(BIN)/newsflow demo

## lint: ruff over code and tests
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check flows crawl extractors storage tests bench deployments

## typecheck: mypy (strict) over the packages
typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

## test: lint, typecheck, then the whole suite under coverage, and the coverage figure
test: lint typecheck
	$(BIN)/python -m coverage run -m pytest
	@$(BIN)/python -m coverage report --format=total | xargs -I{} echo "coverage: {}% of the lines of flows/ crawl/ extractors/ storage/ ran in the test process (extraction workers and commands run as subprocesses are not counted)"

## test-fast: the pure tests only (extractor, rules, import rule, library contracts), in well under a minute
test-fast: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -m pure

## bench: the whole pipeline at N pages (default 2000; make bench PAGES=20000) vs bare trafilatura, one run
PAGES ?= 2000
bench: bench-pipeline

bench-pipeline: $(VENV)/.installed-dev
	$(BIN)/python bench/pipeline.py --pages $(PAGES)

## bench-archive: a backfill from a generated WARC (RECORDS, default 10000) vs bare FastWARC and trafilatura
RECORDS ?= 10000
bench-archive: $(VENV)/.installed-dev
	$(BIN)/python bench/archive.py --records $(RECORDS)

## bench-distributed: PAGES through 2 crawl workers and a merge (a process work pool) vs one `newsflow ingest`
bench-distributed: $(VENV)/.installed-dev
	$(BIN)/python bench/distributed.py --pages $(PAGES)

## bench-extraction: newsflow vs bare trafilatura on ../shared/bench/aeb, in one run
bench-extraction: $(VENV)/.installed-dev
	$(BIN)/python bench/extraction.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
