# Two commands for a newcomer: `make run` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench bench-rush clean-venv

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,demo]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/storefront serve --demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check store catalog tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/deptry .

bench: $(STAMP)
	$(BIN)/python bench/shop_bench.py

# A rush of buyers on SQLite and PostgreSQL + Redis, then POST /cart/add under wrk against bare uvicorn.
# RUSH_ARGS="--duration 10 --db sqlite" for a short trial; "--ref-tree ../old-checkout" to compare.
bench-rush: $(STAMP)
	$(BIN)/python bench/rush.py --wrk $(RUSH_ARGS)

clean-venv:
	rm -rf $(VENV)
