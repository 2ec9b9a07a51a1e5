"""WAF SLIs on synthetic rows with hand-computed answers, through the streaming path."""

from __future__ import annotations

from typing import Any

from chaos.load.waf import RateRule
from chaos.metrics.rows import SecondRow, Traffic
from chaos.metrics.waf_slis import waf_slis as waf_slis_of_counters
from tests.reference.streaming import aggregate
from tests.waf_rules import forwarded_ip_rule, waf_plan

RULE = forwarded_ip_rule(limit=10, window_s=5)
PLAN = waf_plan(RULE, abusive=2, legit=1)
T0 = 1_700_000_000


def waf_slis(
    rows: list[SecondRow], rule: RateRule, plan: Any, abusive_stopped_at: float | None = None
) -> dict[str, Any]:
    aggregator = aggregate(rows, {"baseline": (T0, T0 + 60)})
    return waf_slis_of_counters(
        aggregator.identities,
        rule,
        plan,
        legit_blocked=aggregator.all_totals().blocked,
        abusive_stopped_at=abusive_stopped_at,
    )


def row(
    offset: int, identity: str, requests: int, blocked: int = 0, traffic: Traffic = "abusive"
) -> SecondRow:
    return SecondRow(
        T0 + offset,
        "OrdersUserAbusive",
        "GET /orders",
        traffic,
        identity,
        requests=requests,
        blocked=blocked,
    )


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
    assert (result["rule"], result["limit"], result["window_s"], result["aggregation"]) == (
        "orders-rate-limit",
        10,
        5,
        "FORWARDED_IP",
    )


def test_never_blocked_abuser_has_no_time_to_block() -> None:
    rows = [row(offset, "203.0.113.1", 6) for offset in range(4)]  # 6, 12 -> crosses at +1
    result = waf_slis(rows, RULE, PLAN)
    assert result["time_to_block_s"] is None
    assert result["leaked_over_limit"] == 24 - 10  # everything beyond the limit got through


def test_time_to_unblock_after_abuse_stops() -> None:
    rows = [
        row(0, "203.0.113.1", 12, blocked=1),
        row(1, "203.0.113.1", 4, blocked=4),
        row(2, "203.0.113.1", 1, blocked=1),  # probes after the stop at +1.4
        row(3, "203.0.113.1", 1, blocked=1),
        row(6, "203.0.113.1", 1, blocked=0),
    ]
    result = waf_slis(rows, RULE, PLAN, abusive_stopped_at=T0 + 1.4)
    assert result["time_to_unblock_s"] == 5
    still_blocked = waf_slis(rows[:4], RULE, PLAN, abusive_stopped_at=T0 + 1.4)
    assert still_blocked["time_to_unblock_s"] is None
