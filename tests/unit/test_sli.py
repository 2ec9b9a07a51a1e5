from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.metrics.histogram import LatencyHistogram
from chaos.metrics.rows import SecondRow
from chaos.metrics.sli import recovery_time_s
from tests.reference.streaming import stream_measure

START = 1_700_000_000


def row(
    second: int,
    latencies: list[float],
    failures: int = 0,
    traffic: str = "normal",
    blocked: int = 0,
    user_class: str = "U",
) -> SecondRow:
    item = SecondRow(
        second=second,
        user_class=user_class,
        endpoint="GET /",
        traffic=traffic,  # type: ignore[arg-type]
        requests=len(latencies),
        failures=failures,
        blocked=blocked,
    )
    for latency in latencies:
        item.histogram.record(latency)
    return item


def test_phase_slis_of_a_window() -> None:
    rows = [row(START + i, [100.0] * 10, failures=1 if i == 2 else 0) for i in range(5)]
    rows.append(row(START + 5, [5000.0]))  # outside [start, end)
    rows.append(row(START + 1, [1.0] * 50, traffic="abusive", blocked=50))
    slis = stream_measure(rows, {"baseline": (START, START + 5)})["phases"]["baseline"]
    assert slis["requests"] == 50 and slis["failures"] == 1
    assert slis["throughput_rps"] == 10.0
    assert math.isclose(slis["availability"], 0.98) and math.isclose(slis["error_rate"], 0.02)
    assert slis["latency_ms"] == {
        "p50": 100.0,
        "p90": 100.0,
        "p95": 100.0,
        "p99": 100.0,
        "max": 100.0,
    }
    assert slis["abusive_requests"] == 50 and slis["abusive_blocked"] == 50
    assert slis["blocked"] == 0


def test_phase_without_requests_has_no_availability() -> None:
    slis = stream_measure([], {"baseline": (START, START + 10)})["phases"]["baseline"]
    assert slis["requests"] == 0 and slis["throughput_rps"] == 0.0
    assert slis["availability"] is None and slis["error_rate"] is None
    assert set(slis["latency_ms"].values()) == {None}


def test_timeline_fills_gaps_and_names_phases() -> None:
    rows = [row(START, [10.0]), row(START, [30.0], user_class="V"), row(START + 3, [20.0], 1)]
    windows = {"baseline": (START + 0.0, START + 2.0), "fault": (START + 2.0, START + 5.0)}
    seconds = stream_measure(rows, windows)["timeline"]
    assert [s["second"] for s in seconds] == list(range(START, START + 5))
    assert [s["phase"] for s in seconds] == ["baseline"] * 2 + ["fault"] * 3
    assert seconds[0]["requests"] == 2 and seconds[0]["max_ms"] == 30.0
    assert seconds[1]["requests"] == 0 and seconds[1]["p99_ms"] is None
    assert seconds[3]["failures"] == 1 and seconds[3]["error_rate"] == 1.0


def test_recovery_time_needs_five_good_seconds_in_a_row() -> None:
    def sec(i: int, failures: int, requests: int = 10) -> dict[str, int]:
        return {"second": START + i, "requests": requests, "failures": failures}

    seconds = [sec(0, 9), sec(1, 0), sec(2, 0), sec(3, 5), sec(4, 0, 0)] + [
        sec(i, 0) for i in range(5, 12)
    ]
    assert recovery_time_s(seconds, START, 1.0) == 5.0
    # the baseline was already worse than 99%: 90% is back to baseline
    assert recovery_time_s([sec(i, 1) for i in range(6)], START, 0.9) == 0.0
    assert recovery_time_s([sec(i, 1) for i in range(6)], START, 1.0) is None


latency = st.floats(min_value=1, max_value=60_000, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(latency, max_size=40), min_size=1, max_size=12))
def test_merged_histograms_equal_one_histogram_of_all_samples(chunks: list[list[float]]) -> None:
    merged, whole = LatencyHistogram(), LatencyHistogram()
    for chunk in chunks:
        part = LatencyHistogram()
        for value in chunk:
            part.record(value)
            whole.record(value)
        merged.merge(LatencyHistogram.decode(part.encode()))  # as rows travel between processes
    assert merged.count == whole.count
    assert merged.summary() == whole.summary()


second_rows = st.lists(
    st.tuples(
        st.integers(0, 59),
        st.integers(0, 30),
        st.integers(0, 30),
        st.sampled_from(["normal", "legit", "abusive"]),
    ),
    max_size=60,
)


@settings(max_examples=40, deadline=None)
@given(second_rows, st.integers(1, 58), st.integers(1, 58))
def test_phases_partition_the_run(
    raw: list[tuple[int, int, int, str]], cut_a: int, cut_b: int
) -> None:
    rows = [
        row(START + offset, [50.0] * requests, min(failures, requests), traffic)
        for offset, requests, failures, traffic in raw
    ]
    first, second = sorted((cut_a, cut_b))
    windows = {
        "baseline": (START + 0.0, START + first + 0.0),
        "fault": (START + first + 0.0, START + second + 0.0),
        "recovery": (START + second + 0.0, START + 60.0),
    }
    measured = stream_measure(rows, windows)
    phases, overall = measured["phases"], measured["overall"]
    assert sum(p["requests"] for p in phases.values()) == overall["requests"]
    assert sum(p["failures"] for p in phases.values()) == overall["failures"]
    assert sum(s["requests"] for s in measured["timeline"]) == overall["requests"]
    for slis in [*phases.values(), overall]:
        if slis["requests"]:
            assert math.isclose(slis["availability"] + slis["error_rate"], 1.0)
            assert 0.0 <= slis["availability"] <= 1.0
        else:
            assert slis["availability"] is None and slis["error_rate"] is None
    failed = sum(p["error_rate"] * p["requests"] for p in phases.values() if p["requests"])
    assert math.isclose(failed, overall["failures"], abs_tol=1e-6)
