"""Per-second aggregation of WAF traffic in the Locust collector: blocks vs failures."""

from __future__ import annotations

from chaos.load.collector import RequestOutcome, RowCollector
from chaos.metrics.rows import Traffic

T0 = 1_700_000_000


def outcome(status: int, traffic: Traffic = "normal") -> RequestOutcome:
    return RequestOutcome("OrdersUser", "GET /orders", traffic, None, status, 12.0)


def test_collector_counts_blocks_of_abusers_as_expected_and_others_as_failures() -> None:
    collector = RowCollector(block_status=403)
    for status, traffic in ((200, "normal"), (503, "normal"), (0, "normal"), (404, "normal"),
                            (403, "normal"), (403, "legit"), (403, "abusive")):
        collector.record(outcome(status, traffic), T0 + 0.5)  # type: ignore[arg-type]
    collector.record(outcome(200), T0 + 1.2)
    finished = collector.take_finished(T0 + 1.9)
    assert [row.second for row in finished] == [T0, T0, T0]
    by_traffic = {row.traffic: row for row in finished}
    normal = by_traffic["normal"]
    assert (normal.requests, normal.failures, normal.blocked) == (5, 3, 1)
    assert normal.status_classes == {"2xx": 1, "5xx": 1, "error": 1, "4xx": 2}
    assert (by_traffic["legit"].failures, by_traffic["legit"].blocked) == (1, 1)
    assert (by_traffic["abusive"].failures, by_traffic["abusive"].blocked) == (0, 1)
    assert normal.histogram.count == 5
    assert [row.second for row in collector.take_all()] == [T0 + 1]


def test_without_a_waf_plan_403_is_no_block() -> None:
    collector = RowCollector(block_status=None)
    collector.record(outcome(403), T0)
    (only,) = collector.take_all()
    assert (only.blocked, only.failures, only.status_classes) == (0, 0, {"4xx": 1})
