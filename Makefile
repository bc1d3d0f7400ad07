# Two commands do all the set-up on a fresh Linux machine with Python 3.11, Java 17 and Maven:
#   make demo   - create .venv, install, start the embedded Kafka, run the pipeline on samples
#   make test   - create .venv, install, lint, type-check, unit + integration tests
# The interpreter the virtualenv is made from. An optimised CPython build (Debian's or Ubuntu's
# python3, the official Docker images) runs the pipeline faster than one built without
# --enable-optimizations --with-lto (README, "The interpreter"):
#   make clean && make venv PYTHON=/usr/bin/python3.11
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv demo test lint typecheck unit integration bench kafka-up kafka-down clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: venv
	$(VENV)/bin/phi-pipeline demo

lint: venv
	$(VENV)/bin/ruff check pipeline tests benchmarks
	$(VENV)/bin/ruff format --check pipeline tests benchmarks

typecheck: venv
	$(VENV)/bin/mypy

unit: venv
	$(PY) -m pytest tests/unit -q

integration: venv
	$(PY) -m pytest tests/integration tests/e2e -q

test: lint typecheck
	$(PY) -m pytest -q

bench: venv
	$(PY) -m benchmarks.detection_speed
	$(PY) -m benchmarks.detection_accuracy

kafka-up: venv
	$(VENV)/bin/phi-pipeline kafka up

kafka-down: venv
	$(VENV)/bin/phi-pipeline kafka down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
