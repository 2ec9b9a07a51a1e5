.PHONY: install test lint bench sandbox-demo
install:
	pip install -c constraints.txt -e '.[dev]'
test:
	pytest
lint:
	ruff check . && mypy
bench:
	python bench/extension_overhead.py
sandbox-demo:
	gameday run --sandbox experiments/sandbox/gameday-demo.yaml --yes
