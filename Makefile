PYTHON ?= python3

.PHONY: install demo test lint bench fuzz sanitize

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

# ---------------------------------------------------------------- fuzzing (fuzz/README.md)
FUZZ_SECONDS ?= 60
FUZZ_CORPUS = fuzz/corpus/samples fuzz/corpus/loghub fuzz/corpus/regressions
PYINC = $(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_paths()['include'])")
PYLIBDIR = $(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_config_var('LIBDIR'))")
PYLDVER = $(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_config_var('LDVERSION'))")
EXT_SUFFIX = $(shell $(PYTHON) -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
SAN_FLAGS = -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
SAN_ENV = PYTHONMALLOC=malloc ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_string_checks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

build/fuzz/litset.h: fuzz/gen_litset.py parsers/catalogue.py parsers/literals.py
	@mkdir -p build/fuzz
	$(PYTHON) fuzz/gen_litset.py $@

# the libFuzzer harness: _scan.c's entry points under ASan+UBSan (needs clang: apt-get install -y clang)
build/fuzz/fuzz_scan: fuzz/fuzz_scan.c parsers/_scan.c build/fuzz/litset.h
	@command -v clang >/dev/null || { echo "fuzz_scan needs clang (apt-get install -y clang)" >&2; exit 1; }
	clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer $(SAN_FLAGS) -I$(PYINC) -Ibuild/fuzz fuzz/fuzz_scan.c -o $@ \
	  -L$(PYLIBDIR) -Wl,-rpath,$(PYLIBDIR) -lpython$(PYLDVER) -lpthread -lm

# FUZZ_SECONDS each: the libFuzzer harness, the atheris differential target (native vs
# reference, chunk hand-over), and the hypothesis properties with many more examples.
# New inputs go to build/fuzz/work-*, crashes/mismatches to build/fuzz/artifacts/.
fuzz: build/fuzz/fuzz_scan
	@mkdir -p build/fuzz/work-scan build/fuzz/work-diff build/fuzz/artifacts
	$(SAN_ENV) build/fuzz/fuzz_scan build/fuzz/work-scan $(FUZZ_CORPUS) -max_total_time=$(FUZZ_SECONDS) \
	  -artifact_prefix=build/fuzz/artifacts/ -print_final_stats=1
	@$(PYTHON) -c "import atheris" 2>/dev/null || $(PYTHON) -m pip install --quiet atheris
	$(PYTHON) fuzz/fuzz_differential.py build/fuzz/work-diff $(FUZZ_CORPUS) -max_len=4096 \
	  -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=build/fuzz/artifacts/ -print_final_stats=1
	cd tests && PMORTEM_HYPOTHESIS_PROFILE=fuzz $(PYTHON) -m pytest -p no:cacheprovider -c ../pyproject.toml -x -q parsers/test_properties.py

# The scanner built with ASan+UBSan (gcc, as the install builds it), then the native tests and
# the committed corpus replayed through it; any sanitizer report aborts and fails. With
# clang, also the libFuzzer harness replays the corpus once.
build/sanitize/_scan$(EXT_SUFFIX): parsers/_scan.c
	@mkdir -p build/sanitize
	gcc -shared -fPIC -g -O1 -std=c11 -Wall -Wextra -Wno-unused-parameter $(SAN_FLAGS) -I$(PYINC) parsers/_scan.c -o $@ -lpthread

sanitize: build/sanitize/_scan$(EXT_SUFFIX)
	if command -v clang >/dev/null; then $(MAKE) build/fuzz/fuzz_scan PYTHON=$(PYTHON) && \
	  $(SAN_ENV) build/fuzz/fuzz_scan -runs=0 $(FUZZ_CORPUS); \
	else echo "warning: no clang, the libFuzzer harness replay is skipped (apt-get install -y clang)" >&2; fi
	cd tests && LD_PRELOAD=$$(gcc -print-file-name=libasan.so) $(SAN_ENV) $(PYTHON) ../fuzz/sanitize.py ../build/sanitize \
	  -p no:cacheprovider --capture=sys -c ../pyproject.toml -q parsers/test_native.py parsers/test_literals.py parsers/test_arrow_export.py \
	  parsers/test_fuzz_corpus.py parsers/test_properties.py
