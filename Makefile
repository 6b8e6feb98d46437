# The project's commands. `make run` and `make test` do all the set-up on a fresh machine.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
# make run logs for people; MKA1_LOG_FORMAT=json make run for JSON lines.
MKA1_LOG_FORMAT ?= text
CODE   := $(wildcard src tests bench scripts examples)

.PHONY: install run example test test-citus lint format fuzz bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# serve sets up a new SQLite file itself; --migrate also brings an existing one up to date.
run: install
	MKA1_LOG_FORMAT=$(MKA1_LOG_FORMAT) $(BIN)/mka1-conversations serve --migrate --host $(HOST) --port $(PORT)

# The example chat backend (examples/README.md): starts the service on a temporary SQLite file
# and the backend on 127.0.0.1:8080, in one command.
example: install
	$(BIN)/python examples/chat_backend.py

lint: install
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy

format: install
	$(BIN)/ruff format $(CODE)
	$(BIN)/ruff check --fix $(CODE)

test: install lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Every test of the shared server, the database-per-test ones and the Citus-only ones
# (tests/store/test_citus.py) on a Citus cluster: CITUS_URL names a database on its coordinator,
# whose workers are registered there (docs/scaling.md). Each test session makes databases of its own.
test-citus: install
	@test -n "$(CITUS_URL)" || { echo "usage: make test-citus CITUS_URL=postgresql://postgres@HOST:PORT/postgres"; exit 2; }
	MKA1_TEST_CITUS_URL=$(CITUS_URL) $(BIN)/python -m pytest -k citus $(PYTEST_ARGS)

# Schemathesis against /openapi.json on both backends, and raw requests (URLs and headers of any
# bytes and size) against `serve` under Granian and uvicorn, longer than in `make test` (which
# runs 25 examples per operation and mode, 500 raw requests per server and backend):
# FUZZ_EXAMPLES per operation and mode (twenty times that raw), FUZZ_SCENARIOS stateful
# sequences, a new random seed each run.
FUZZ_EXAMPLES  ?= 500
FUZZ_SCENARIOS ?= 200
fuzz: install
	MKA1_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) MKA1_FUZZ_SCENARIOS=$(FUZZ_SCENARIOS) MKA1_FUZZ_RANDOM=1 \
		$(BIN)/python -m pytest tests/test_fuzz.py -p no:cacheprovider $(PYTEST_ARGS)

# The benchmark harness (docs/performance.md): a few minutes; BENCH_QUICK=1 is a seconds-long smoke run.
bench: install
	$(BIN)/python bench/run.py $(if $(filter 1 yes true,$(BENCH_QUICK)),--quick) $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
