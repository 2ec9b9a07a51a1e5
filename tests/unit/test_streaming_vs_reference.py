"""The streaming aggregation gives the numbers of the whole-row computation it replaced.

On rows recorded from a real sandbox run (WAF clients, a master and two workers), and on
random rows: identical counts, availability and error rates; percentiles within the
histogram's stated precision (the reference merges into its own 3-digit histogram).
"""

from __future__ import annotations

import gzip
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from chaos.load.waf import RateRule
from chaos.metrics.aggregate import RunAggregator
from chaos.metrics.histogram import RELATIVE_PRECISION
from chaos.metrics.measurement import measure_load
from chaos.metrics.rows import SecondRow
from chaos.metrics.sli import recovery_time_s
from chaos.metrics.waf_slis import waf_slis
from tests.reference import whole_rows
from tests.reference.streaming import arriving, phase_times
from tests.waf_rules import forwarded_ip_rule, waf_plan

FIXTURE = Path(__file__).parent / "fixtures" / "recorded-waf-two-workers"
COUNTS = ("requests", "failures", "blocked", "abusive_requests", "abusive_blocked")
RATES = ("availability", "error_rate")
LATENCIES = ("p50", "p90", "p95", "p99", "max")


def recorded() -> tuple[list[SecondRow], dict[str, Any]]:
    with gzip.open(FIXTURE / "load-rows.jsonl.gz", "rt", encoding="utf-8") as lines:
        rows = [SecondRow.from_json(line) for line in lines if line.strip()]
    return rows, json.loads((FIXTURE / "run.json").read_text())


def rule_and_plan(meta: dict[str, Any]) -> tuple[RateRule, Any]:
    rule = forwarded_ip_rule(
        limit=meta["rule"]["limit"], window_s=meta["rule"]["window_s"], name=meta["rule"]["name"]
    )
    plan = waf_plan(rule, abusive=2, legit=10, workers=2)
    return rule, plan


def windows_of(marks: list[list[Any]]) -> dict[str, tuple[float, float]]:
    """The phase windows the reference takes (transition seconds belong to no phase)."""
    windows: dict[str, tuple[float, float]] = {}
    for (label, start), (_, end) in zip(marks, marks[1:], strict=False):
        if label in ("baseline", "fault", "recovery"):
            windows[label] = (start, end)
    return windows


def streamed(rows: list[SecondRow], marks: list[list[Any]]) -> RunAggregator:
    """Rows in arrival order (the file's), boundaries marked before the rows they split."""
    return arriving(rows, marks)


def assert_same_window(streaming: dict[str, Any], reference: dict[str, Any], where: str) -> None:
    for key in COUNTS:
        assert streaming[key] == reference[key], f"{where}: {key}"
    for key in RATES:
        if reference[key] is None:
            assert streaming[key] is None, f"{where}: {key}"
        else:
            assert math.isclose(streaming[key], reference[key], abs_tol=1e-12), f"{where}: {key}"
    for key in LATENCIES:
        expected, observed = reference["latency_ms"][key], streaming["latency_ms"][key]
        if expected is None:
            assert observed is None, f"{where}: {key}"
        else:
            assert abs(observed - expected) <= RELATIVE_PRECISION * expected + 1, (
                f"{where}: {key} {observed} vs {expected}"
            )


def compare(
    rows: list[SecondRow],
    marks: list[list[Any]],
    stopped_at: float | None,
    rule: RateRule,
    plan: Any,
) -> None:
    windows = windows_of(marks)
    merged = whole_rows.merge_rows(rows)
    reference = whole_rows.measure_run(merged, windows)
    aggregator = streamed(rows, marks)
    streaming = measure_load(aggregator, phase_times(windows))
    for name in windows:
        assert_same_window(streaming["phases"][name], reference["phases"][name], name)
    by_second = {entry["second"]: entry for entry in streaming["timeline"]}
    for entry in reference["timeline"]:
        mine = by_second[entry["second"]]
        assert (mine["requests"], mine["failures"], mine["blocked"]) == (
            entry["requests"],
            entry["failures"],
            entry["blocked"],
        ), entry["second"]
        assert mine["phase"] == (entry["phase"] or mine["phase"])
        for key in ("p50_ms", "p99_ms", "max_ms"):
            if entry[key] is not None:
                assert abs(mine[key] - entry[key]) <= RELATIVE_PRECISION * entry[key] + 1
    assert streaming["recovery_time_s"] == reference["recovery_time_s"]
    expected_waf = whole_rows.waf_slis(merged, rule, plan, abusive_stopped_at=stopped_at)
    observed_waf = waf_slis(
        aggregator.identities,
        rule,
        plan,
        legit_blocked=aggregator.all_totals().blocked,
        abusive_stopped_at=stopped_at,
    )
    for key in (
        "time_to_block_s",
        "leaked_over_limit",
        "legit_blocked",
        "time_to_unblock_s",
        "client_blocked_requests",
    ):
        assert observed_waf[key] == expected_waf[key], key
    assert observed_waf["clients"] == expected_waf["clients"]


