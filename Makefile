# The two commands of the README.  Both set themselves up first (scripts/setup.sh is idempotent).
.PHONY: setup demo test bench

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/dragnet demo

test: setup
	.venv/bin/python -m pytest -q

bench: setup
	.venv/bin/dragnet bench crawl && .venv/bin/dragnet bench classify && .venv/bin/dragnet bench index && .venv/bin/dragnet bench pipeline
