# The two set-up commands: `make run` (the bot on the embedded default) and `make test`.
# Both install from constraints.txt, the pinned versions of every runtime and test dependency
# (transitive included); `make lock` resolves them afresh after a change to pyproject.toml.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

TEST_PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: install run test test-fast test-pg lint lock bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/rebot serve

# The multi-process `scale` test waits for the scheduler's next minute: it runs in test-pg only.
test: install
	$(BIN)/python -m pytest -n 2 -q -m "not scale"

# The inner loop: without the slow tests (the wheel built and installed in a fresh venv…).
test-fast: install
	$(BIN)/python -m pytest -n 2 -q -m "not slow and not scale"

# The same suite with every storage test on PostgreSQL (a fresh database per test).
test-pg: install
	REBOT_TEST_DATABASE_URL=$(TEST_PG_URL) $(BIN)/python -m pytest -n 2 -q

lint: install
	$(BIN)/ruff check .

# Pin what `pip install '.[test]'` resolves to today (this Python, this platform), rebot itself left out.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --dry-run --ignore-installed --report lock-report.json '.[test]'
	$(BIN)/python -c "import json; items = json.load(open('lock-report.json'))['install']; \
	  pins = sorted((i['metadata']['name'].lower(), i['metadata']['version']) for i in items); \
	  open('constraints.txt', 'w').write('# make lock: every runtime and test dependency, transitive included\n' \
	    + ''.join(f'{n}=={v}\n' for n, v in pins if n != 'rebot'))"
	rm -f lock-report.json

bench: install
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
