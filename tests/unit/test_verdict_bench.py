"""bench/gate_power.py: its synthetic regressions do what docs/gate.md says, and its last
line has the format CI reads."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.unit.verdict_data import sample_of

BENCH = Path(__file__).resolve().parents[2] / "bench"


def bench() -> ModuleType:
    sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location("bench_gate_power", BENCH / "gate_power.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_p99_doubled_keeps_the_median_and_the_p90() -> None:
    power = bench()
    # 100 requests: 1..100 ms. p90 = 90, p99 = 99: the scale is (198 - 90) / (99 - 90) = 12
    sample = sample_of([[float(v) for v in range(1, 101)]])
    doubled = power.stretch_tail(sample, 90.0, 99.0)
    assert doubled.percentile(50) == 50.0 and doubled.percentile(90) == 90.0
    assert doubled.percentile(99) == 198.0
    assert doubled.max_ms == 90 + 10 * 12


def test_availability_minus_one_point_on_average() -> None:
    power = bench()
    rng = np.random.default_rng(0)
    sample = sample_of([[10.0] * 100 for _ in range(200)])
    spoiled = power.fail_requests(sample, 0.01, rng)
    assert spoiled.total_failures / spoiled.total_requests == pytest.approx(0.01, abs=0.002)
    bursts = power.fail_seconds(sample, 0.01, rng)
    assert set(bursts.failures.tolist()) <= {0, 100}  # whole seconds fail


def test_the_short_run_prints_the_line_ci_reads(capsys: pytest.CaptureFixture[str]) -> None:
    power = bench()
    assert power.main(["--short", "--decisions", "3"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert re.fullmatch(
        r"false_fail_rate=[01]\.\d{4} detection_p99x2=[01]\.\d{4} "
        r"detection_availability_1pt=[01]\.\d{4} requests_per_phase=\d+",
        last,
    )
