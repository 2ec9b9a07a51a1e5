"""WAF SLIs and per-second aggregation on synthetic rows with hand-computed answers."""

from __future__ import annotations

from chaos.experiment.model import WafLoad
from chaos.load.collector import RequestOutcome, RowCollector
from chaos.load.plan import plan_waf_traffic
from chaos.load.waf import RateRule
from chaos.load.waf_slis import waf_slis
from chaos.metrics.rows import SecondRow, Traffic

RULE = RateRule(name="orders-rate-limit", web_acl_name="orders-acl", web_acl_arn="arn:x",
                limit=10, window_s=5, aggregation="FORWARDED_IP", action="Block",
                block_status=403, forwarded_header="X-Forwarded-For")
PLAN = plan_waf_traffic(RULE, WafLoad(rule=RULE.name, abusive_clients=2, legit_clients=1),
                        workers=0)
T0 = 1_700_000_000


def row(offset: int, identity: str, requests: int, blocked: int = 0,
        traffic: Traffic = "abusive") -> SecondRow:
    return SecondRow(T0 + offset, "OrdersUserAbusive", "GET /orders", traffic, identity,
                     requests=requests, blocked=blocked)


def test_time_to_block_leak_and_legit_blocks() -> None:
    rows = [
        # A: 4 req/s. Window 5 s, limit 10: the window holds 4, 8, 12 -> crosses at +2.
        # Blocked from +4 (2 of 4), fully from +5: time_to_block 2 s.
        # Allowed in the window ending +4: 4+4+4+4+2 = 18 -> 8 leaked over the limit.
        *(row(offset, "203.0.113.1", 4) for offset in range(4)),
        row(4, "203.0.113.1", 4, blocked=2),
        row(5, "203.0.113.1", 4, blocked=4),
        # B: 3 req/s, crosses at +3 (3, 6, 9, 12), blocked at +3 right away: 0 s;
        # allowed in the window ending +3: 3+3+3+2 = 11 -> 1 leaked.
        *(row(offset, "203.0.113.2", 3) for offset in range(3)),
        row(3, "203.0.113.2", 3, blocked=1),
        # a legit client blocked once, a normal user blocked twice
        row(1, "198.51.100.1", 1, blocked=1, traffic="legit"),
        row(2, "192.0.2.1", 5, blocked=2, traffic="normal"),
    ]
    result = waf_slis(rows, RULE, PLAN)
    by_identity = {client["identity"]: client for client in result["clients"]}
    assert by_identity["203.0.113.1"]["crossed_limit_at"] == T0 + 2
    assert by_identity["203.0.113.1"]["time_to_block_s"] == 2
    assert by_identity["203.0.113.1"]["leaked_over_limit"] == 8
    assert by_identity["203.0.113.2"]["time_to_block_s"] == 0
    assert by_identity["203.0.113.2"]["leaked_over_limit"] == 1
    assert result["time_to_block_s"] == 2  # the worst abusive client
    assert result["leaked_over_limit"] == 9
    assert result["legit_blocked"] == 3
    assert result["client_blocked_requests"] == 2 + 4 + 1 + 1 + 2
    assert result["time_to_unblock_s"] is None  # not asked
    assert (result["rule"], result["limit"], result["window_s"], result["aggregation"]) == \
        ("orders-rate-limit", 10, 5, "FORWARDED_IP")


def test_never_blocked_abuser_has_no_time_to_block() -> None:
    rows = [row(offset, "203.0.113.1", 6) for offset in range(4)]  # 6, 12 -> crosses at +1
    result = waf_slis(rows, RULE, PLAN)
    assert result["time_to_block_s"] is None
    assert result["leaked_over_limit"] == 24 - 10  # everything beyond the limit got through


def test_time_to_unblock_after_abuse_stops() -> None:
    rows = [row(0, "203.0.113.1", 12, blocked=1), row(1, "203.0.113.1", 4, blocked=4),
            row(2, "203.0.113.1", 1, blocked=1),  # probes after the stop at +1.4
            row(3, "203.0.113.1", 1, blocked=1),
            row(6, "203.0.113.1", 1, blocked=0)]
    result = waf_slis(rows, RULE, PLAN, abusive_stopped_at=T0 + 1.4)
    assert result["time_to_unblock_s"] == 5
    still_blocked = waf_slis(rows[:4], RULE, PLAN, abusive_stopped_at=T0 + 1.4)
    assert still_blocked["time_to_unblock_s"] is None


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
