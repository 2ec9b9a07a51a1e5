.PHONY: install test test-quick test-e2e lint format bench bench-short wheel-check sandbox-demo
install:
	pip install -c constraints.txt -e '.[dev]'
test:
	pytest -p no:cacheprovider -q
test-quick:
	pytest -p no:cacheprovider -q --ignore=tests/e2e
test-e2e:
	pytest -p no:cacheprovider -q -n 0 tests/e2e
lint:
	ruff check . && mypy
format:
	ruff format .
bench:
	for script in bench/*.py; do \
	  case $$script in bench/gate_recording.py) continue ;; esac; \
	  python $$script || exit 1; \
	done
bench-short:
	.ci/bench-short
wheel-check:
	.ci/check-wheel python
sandbox-demo:
	gameday run --sandbox experiments/sandbox/gameday-demo.yaml --yes
