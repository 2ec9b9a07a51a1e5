"""The WAF rule engine with a fake clock: aggregation, windows, scope-down, actions, checks."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from chaos.sandbox.waf.engine import WafEngine
from chaos.sandbox.waf.request import WebRequest
from tests.fake_clock import FakeClock


def rate_rule(
    name: str = "rate",
    *,
    limit: int = 10,
    window: int = 60,
    priority: int = 0,
    aggregation: str = "IP",
    action: dict[str, Any] | None = None,
    **statement: Any,
) -> dict[str, Any]:
    return {
        "Name": name,
        "Priority": priority,
        "Action": action or {"Block": {}},
        "VisibilityConfig": {"MetricName": f"{name}-metric"},
        "Statement": {
            "RateBasedStatement": {
                "Limit": limit,
                "EvaluationWindowSec": window,
                "AggregateKeyType": aggregation,
                **statement,
            }
        },
    }


def acl(*rules: dict[str, Any], bodies: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "Name": "acl",
        "DefaultAction": {"Allow": {}},
        "VisibilityConfig": {"MetricName": "acl-metric"},
        "Rules": list(rules),
        "CustomResponseBodies": bodies,
    }


def byte_match_path(search: str, constraint: str = "STARTS_WITH") -> dict[str, Any]:
    return {
        "ByteMatchStatement": {
            "FieldToMatch": {"UriPath": {}},
            "SearchString": base64.b64encode(search.encode()).decode(),  # as moto stores the blob
            "PositionalConstraint": constraint,
            "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
        }
    }


def request(
    ip: str = "10.0.0.1",
    *,
    path: str = "/orders",
    method: str = "GET",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> WebRequest:
    query_pairs = tuple((query or {}).items())
    return WebRequest(
        source_ip=ip,
        method=method,
        uri_path=path,
        query_string="&".join(f"{k}={v}" for k, v in query_pairs),
        headers=tuple((headers or {}).items()),
        query=query_pairs,
    )


def engine_for(
    *rules: dict[str, Any], clock: FakeClock, bodies: dict[str, Any] | None = None
) -> WafEngine:
    engine = WafEngine(clock=clock, check_interval_s=10)
    engine.configure(acl(*rules, bodies=bodies))
    return engine


def send(engine: WafEngine, count: int, make: WebRequest) -> list[bool]:
    return [engine.evaluate(make).blocked for _ in range(count)]


def test_ip_key_is_blocked_only_from_the_next_check_and_only_that_key() -> None:
    clock = FakeClock()
    engine = engine_for(rate_rule(limit=10), clock=clock)
    assert send(engine, 11, request("10.0.0.1")) == [False] * 11  # rate not checked yet
    clock.now += 3
    assert not engine.evaluate(request("10.0.0.1")).blocked
    engine.check()
    verdict = engine.evaluate(request("10.0.0.1"))
    assert verdict.blocked and verdict.status == 403 and verdict.rule == "rate"
    assert verdict.metric_name == "rate-metric"
    assert not engine.evaluate(request("10.0.0.2")).blocked


def test_exactly_the_limit_is_not_over_it() -> None:
    clock = FakeClock()
    engine = engine_for(rate_rule(limit=10), clock=clock)
    send(engine, 10, request())
    engine.check()
    assert engine.blocked_keys("rate") == set()


@pytest.mark.parametrize("window", [60, 120, 300, 600])
def test_key_is_released_at_the_first_check_after_the_window_drops_under(window: int) -> None:
    clock = FakeClock()
    engine = engine_for(rate_rule(limit=10, window=window), clock=clock)
    send(engine, 12, request())
    clock.now += window - 2  # the requests are still inside the trailing window
    engine.check()
    assert engine.blocked_keys("rate") == {("10.0.0.1",)}
    # Blocked requests still count, so stop sending; once they age out the next check releases.
    clock.now += 3
    assert engine.blocked_keys("rate") == {("10.0.0.1",)}, "release waits for a check"
    engine.check()
    assert engine.blocked_keys("rate") == set()
    assert not engine.evaluate(request()).blocked


def test_requests_spread_over_the_window_add_up() -> None:
    clock = FakeClock()
    engine = engine_for(rate_rule(limit=10, window=60), clock=clock)
    for _ in range(11):
        engine.evaluate(request())
        clock.now += 5  # 11 requests over 55 s: all within one 60 s window
    engine.check()
    assert engine.blocked_keys("rate") == {("10.0.0.1",)}


def test_forwarded_ip_uses_the_first_address_of_the_header() -> None:
    clock = FakeClock()
    rule = rate_rule(
        aggregation="FORWARDED_IP",
        ForwardedIPConfig={"HeaderName": "X-Forwarded-For", "FallbackBehavior": "NO_MATCH"},
    )
    engine = engine_for(rule, clock=clock)
    abusive = request("127.0.0.1", headers={"x-forwarded-for": "198.51.100.7, 10.9.9.9"})
    send(engine, 11, abusive)
    send(engine, 5, request("127.0.0.1", headers={"X-Forwarded-For": "198.51.100.8"}))
    engine.check()
    assert engine.blocked_keys("rate") == {("198.51.100.7",)}
    assert engine.evaluate(abusive).blocked
    assert not engine.evaluate(
        request("127.0.0.1", headers={"X-Forwarded-For": "198.51.100.8"})
    ).blocked


def test_forwarded_ip_rule_ignores_requests_without_the_header() -> None:
    clock = FakeClock()
    rule = rate_rule(
        aggregation="FORWARDED_IP",
        ForwardedIPConfig={"HeaderName": "X-Forwarded-For", "FallbackBehavior": "MATCH"},
    )
    engine = engine_for(rule, clock=clock)
    send(engine, 50, request("127.0.0.1"))
    engine.check()
    assert engine.blocked_keys("rate") == set()
    assert not engine.evaluate(request("127.0.0.1")).blocked


@pytest.mark.parametrize(("fallback", "blocked"), [("MATCH", True), ("NO_MATCH", False)])
def test_forwarded_ip_fallback_applies_to_an_invalid_address(fallback: str, blocked: bool) -> None:
    rule = rate_rule(
        aggregation="FORWARDED_IP",
        ForwardedIPConfig={"HeaderName": "X-Client", "FallbackBehavior": fallback},
    )
    engine = engine_for(rule, clock=FakeClock())
    verdict = engine.evaluate(request(headers={"X-Client": "not-an-ip"}))
    assert verdict.blocked is blocked


def test_custom_keys_aggregate_on_every_component_and_skip_incomplete_requests() -> None:
    clock = FakeClock()
    rule = rate_rule(
        aggregation="CUSTOM_KEYS",
        CustomKeys=[
            {
                "Header": {
                    "Name": "x-api-key",
                    "TextTransformations": [{"Priority": 0, "Type": "LOWERCASE"}],
                }
            },
            {
                "QueryArgument": {
                    "Name": "tenant",
                    "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
                }
            },
            {"HTTPMethod": {}},
            {"UriPath": {"TextTransformations": [{"Priority": 0, "Type": "NONE"}]}},
        ],
    )
    engine = engine_for(rule, clock=clock)
    heavy = request(
        headers={"X-Api-Key": "KEY1"}, query={"tenant": "a"}, path="/orders", method="POST"
    )
    send(engine, 11, heavy)
    for variant in (
        request(headers={"X-Api-Key": "key1"}, query={"tenant": "b"}, method="POST"),
        request(headers={"X-Api-Key": "key1"}, query={"tenant": "a"}, method="GET"),
        request(headers={"X-Api-Key": "key1"}, query={"tenant": "a"}, method="POST", path="/other"),
    ):
        send(engine, 6, variant)
    send(engine, 30, request(query={"tenant": "a"}, method="POST"))  # no api key: not counted
    engine.check()
    assert engine.blocked_keys("rate") == {("key1", "a", "POST", "/orders")}
    assert engine.evaluate(
        request(headers={"x-api-key": "key1"}, query={"tenant": "a"}, method="POST")
    ).blocked


def test_constant_key_limits_all_clients_together() -> None:
    clock = FakeClock()
    engine = engine_for(rate_rule(aggregation="CONSTANT"), clock=clock)
    for index in range(11):
        engine.evaluate(request(f"10.0.0.{index}"))
    engine.check()
    assert engine.evaluate(request("10.1.1.1")).blocked


def test_scope_down_byte_match_limits_what_is_counted_and_blocked() -> None:
    clock = FakeClock()
    engine = engine_for(rate_rule(ScopeDownStatement=byte_match_path("/orders")), clock=clock)
    send(engine, 20, request(path="/health"))
    engine.check()
    assert engine.blocked_keys("rate") == set()
    send(engine, 11, request(path="/orders/42"))
    engine.check()
    assert engine.evaluate(request(path="/orders")).blocked
    assert not engine.evaluate(request(path="/health")).blocked


def test_scope_down_not_and_or_statements() -> None:
    clock = FakeClock()
    scope = {
        "AndStatement": {
            "Statements": [
                byte_match_path("/api", "STARTS_WITH"),
                {
                    "NotStatement": {
                        "Statement": {
                            "OrStatement": {
                                "Statements": [
                                    byte_match_path("/health", "ENDS_WITH"),
                                    byte_match_path("ping", "CONTAINS_WORD"),
                                ]
                            }
                        }
                    }
                },
            ]
        }
    }
    engine = engine_for(rate_rule(ScopeDownStatement=scope), clock=clock)
    send(engine, 15, request(path="/api/health"))
    send(engine, 15, request(path="/api/x/ping/y"))
    engine.check()
    assert engine.blocked_keys("rate") == set()
    send(engine, 11, request(path="/api/orders"))
    engine.check()
    assert engine.blocked_keys("rate") == {("10.0.0.1",)}


def test_count_action_counts_and_lets_later_rules_decide() -> None:
    clock = FakeClock()
    counting = rate_rule("watch", action={"Count": {}}, priority=0)
    blocking = rate_rule("strict", limit=1000, priority=1)
    engine = engine_for(counting, blocking, clock=clock)
    send(engine, 11, request())
    engine.check()
    verdict = engine.evaluate(request())
    assert not verdict.blocked
    assert verdict.counted == ("watch-metric",)
    assert engine.blocked_keys("watch") == {("10.0.0.1",)}


def test_custom_response_code_body_and_headers() -> None:
    clock = FakeClock()
    rule = rate_rule(
        action={
            "Block": {
                "CustomResponse": {
                    "ResponseCode": 429,
                    "CustomResponseBodyKey": "slow-down",
                    "ResponseHeaders": [{"Name": "retry", "Value": "60"}],
                }
            }
        }
    )
    bodies = {"slow-down": {"ContentType": "APPLICATION_JSON", "Content": '{"slow":"down"}'}}
    engine = engine_for(rule, clock=clock, bodies=bodies)
    send(engine, 11, request())
    engine.check()
    verdict = engine.evaluate(request())
    assert (verdict.status, verdict.body, verdict.content_type) == (
        429,
        b'{"slow":"down"}',
        "application/json",
    )
    assert verdict.headers == (("retry", "60"),), "response headers are not prefixed"


def test_rules_run_in_priority_order_and_a_block_stops_evaluation() -> None:
    clock = FakeClock()
    second = rate_rule("second", limit=30, priority=5)
    first = rate_rule("first", limit=10, priority=1, ScopeDownStatement=byte_match_path("/a"))
    engine = engine_for(second, first, clock=clock)
    send(engine, 11, request(path="/a"))
    engine.check()
    assert engine.blocked_keys("first") == {("10.0.0.1",)}
    assert send(engine, 25, request(path="/a")) == [True] * 25  # "first" blocks them all
    assert engine.evaluate(request(path="/a")).rule == "first"
    engine.check()
    # 11 + 26 requests would exceed 30: "second" only counted the 11 that reached it.
    assert engine.blocked_keys("second") == set()


def test_invalid_rules_are_skipped() -> None:
    clock = FakeClock()
    engine = engine_for(rate_rule("low", limit=5), rate_rule("odd-window", window=30), clock=clock)
    send(engine, 50, request())
    engine.check()
    assert not engine.evaluate(request()).blocked


def test_reconfiguring_keeps_counts_unless_the_aggregation_changes() -> None:
    clock = FakeClock()
    engine = engine_for(rate_rule(limit=100), clock=clock)
    send(engine, 20, request())
    engine.configure(acl(rate_rule(limit=10)))  # a lower limit applies to what was counted
    engine.check()
    assert engine.blocked_keys("rate") == {("10.0.0.1",)}
    engine.configure(acl(rate_rule(limit=10, aggregation="CONSTANT")))
    engine.check()
    assert engine.blocked_keys("rate") == set()
    engine.configure(None)
    assert not engine.evaluate(request()).blocked
