PYTHON ?= python3

.PHONY: install demo test lint bench

install:
	$(PYTHON) -m pip install ".[test]"

demo:
	pmortem ingest samples/incident samples/history --db demo.duckdb
	pmortem report --db demo.duckdb --out postmortem.md

# files kept in `ruff format` style (the whole repository once the other branches are merged)
FORMATTED = pmortem/__init__.py pmortem/__main__.py pmortem/api.py pmortem/cli.py pmortem/db.py pmortem/errors.py \
	tests/test_api.py tests/test_cli_contract.py

test:
	$(PYTHON) -m ruff check pmortem parsers analyzer tests bench
	$(PYTHON) -m ruff format --check $(FORMATTED)
	cd tests && $(PYTHON) -m pytest -p no:cacheprovider -c ../pyproject.toml .

lint:
	ruff check . && ruff format --check .

bench:
	$(PYTHON) bench/bench_ingest.py --size 1GB
