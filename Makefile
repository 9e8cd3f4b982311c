# The README's two commands are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two install stamps: the app alone (what `make run` needs), and the app with the test
# extras (pytest, ruff...) for test, lint, format and bench.
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test lint format bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	# Bytecode for the package's own modules, written even where the environment
	# says not to write it at import: every command and daemon start skips compiling.
	$(BIN)/python -m compileall -q daemon
	touch $(STAMP)

$(TEST_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(TEST_STAMP)

run: $(STAMP)
	$(BIN)/pledgewatch migrate
	$(BIN)/pledgewatch import seeds/
	$(BIN)/pledgewatch run

test: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 3 --dist worksteal

lint: $(TEST_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(TEST_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var build *.egg-info

# Full sizes take long (a million pledges); bench-quick runs the same scenarios small.
# Options pass through: make bench-quick BENCH_ARGS="--only burst,ceiling"
bench: $(TEST_STAMP)
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-quick: $(TEST_STAMP)
	$(BIN)/python -m bench --quick $(BENCH_ARGS)
