# The two commands of the README: `make demo` and `make test`. Each builds its own
# virtual environment from nothing (Python 3.11+ is the only prerequisite).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export NO_PROXY := 127.0.0.1,localhost
export no_proxy := 127.0.0.1,localhost

.PHONY: demo test lint typecheck unit bench chaos fidelity sandbox clean lock

$(STAMP): pyproject.toml constraints.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found; install Python 3.11 or run 'make PYTHON=python3 ...'" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/incident-worker demo

test: lint typecheck unit

lint: $(STAMP)
	$(BIN)/ruff check worker tests bench
	$(BIN)/ruff format --check worker tests bench
	$(BIN)/lint-imports --no-logo

typecheck: $(STAMP)
	$(BIN)/mypy --strict worker

# Two processes: the end-to-end tests mostly wait on loopback HTTP and subprocesses.
unit: $(STAMP)
	$(BIN)/pytest -n 2 --dist worksteal

bench: $(STAMP)
	$(BIN)/python bench/run.py

# Three variants in turn, each printing its verdict: the worker killed and restarted on a
# faulty sandbox; the same with the sandbox's rate limits on; two replicas on one PostgreSQL
# state store, each killed and restarted on its own. People act in Slack too in each (issue
# 15: every incident is longer, and each start reads the open threads again, which the rate
# limits slow most). The sizes are meant to keep the whole near 20 minutes;
# `python bench/chaos.py --help` runs one with other sizes.
CHAOS_VARIANTS := "--incidents 12" "--incidents 6 --rate-limits" "--incidents 10 --replicas 2"

chaos: $(STAMP)
	@failed=""; \
	for variant in $(CHAOS_VARIANTS); do \
		echo "== python bench/chaos.py $$variant"; \
		$(BIN)/python bench/chaos.py $$variant || failed="$$failed [$$variant]"; \
		echo; \
	done; \
	if [ -n "$$failed" ]; then echo "chaos failed:$$failed"; exit 1; fi; \
	echo "chaos: all three variants passed"

# The emulators' fidelity tests alone, and what they check per endpoint the worker calls.
fidelity: $(STAMP)
	$(BIN)/python bench/fidelity.py

sandbox: $(STAMP)
	$(BIN)/incident-worker sandbox

# Refresh the pinned versions after changing pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^notion-incident-worker' > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
