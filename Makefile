# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_DIR ?= demo-workspace
DEMO_CUSTOMERS ?= 5000
DEMO_PORT ?= 8000
# `make demo SERVE=no` builds the demo without starting the web app
SERVE ?= yes

.PHONY: demo test lint bench clean install install-dev

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(BIN)/cxray demo $(DEMO_DIR) --customers $(DEMO_CUSTOMERS) --overwrite
	$(BIN)/cxray status $(DEMO_DIR)
	$(BIN)/cxray report $(DEMO_DIR) -o $(DEMO_DIR)/report.html
	@echo ""
	@echo "Demo workspace ready in $(DEMO_DIR)/ (planted truth: $(DEMO_DIR)/ground_truth.json)"
	@echo "Open the report:  $(abspath $(DEMO_DIR))/report.html"
	@echo "Ask questions:    $(BIN)/cxray funnel $(DEMO_DIR)   $(BIN)/cxray dropoff $(DEMO_DIR)   $(BIN)/cxray --help"
	@echo ""
ifeq ($(SERVE),yes)
	$(BIN)/cxray serve $(DEMO_DIR) --port $(DEMO_PORT)
endif

test: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/python -m pytest -n 2 -q

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache
