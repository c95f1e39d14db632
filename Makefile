# Every target sets itself up: a fresh clone needs only python3.11 (or python3 >= 3.11).
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
MANIFEST := dbt/target/manifest.json
export DAGSTER_HOME ?= $(CURDIR)/.dagster
export GX_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: install bytecode run test ui bench redis lint dbt-parse clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) $(MANIFEST) bytecode

# The project's bytecode, written ahead (only what changed). Python does not write it when
# PYTHONDONTWRITEBYTECODE is set (as on CI), and then every process compiled every module it
# imported again: ~0.2 s per `sniper`/`dagster` process, and the tests start a hundred of them.
bytecode: $(STAMP)
	$(BIN)/python -m compileall -q -j 0 sniper_pipeline sniper_pipeline_tests benchmarks scripts > /dev/null

# dagster-dbt loads the dbt manifest at definitions time. It is parsed again only when the dbt
# project changed (a file, or a folder's entries) or the packages were reinstalled: a dbt parse
# costs seconds at every `make test`. `make dbt-parse` forces it.
DBT_INPUTS := $(shell find dbt \( -path dbt/target -o -path dbt/logs -o -path dbt/dbt_packages -o -name .user.yml \) -prune -o -print)
$(MANIFEST): $(STAMP) $(DBT_INPUTS)
	$(BIN)/sniper dbt-parse

dbt-parse: $(STAMP)
	$(BIN)/sniper dbt-parse

run: install
	$(BIN)/sniper run

# Two workers (the machine's cores); a test file stays on one worker, so its module fixtures run once.
test: install
	$(BIN)/pytest -n 2 --dist loadfile --durations=20 $(PYTEST_ARGS)

ui: install
	$(BIN)/sniper serve

bench: install redis
	$(BIN)/python benchmarks/engine.py
	$(BIN)/python benchmarks/scan.py
	$(BIN)/python benchmarks/scale.py

# Debian's redis-server on 127.0.0.1:6379 (Celery broker, result backend, shared rate limiter).
redis:
	bash .ci/start-redis.sh

lint: $(STAMP)
	$(BIN)/ruff check sniper_pipeline sniper_pipeline_tests benchmarks scripts
	$(BIN)/ruff format --check sniper_pipeline sniper_pipeline_tests benchmarks scripts
	$(BIN)/mypy sniper_pipeline
	$(BIN)/lint-imports

clean:
	rm -rf data reports .dagster dbt/target dbt/logs
