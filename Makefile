# billing-ops: two commands on a fresh machine with Python 3.11.
#   make run   - install, create and seed the SQLite ledger, start what the product runs
#   make test  - install, lint, type-check and run the whole test suite
#   make test-llm - the optional suite against a real small model (builds llama-cpp-python once)
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-llm lint install clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/billing-ops init-db
	$(BIN)/billing-ops seed-demo
	@echo "Temporal UI: http://127.0.0.1:8233  ledger: .data/ledger.sqlite  emails: .data/outbox/"
	@if [ -n "$$SLACK_BOT_TOKEN" ] || grep -qs '^SLACK_BOT_TOKEN=' .env; then \
		$(BIN)/billing-ops bot & \
	fi; \
	$(BIN)/billing-ops worker

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

# Not part of `make test`: llama-cpp-python compiles for several minutes the first time.
test-llm: $(STAMP)
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(BIN)/python -m pip install --quiet -e '.[dev,llm]'
	$(BIN)/pytest -m llm tests/drafting/test_real_model.py

clean:
	rm -rf $(VENV) .data .mypy_cache .ruff_cache .pytest_cache
