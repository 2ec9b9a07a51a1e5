"""The driver's per-phase percentiles against the raw per-request latencies of the same run.

The locustfile of this test adds a test-only `events.request` listener that writes every
request's completion time and latency; the rows, folded by the run's streaming
aggregation, must give the same percentiles (by HdrHistogram's rank rule) within the
histogram's precision (whole milliseconds, chaos.metrics.histogram.RELATIVE_PRECISION).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.experiment.model import Load
from chaos.load.driver import LoadDriver
from chaos.metrics.histogram import RELATIVE_PRECISION
from chaos.metrics.rows import SecondRow
from tests.load.local_target import LocalTarget
from tests.reference.streaming import stream_measure

REPO = Path(__file__).resolve().parents[2]
#: How far apart the two listeners' clock reads of one request can be (microseconds in
#: practice; generous for a loaded machine).
BOUNDARY_SLACK_S = 0.05
RAW_HOOK = """
import os, time
from locust import events

_raw = open(os.environ["GAMEDAY_TEST_RAW_LATENCIES"], "a", buffering=1)

@events.request.add_listener
def _record(response_time, **_):
    _raw.write(f"{time.time()} {response_time}\\n")
"""


def value_at_percentile(values: list[float], percent: float) -> float:
    """The exact percentile by HdrHistogram's rank rule: rank round(p * n), not ceil(p * n).

    The two differ by one rank when p * n has a fraction below one half; with a few dozen
    bimodal latencies (fast answers vs. a TCP retransmit) one rank can be a second apart.
    """
    ordered = sorted(values)
    rank = int(percent / 100 * len(ordered) + 0.5)
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def test_phase_percentiles_match_raw_latencies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw_path = tmp_path / "raw.txt"
    monkeypatch.setenv("GAMEDAY_TEST_RAW_LATENCIES", str(raw_path))
    locustfile = tmp_path / "orders_with_raw_hook.py"
    locustfile.write_text((REPO / "loadtests" / "orders.py").read_text() + RAW_HOOK)
    rows: list[SecondRow] = []
    with LocalTarget() as target:
        driver = LoadDriver(
            Load(locustfile=str(locustfile), users=40, spawn_rate=200.0),
            host=target.url,
            run_dir=tmp_path / "run",
            max_run_time_s=5,
            on_row=rows.append,
        )
        driver.start()
        assert driver.wait(timeout_s=30)
    raw = sorted(tuple(map(float, line.split())) for line in raw_path.read_text().splitlines())
    assert sum(row.requests for row in rows) == len(raw) > 100
    seconds = sorted({row.second for row in rows})
    middle = seconds[len(seconds) // 2]
    windows = {
        "first": (float(seconds[0]), float(middle)),  # two "phases"
        "second": (float(middle), float(seconds[-1] + 1)),
    }
    phases = stream_measure(rows, windows)["phases"]
    # The test's listener reads the clock a few microseconds before the plugin's: a request
    # that completed right at the boundary may be in either phase. Requests are recorded
    # one after another in one process, so the first phase holds the earliest ones.
    in_first = phases["first"]["requests"]
    surely_first = sum(1 for done, _ in raw if done < middle - BOUNDARY_SLACK_S)
    at_most_first = sum(1 for done, _ in raw if done < middle)
    assert surely_first <= in_first <= at_most_first, (surely_first, in_first, at_most_first)
    split = {"first": raw[:in_first], "second": raw[in_first:]}
    for name in windows:
        measured = phases[name]
        latencies = [latency for _, latency in split[name]]
        assert measured["requests"] == len(latencies) > 0
        for key, percent in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99), ("max", 100)):
            exact = value_at_percentile(latencies, percent)
            # whole-millisecond recording (±0.5 ms, at least 1 ms), then the histogram's
            # relative precision
            tolerance = max(0.5, RELATIVE_PRECISION * exact) + 0.5
            assert abs(measured["latency_ms"][key] - exact) <= tolerance, (key, exact, measured)
