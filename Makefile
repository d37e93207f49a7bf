PYTHON ?= python3

.PHONY: install demo test lint bench

install:
	$(PYTHON) -m pip install ".[test]"

demo:
	pmortem ingest samples/incident samples/history --db demo.duckdb
	pmortem report --db demo.duckdb --out postmortem.md

test:
	$(PYTHON) -m ruff check pmortem parsers analyzer tests bench
	cd tests && $(PYTHON) -m pytest -p no:cacheprovider -c ../pyproject.toml .

lint:
	ruff check . && ruff format --check .

bench:
	$(PYTHON) bench/bench_ingest.py --size 1GB
