# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PERIOD ?= 2023-Q1
SAMPLE := build/sample-inbox
DEMO_AS_OF ?= 2023-04-10T09:00:00+07:00

.PHONY: demo test consolidate template sample lint typecheck clean bench
N ?= 10000

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

## demo: build the sample inbox (outside inbox/) and consolidate it into outbox/
demo: $(STAMP)
	$(PY) -m pipeline sample --out $(SAMPLE) --period $(PERIOD)
	$(PY) -m pipeline consolidate --period $(PERIOD) --inbox $(SAMPLE) --outbox outbox --as-of $(DEMO_AS_OF)

## test: lint, type-check and the whole test suite
test: $(STAMP)
	$(PY) -m ruff check pipeline tests
	$(PY) -m mypy
	$(PY) -m pytest

## consolidate: the officer's run over inbox/ (make consolidate PERIOD=2023-H1)
consolidate: $(STAMP)
	$(PY) -m pipeline consolidate --period $(PERIOD)

## bench: national-scale benchmark (make bench N=2000); the inbox is generated once under outbox/bench/
bench: $(STAMP)
	$(PY) -m pipeline.benchmark --n $(N)

## template: regenerate templates/excel/ from schemas/
template: $(STAMP)
	$(PY) -m pipeline template

lint: $(STAMP)
	$(PY) -m ruff check pipeline tests
	$(PY) -m ruff format --check pipeline tests

typecheck: $(STAMP)
	$(PY) -m mypy

clean:
	rm -rf build outbox/*/ $(VENV)
