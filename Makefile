# The course's commands. `make book` and `make test` work on a fresh clone:
# they create .venv and install everything they need first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser test (tests/site) answers the site's requests to CDNs (MathJax, the
# widget manager) from copies of their npm packages, fetched into this folder.
CDN := $(VENV)/cdn
# pip's local indexes print a line per package they do not hold; keep the log readable.
PIP_QUIET := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: help install lint book test site-test bench arena serve lab student grade publish clean

help:
	@echo "make book     execute every notebook and build the site into _build/html"
	@echo "make test     pytest, every notebook under nbval, and the book build (warnings are errors)"
	@echo "make lint     ruff: the package, tests, scripts and notebooks formatted and lint-free (part of make test)"
	@echo "make site-test  load every page of the built site in headless Chromium (part of make test)"
	@echo "make bench    time every op's implementations on this machine into benchmarks/results/"
	@echo "make arena    train and measure chapter 9's models into rnncourse/arena/results.json (about 20 minutes on a 2-core CPU)"
	@echo "make serve    serve the built site on http://localhost:8000"
	@echo "make lab      open JupyterLab on the notebooks"
	@echo "make student  write student versions, solutions removed, to student/notebooks/"
	@echo "make grade SUBMISSIONS=dir   autograde dir/<student>/<chapter>.ipynb with nbgrader into grades.csv"
	@echo "make publish  push the built site (_build/html) to the gh-pages branch with ghp-import"
	@echo "make clean    remove the build, the student versions and the environment"

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip $(PIP_QUIET)
	set -o pipefail; $(BIN)/python -m pip install --quiet -r requirements.txt $(PIP_QUIET)
	set -o pipefail; $(BIN)/python -m pip install --quiet -e . $(PIP_QUIET)
	$(BIN)/python -c "import torch, rnncourse; print('installed: torch', torch.__version__, '| rnncourse', rnncourse.__version__)"
	touch $(STAMP)

book: $(STAMP)
	$(BIN)/jupyter-book build . --path-output . -W -n --keep-going
	@echo "The site is in $(CURDIR)/_build/html (open index.html, or run 'make serve')."

test: $(STAMP) lint
	$(BIN)/python -m pytest tests
	$(BIN)/python -m pytest --nbval-lax --nbval-cell-timeout=300 notebooks
	$(MAKE) book
	$(MAKE) site-test

# One line length (pyproject.toml): what the site's code column shows at 1280 px.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Skipped, with a message, where no Chromium is installed (CI installs Debian's).
site-test: $(STAMP) $(CDN)/.fetched
	@test -f _build/html/index.html || { echo "Build the site first: make book"; exit 1; }
	RNNCOURSE_SITE=_build/html $(BIN)/python -m pytest tests/site

$(CDN)/.fetched: tests/site/cdn.py | $(STAMP)
	@if command -v npm >/dev/null; then \
		rm -rf $(CDN) && $(BIN)/python tests/site/cdn.py $(CDN) && touch $@; \
	else echo "npm not found: the browser test will skip (it serves the pages' CDN scripts from npm packages)"; fi

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run

# Chapter 9's results: every model trained and timed on this machine, stamped with the hash of
# the code that produced them (rnncourse.arena.load refuses a stale file).
arena: $(STAMP)
	$(BIN)/python -m rnncourse.arena

serve:
	@test -f _build/html/index.html || { echo "Build the site first: make book"; exit 1; }
	$(BIN)/python -m http.server --directory _build/html 8000

lab: $(STAMP)
	$(BIN)/jupyter lab notebooks

student: $(STAMP)
	$(BIN)/python scripts/student_version.py notebooks student/notebooks

grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=folder (holding <student>/<chapter>.ipynb)"; exit 1; }
	$(BIN)/python scripts/grade.py $(SUBMISSIONS) --out grades.csv

publish: $(STAMP)
	@test -f _build/html/index.html || { echo "Build the site first: make book"; exit 1; }
	$(BIN)/python -m pip install --quiet ghp-import $(PIP_QUIET)
	$(BIN)/ghp-import -n -p -f _build/html

clean:
	rm -rf _build student $(VENV) .pytest_cache
