# The two commands of the README.  Both set themselves up first (scripts/setup.sh is idempotent).
.PHONY: setup demo test lint bench

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/dragnet demo

test: setup lint
	.venv/bin/python -m pytest -q

# Lint, format and types: part of `make test` (and so of .ci/run).
lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy

bench: setup
	.venv/bin/dragnet bench crawl && .venv/bin/dragnet bench classify && .venv/bin/dragnet bench index && \
	.venv/bin/dragnet bench pipeline && .venv/bin/dragnet bench takedown && .venv/bin/dragnet bench lifespan
