# Every target creates or reuses .venv itself.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-embedded test-external lint bench stress docs schema-snapshot sync-api clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/chimera-store demo

lint: $(STAMP)
	$(BIN)/ruff check src tests tools
	$(BIN)/ruff format --check src tests tools
	$(BIN)/mypy --strict

# The whole suite: lint, then every test on the embedded server (PostgreSQL 18), then again on
# CHIMERA_TEST_DATABASE_URL when it is set (CI sets it to the machine's PostgreSQL 15).
test: lint test-embedded test-external

test-embedded: $(STAMP)
	env -u CHIMERA_TEST_DATABASE_URL -u CHIMERA_DATABASE_URL $(BIN)/pytest -q -m 'not external_only' $(PYTEST_ARGS)

test-external: $(STAMP)
	@if [ -n "$$CHIMERA_TEST_DATABASE_URL" ]; then \
		echo "== again on CHIMERA_TEST_DATABASE_URL"; \
		env -u CHIMERA_DATABASE_URL $(BIN)/pytest -q $(PYTEST_ARGS); \
	else echo "CHIMERA_TEST_DATABASE_URL not set: external server run skipped"; fi

bench: $(STAMP)
	$(BIN)/chimera-store bench $(BENCH_ARGS)

# Without CHIMERA_TEST_DATABASE_URL, on the embedded server, which has neither pgbouncer nor pgTAP.
stress: $(STAMP)
	CHIMERA_STRESS=full env -u CHIMERA_DATABASE_URL $(BIN)/pytest -q -s tests/reliability tests/migration $(if $(CHIMERA_TEST_DATABASE_URL),,-m 'not external_only') $(PYTEST_ARGS)

# Regenerate docs/cli.md from --help (a test fails when it is stale).
docs: $(STAMP)
	$(BIN)/python tools/gen_cli_docs.py

# Regenerate the expected-schema snapshot from a database built by the migrations.
schema-snapshot: $(STAMP)
	$(BIN)/python tools/snapshot_schema.py "$${CHIMERA_TEST_DATABASE_URL:?set CHIMERA_TEST_DATABASE_URL to an admin URL}"

# Regenerate the sync API from the async one.
sync-api: $(STAMP)
	$(BIN)/python tools/async_to_sync.py

clean:
	rm -rf $(VENV) .chimera-test .mypy_cache .ruff_cache .pytest_cache
