# Siyu — two commands on a fresh machine (Python 3.11 only): `make demo`, `make test`.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
SUPERSET_VENV := .venv-superset

export SIYU_DATA_DIR ?= $(CURDIR)/data/demo
export SIYU_WAREHOUSE ?= $(CURDIR)/data/warehouse/siyu.duckdb
export DAGSTER_HOME ?= $(CURDIR)/data/dagster_home
export DAGSTER_DISABLE_TELEMETRY := 1
# one "planned" event per asset for a multi-day run, not one per asset and day (runner.py)
export DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS := 1

DEMO_MEMBERS ?= 5000
DEMO_DAYS ?= 120
DEMO_SEED ?= 42

.PHONY: setup setup-spark demo test test-fast dev lint dbt-parse clean browser-deps export bi bi-setup bi-stop

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# the lock file pins every package; --frozen refuses to drift from it
# Bytecode ahead of time: where PYTHONDONTWRITEBYTECODE=1 is set (these machines, CI), every
# process would otherwise re-compile dagster, dbt and pandas from source on import — ≈ 5 s of
# CPU per Dagster process and ≈ 3 s per dbt invocation. Up-to-date files are skipped (≈ 6 s).
# Spark is opt-in: the demo and the DuckDB pipeline never use it, and pyspark builds from an
# sdist (≈ 40 s on a fresh machine). `--inexact` keeps it once `make setup-spark` (or make
# test) installed it, instead of removing and re-installing it every time.
# `setup-spark` is the same with every extra (one sync, one compile, instead of two of each).
SYNC_EXTRAS ?=
setup: $(UV)
	$(UV) sync --frozen --inexact --python $(PYTHON) $(SYNC_EXTRAS)
	@$(BIN)/python -m compileall -q -j 0 $(VENV)/lib > /dev/null 2>&1 || true
	$(BIN)/python -m pipelines.lib.platform.dbt_manifest > /dev/null

setup-spark: $(UV)
	@$(MAKE) --no-print-directory setup SYNC_EXTRAS=--all-extras

demo: setup
	rm -rf "$(SIYU_DATA_DIR)" "$(SIYU_WAREHOUSE)" "$(SIYU_WAREHOUSE).wal"
	$(BIN)/siyu generate --out "$(SIYU_DATA_DIR)" --members $(DEMO_MEMBERS) --days $(DEMO_DAYS) --seed $(DEMO_SEED) > /dev/null
	$(BIN)/siyu run
	$(BIN)/python -m pipelines.lib.quality.night_summary "$(SIYU_WAREHOUSE)"
	@echo
	@$(BIN)/siyu serving start
	@echo "Open the Dagster UI on this data:  make dev   (then http://127.0.0.1:3000)"
	@echo "Superset dashboards over the serving database:  make bi"

# Debian chromium for the headless-browser tests (Playwright drives it via executable_path;
# it never downloads a browser) and a CJK font, without which the Chinese business terms
# (普卡/银卡/金卡, channel names) render as empty boxes in the screenshots. A machine where apt
# is not available still runs every other test; the browser tests then fail naming the
# missing browser.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
BROWSER_PACKAGES := chromium fonts-wqy-zenhei
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-wqy-zenhei >/dev/null 2>&1; then \
	  { $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null; } || \
	  echo "browser-deps: could not install $(BROWSER_PACKAGES); the browser tests will fail" >&2; \
	fi

# The tests' scratch (pytest's tmp_path: warehouses, Dagster homes, serving databases, Spark's
# lake) on tmpfs when the machine has one with room — they fsync on every commit; a hand-made
# `siyu run` took 65 s on disk and 60 s there (measured). Elsewhere the default TMPDIR.
TEST_TMPDIR := $(shell d=/dev/shm; [ -d $$d ] && [ -w $$d ] && \
	[ "$$(df -k --output=avail $$d 2>/dev/null | tail -1)" -gt 8388608 ] 2>/dev/null && echo $$d/siyu-tests)

# Setup: the three installs at once (uv, apt, the Superset venv; mostly downloads). Then two
# workers (the machines have two cores); a test module never splits across workers, so
# module-scoped runs are built once. xdist deals out the modules with the most tests first;
# dealing the costly ones first was measured worse (the Spark server and the generated zone's
# two runs then share the two cores: 2,670 test-seconds instead of 2,115).
test:
	@$(MAKE) --no-print-directory -j3 setup-spark browser-deps bi-setup
	@$(if $(TEST_TMPDIR),mkdir -p $(TEST_TMPDIR))
	$(if $(TEST_TMPDIR),TMPDIR=$(TEST_TMPDIR)) $(BIN)/pytest -q -p no:cacheprovider -n 2 --dist loadfile

# the fast loop (< 2 min): tests/unit — pure Python, the loader on hand-written files,
# Hypothesis at a fifth of its examples (tests/conftest.py `examples`), and ONE dbt invocation
# for the rules' dbt unit tests (tests/unit/test_dbt_unit_tests.py). dbt builds on hand-made
# warehouses (tests/integration) and whole nights (tests/e2e) run in `make test`.
test-fast: setup
	HYPOTHESIS_PROFILE=fast $(BIN)/pytest -q -p no:cacheprovider -n 2 tests/unit -m "not slow and not spark and not browser"

dev: setup
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -m pipelines.definitions

export: setup
	$(BIN)/siyu export

# Apache Superset for the dashboards in bi/superset/ (docs/bi.md), in its own venv: it pins
# SQLAlchemy < 2. Exact pins, synced (nothing else stays installed) with bytecode compiled
# (PYTHONDONTWRITEBYTECODE=1 here would make every Superset start 2x slower); re-synced only
# when the pins change, a no-op otherwise.
bi-setup: $(SUPERSET_VENV)/.synced
$(SUPERSET_VENV)/.synced: bi/superset/requirements.txt | $(UV)
	@[ -x $(SUPERSET_VENV)/bin/python ] || $(UV) venv -q --python $(PYTHON) $(SUPERSET_VENV)
	$(UV) pip sync -q --python $(SUPERSET_VENV)/bin/python --compile-bytecode bi/superset/requirements.txt
	@touch $@

# Superset on http://127.0.0.1:8088 over the serving PostgreSQL (started if needed), metadata
# in its database `superset`, the bundle imported (a re-run converges); prints URL and login
bi: setup bi-setup
	$(BIN)/python -m bi.superset.setup up

bi-stop:
	@$(BIN)/python -m bi.superset.setup stop

lint: setup
	$(BIN)/ruff check pipelines siyu_generator tests benchmarks bi
	$(BIN)/python dbt_project/scripts/check_portable_sql.py

clean:
	-@[ -x $(BIN)/python ] && $(BIN)/python -m bi.superset.setup stop
	-@[ -x $(BIN)/siyu ] && $(BIN)/siyu serving stop
	rm -rf $(VENV) $(SUPERSET_VENV) $(TOOLS) data/demo data/warehouse data/dagster_home data/serving data/superset dbt_project/target
