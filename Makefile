# Two commands do all set-up on a fresh machine (see README):
#   make book   -> virtual environment, install, execute every chapter (quick profile), HTML in _build/html
#   make test   -> virtual environment, install, pytest
VENV   ?= .venv
PY     := $(VENV)/bin/python
# CPU build of torch; on a GPU machine use e.g. `make TORCH="torch==2.13.0" book` with a CUDA index.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed

.PHONY: book test install sync clean bench

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "$(TORCH)"
	$(PY) -m pip install -q -e ".[dev,book]"
	touch $(STAMP)

install: $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupytext --sync notebooks/*.ipynb
	rm -rf _build/html
	$(VENV)/bin/jupyter-book build . --builder html --warningiserror --keep-going
	@test -f _build/html/index.html && echo "Book built: _build/html/index.html"

test: $(STAMP)
	$(PY) -m pytest -q

sync: $(STAMP)
	$(VENV)/bin/jupytext --sync notebooks/*.ipynb

bench: $(STAMP)
	$(PY) bench/bench_tokenize.py

clean:
	rm -rf _build .pytest_cache
