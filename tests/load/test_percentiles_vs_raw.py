"""The driver's per-phase percentiles against the raw per-request latencies of the same run.

The locustfile of this test adds a test-only `events.request` listener that writes every
request's completion time and latency; the rows' merged histograms must give the same
nearest-rank percentiles, within the histogram's precision (whole milliseconds, 3
significant digits).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from chaos.experiment.model import Load
from chaos.load.driver import LoadDriver, merge_rows
from chaos.metrics.sli import phase_slis
from tests.load.local_target import LocalTarget

REPO = Path(__file__).resolve().parents[2]
RAW_HOOK = '''
import os, time
from locust import events

_raw = open(os.environ["GAMEDAY_TEST_RAW_LATENCIES"], "a", buffering=1)

@events.request.add_listener
def _record(response_time, **_):
    _raw.write(f"{time.time()} {response_time}\\n")
'''


def nearest_rank(values: list[float], percent: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(percent / 100 * len(ordered))) - 1]


def test_phase_percentiles_match_raw_latencies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw_path = tmp_path / "raw.txt"
    monkeypatch.setenv("GAMEDAY_TEST_RAW_LATENCIES", str(raw_path))
    locustfile = tmp_path / "orders_with_raw_hook.py"
    locustfile.write_text((REPO / "loadtests" / "orders.py").read_text() + RAW_HOOK)
    with LocalTarget() as target:
        driver = LoadDriver(Load(locustfile=str(locustfile), users=40, spawn_rate=200.0),
                            host=target.url, run_dir=tmp_path / "run", max_run_time_s=5)
        driver.start()
        assert driver.wait(timeout_s=30)
    raw = [tuple(map(float, line.split())) for line in raw_path.read_text().splitlines()]
    rows = merge_rows(driver.rows)
    assert sum(row.requests for row in rows) == len(raw) > 100
    seconds = sorted({row.second for row in rows})
    middle = seconds[len(seconds) // 2]
    for start, end in ((seconds[0], middle), (middle, seconds[-1] + 1)):  # two "phases"
        measured = phase_slis(rows, start, end)
        latencies = [latency for done, latency in raw if start <= int(done) < end]
        assert measured["requests"] == len(latencies)
        for key, percent in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("max", 100)):
            exact = nearest_rank(latencies, percent)
            # whole-millisecond recording (±0.5 ms, at least 1 ms) and 3 significant digits
            tolerance = max(0.5, 0.001 * exact) + 0.5
            assert abs(measured["latency_ms"][key] - exact) <= tolerance, (key, exact, measured)
