# Two entry points (see README): `make book` builds the book, `make test` runs every test.
# Both create .venv and install what they need on first use.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# Override to choose a torch build, e.g. TORCH_SPEC='torch==2.13.0' (a CPU wheel).
TORCH_SPEC ?= torch>=2.1
PYTEST := $(BIN)/python -m pytest
NOTEBOOKS := $(wildcard chapters/*.ipynb)
NNLIB_SOURCES := $(shell find nnlib -name '*.py')

.PHONY: setup book test lint test-unit test-notebooks test-browser check-stability notebooks bench clean
setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/pip install "$(TORCH_SPEC)"
	$(BIN)/pip install -r requirements.txt
	$(BIN)/pip install --no-deps -e .
	touch $@

# The book executes every chapter (jupyter-cache: a rebuild re-runs only changed notebooks).
# The cache does not see nnlib's code, so it is dropped whenever nnlib changes: the pages
# never show outputs of an older library.
_build/.nnlib-stamp: $(NNLIB_SOURCES)
	rm -rf _build/.jupyter_cache
	mkdir -p _build && touch $@

book: setup _build/.nnlib-stamp
	$(BIN)/python book/build_chapters/nbgen.py --check  # a notebook older than its .md: `make notebooks`
	$(BIN)/jupyter-book build --all -W -n --keep-going .

# In this order, also under `make -j`: the browser test reads the book `book` has just built.
# nbval and the book build each execute every chapter in one kernel at a time, so they run side
# by side (a core each; output grouped per target); checked outputs do not depend on the load.
test: setup
	$(MAKE) lint
	$(MAKE) test-unit
	$(MAKE) -j2 --output-sync=target test-notebooks book
	$(MAKE) test-browser

# ruff: pyproject.toml [tool.ruff]; chapter cells are checked in the notebooks built from chapters/*.md.
lint: setup
	$(BIN)/ruff check .

# One worker per core, at most 4 (each imports torch); TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= auto
test-unit: setup
	$(PYTEST) -n $(TEST_WORKERS) --maxprocesses 4 --ignore=tests/test_book_html.py

# Every cell of every chapter runs; cells tagged nbval-check-output are compared with
# their stored outputs (timings, addresses sanitised by book/nbval_sanitize.cfg).
test-notebooks: setup
	$(PYTEST) -p no:cacheprovider --nbval-lax --nbval-current-env \
		--nbval-sanitize-with book/nbval_sanitize.cfg $(NOTEBOOKS)

test-browser: setup
	NNLIB_BOOK_STRICT=1 $(PYTEST) tests/test_book_html.py

# Opt-in: do the checked outputs hold under other BLAS kernels, one thread, torch without AVX2?
check-stability: setup
	bash book/check_stability.sh

# Each chapter's source is chapters/<name>.md; this builds chapters/<name>.ipynb from it (setup
# cell, exercises, links, executed, outputs stripped but for checked cells): book/build_chapters/nbgen.py.
# CHAPTERS="ch01_background ..." for some chapters; NBGEN_FLAGS=--no-execute after prose-only edits.
notebooks: setup
	$(BIN)/python book/build_chapters/nbgen.py $(NBGEN_FLAGS) $(CHAPTERS)

# Speed against PyTorch, measured in the same run (ratios, not timed assertions).
bench: setup
	$(BIN)/python bench/mlp.py
	$(BIN)/python bench/convnet.py
	$(BIN)/python bench/threads.py
	$(BIN)/python bench/rnn.py
	$(BIN)/python bench/mlp.py --busy
	$(BIN)/python bench/convnet.py --busy
	$(BIN)/python bench/rnn.py --busy
	$(BIN)/python bench/attention.py
	$(BIN)/python bench/widgets.py
	$(BIN)/python bench/chapters.py

clean:
	rm -rf _build
