# The two set-up commands: `make run` (the bot on the embedded default) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

TEST_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: install run test test-pg bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/rebot serve

# The multi-process `scale` test waits for the scheduler's next minute: it runs in test-pg only.
test: install
	$(BIN)/python -m pytest -n 2 -q -m "not scale"

# The same suite with every storage test on PostgreSQL (a fresh database per test).
test-pg: install
	REBOT_TEST_DATABASE_URL=$(TEST_PG_URL) $(BIN)/python -m pytest -n 2 -q

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
