# Two commands matter: `make run` and `make test`. Both set up .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CONFIG ?= config.toml

.PHONY: run test test-interpreted lint typecheck check accel bench bench-ir bench-live soak soak-crash clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch first and pinned exactly: the local CPU wheel, never the multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,research,ray]'
	touch $(STAMP)

# The order path compiled with mypyc (daemon/accel/): rebuilt only when its sources changed;
# a stale build is never loaded. Without a C compiler it says so and the daemon runs
# interpreted (same behaviour, slower order path).
accel: $(STAMP)
	$(PY) -m daemon.accel.build

run: $(STAMP)
	$(PY) -m daemon.accel.build || echo "make run: the compiled build failed; running interpreted"
	$(VENV)/bin/tradingd run --config $(CONFIG)

# Lint and strict types are part of the suite: CI enforces them, not reviewers' memory.
# setup-test-tools installs promtool/prometheus (Debian) when missing: the ops tests need them.
# The suite runs on the compiled build; the unit and component tests also run interpreted (the
# same sources: the gate's property gets its quick profile there, its 10,000 examples in the
# full run). The build, the checks and the interpreted run need nothing from each other, so
# they share the two cores; the interpreted run never looks at the build being made. The full
# run lists its 25 slowest tests: where to look when the suite outgrows its ~15 minutes.
test: $(STAMP)
	bash deploy/setup-test-tools.sh
	$(MAKE) --no-print-directory -j2 --output-sync=target accel lint typecheck test-interpreted
	$(PY) -m pytest -q -p no:cacheprovider --durations=25

test-interpreted: $(STAMP)
	TRADINGD_INTERPRETED=1 TRADINGD_ACCEL_DIR=$(VENV)/no-accel HYPOTHESIS_PROFILE=dev \
		$(PY) -m pytest -q -p no:cacheprovider tests/unit tests/component

# The import contracts in pyproject.toml (layers, and which package may import ccxt, torch,
# prometheus_client, aiohttp) are part of lint: the README's Architecture section, enforced.
lint: $(STAMP)
	$(VENV)/bin/ruff check daemon strategies tests bench
	$(VENV)/bin/lint-imports --no-cache

typecheck: $(STAMP)
	$(VENV)/bin/mypy

check: lint typecheck test

# The AR workload (1M ticks) through the real daemon, 5 fresh runs; the last line has the medians.
bench: accel
	$(PY) bench/run.py --runs 5 --ticks 1000000 --fills-digest
	$(PY) bench/run.py --runs 5 --ticks 1000000 --fills-digest --fill-model market

# Live: trade on the wire -> order on the wire, the daemon against the local fake Binance over
# loopback (REST and websocket order entry), and a bare ccxt.pro client's floor in the same run.
bench-ir: accel  # instructions per tick under valgrind: noise-free, for A/B of the order path
	$(PY) bench/instructions.py --fills-digest

bench-live: accel
	$(PY) bench/wire_latency.py --samples 300 --ws

# 10M ticks in one process: RSS every million ticks, and its growth from 2M to 10M.
soak: accel
	$(PY) bench/ar_replay.py --ticks 10000000

# Crash soak: the SIGKILL/restart trials of `make test` (20 kills), TRIALS times over, with a
# seed of your choice: `make soak-crash TRIALS=500 SEED=7`. Each kill costs about 4 s.
TRIALS ?= 200
SEED   ?= 20261121
soak-crash: $(STAMP)
	CRASH_TRIALS=$(TRIALS) CRASH_SEED=$(SEED) $(PY) -m pytest -q -p no:cacheprovider -s \
		tests/system/test_crash_recovery.py

clean:
	rm -rf $(VENV) state .pytest_cache