def test_recorded_sandbox_run_gives_the_reference_numbers() -> None:
    rows, meta = recorded()
    assert len(rows) > 500 and {row.traffic for row in rows} == {"normal", "legit", "abusive"}
    rule, plan = rule_and_plan(meta)
    compare(rows, meta["marks"], meta["abusive_stopped_at"], rule, plan)


def test_recorded_rows_come_from_two_workers_whose_counts_the_run_reported() -> None:
    rows, meta = recorded()
    sums: dict[str, int] = {}
    for row in rows:
        assert row.worker is not None
        sums[row.worker] = sums.get(row.worker, 0) + row.requests
    assert len(sums) == 2 and min(sums.values()) > 100
    aggregator = streamed(rows, meta["marks"])
    assert aggregator.worker_requests == sums == meta["worker_requests"]
    by_segment = aggregator.worker_requests_by_segment()
    assert {worker: sum(counts.values()) for worker, counts in by_segment.items()} == sums
    assert all(counts["fault"] > 0 for counts in by_segment.values())


@pytest.mark.parametrize("seed", range(5))
def test_random_rows_in_shuffled_worker_order_give_the_reference_numbers(seed: int) -> None:
    rows, meta = recorded()
    rule, plan = rule_and_plan(meta)
    shuffler = random.Random(seed)
    # Workers deliver a second's rows in any order, a little late: shuffle within 2 s.
    jittered = sorted(rows, key=lambda row: row.second + shuffler.uniform(0, 1.9))
    for row in jittered[::7]:  # and hand some rows to other workers
        row.worker = f"worker-{shuffler.randint(0, 1)}"
    compare(jittered, meta["marks"], meta["abusive_stopped_at"], rule, plan)


def test_a_row_later_than_its_second_still_counts() -> None:
    aggregator = RunAggregator(finalize_after_s=1)
    aggregator.mark("baseline", 100.0)

    def row(second: int, requests: int) -> SecondRow:
        item = SecondRow(second, "U", "GET /", requests=requests, failures=1)
        item.histogram.record(10.0, requests)
        return item

    for second in range(100, 110):
        aggregator.add(row(second, 5))
    aggregator.add(row(101, 3))  # long after second 101 was finalized
    aggregator.finish(110.0)
    assert aggregator.late_rows == 1
    totals = aggregator.segment_totals("baseline")
    assert (totals.requests, totals.failures) == (53, 11)
    timeline = {entry["second"]: entry for entry in aggregator.timeline()}
    assert timeline[101]["requests"] == 8 and timeline[101]["failures"] == 2


def test_recovery_time_matches_the_hand_written_oracle_on_random_timelines() -> None:
    """Timelines with failing seconds, quiet seconds and streaks near the rule's length."""
    rng = random.Random(20261207)
    start = 1_000.0
    for case in range(400):
        seconds = []
        for second in range(995, 1_040):
            requests = rng.choice([0, 1, 3, 10, 10, 10])
            failing = rng.random() < 0.25
            failures = rng.randint(1, requests) if failing and requests else 0
            seconds.append({"second": second, "requests": requests, "failures": failures})
        baseline = rng.choice([None, 1.0, 0.97, 0.9])
        assert recovery_time_s(seconds, start, baseline) == whole_rows.reference_recovery_time_s(
            seconds, start, baseline
        ), case
