"""Traffic plans: rates per aggregation, identities, refusals, the `gameday plan` lines."""

from __future__ import annotations

import pytest

from chaos.errors import PreflightRefused
from chaos.experiment.model import Load, WafLoad
from chaos.load.identity import client_index
from chaos.load.waf import CustomKey, RateRule
from chaos.load.waf_traffic import WafTrafficPlan, describe_load, plan_waf_traffic


def rule(
    aggregation: str = "FORWARDED_IP", limit: int = 100, window_s: int = 60, **extra: object
) -> RateRule:
    return RateRule(
        name="orders-rate-limit",
        web_acl_name="orders-acl",
        web_acl_arn="arn:x",
        limit=limit,
        window_s=window_s,
        aggregation=aggregation,
        action="Block",
        **{"block_status": 403, **extra},
    )  # type: ignore[arg-type]


def test_forwarded_ip_rates_and_distinct_addresses() -> None:
    plan = plan_waf_traffic(
        rule(forwarded_header="X-Forwarded-For"),
        WafLoad(rule="orders-rate-limit", abusive_clients=2, legit_clients=5),
        workers=2,
    )
    assert plan.abusive_rps == pytest.approx(5.0)  # 3 x 100 per 60 s
    assert plan.legit_rps == pytest.approx(0.5)  # 30% of 100 per 60 s
    assert plan.per_window(plan.abusive_rps) == pytest.approx(300)
    assert plan.seconds_to_cross_limit == pytest.approx(20)
    identities = [
        plan.identity.identity(kind, client_index(local, worker, 2))
        for kind in ("abusive", "legit", "normal")
        for worker in range(2)
        for local in range(3)
    ]
    labels = [identity.label for identity in identities]
    assert len(set(labels)) == len(labels)
    assert identities[0].headers == {"X-Forwarded-For": "203.0.113.1"}
    assert all(identity.headers["X-Forwarded-For"] == identity.label for identity in identities)
    assert {label.rsplit(".", 1)[0] for label in labels} == {"203.0.113", "198.51.100", "192.0.2"}


def test_custom_header_keys_get_distinct_values() -> None:
    plan = plan_waf_traffic(
        rule(
            "CUSTOM_KEYS",
            limit=500,
            window_s=300,
            custom_keys=(CustomKey("Header", "x-api-key"), CustomKey("IP")),
        ),
        WafLoad(rule="r", abusive_clients=1, legit_clients=3),
        workers=0,
    )
    assert plan.abusive_rps == pytest.approx(5.0)  # 1500 per 300 s
    assert plan.legit_rps == pytest.approx(0.5)
    first, second = (plan.identity.identity("legit", index) for index in (0, 1))
    assert first.headers == {"x-api-key": "gameday-legit-0"}
    assert second.headers == {"x-api-key": "gameday-legit-1"}


def test_custom_keys_that_split_counts_are_warned_about() -> None:
    plan = plan_waf_traffic(
        rule("CUSTOM_KEYS", custom_keys=(CustomKey("Header", "x-tenant"), CustomKey("UriPath"))),
        WafLoad(rule="r"),
        workers=0,
    )
    assert any("UriPath" in warning for warning in plan.warnings)


def test_custom_keys_without_a_header_are_refused() -> None:
    with pytest.raises(PreflightRefused, match="without a Header or ForwardedIP key"):
        plan_waf_traffic(
            rule("CUSTOM_KEYS", custom_keys=(CustomKey("QueryArgument", "k"),)),
            WafLoad(rule="r"),
            workers=0,
        )


def test_ip_aggregation_is_one_host_one_client() -> None:
    spec = WafLoad(rule="r", abusive_clients=1, legit_clients=0)
    plan = plan_waf_traffic(rule("IP", limit=2000, window_s=300), spec, workers=0)
    assert plan.abusive_rps == pytest.approx(20.0)
    assert plan.identity.host
    assert plan.identity.identity("abusive", 0).headers == {}
    assert any("one host is one client" in line for line in plan.describe())
    with pytest.raises(PreflightRefused, match="one host is one client"):
        plan_waf_traffic(
            rule("IP"), WafLoad(rule="r", abusive_clients=1, legit_clients=2), workers=2
        )


def test_constant_aggregation_is_refused() -> None:
    with pytest.raises(PreflightRefused, match="cannot be told apart"):
        plan_waf_traffic(rule("CONSTANT"), WafLoad(rule="r"), workers=0)


def test_plan_travels_as_json_and_reads_as_lines() -> None:
    plan = plan_waf_traffic(
        rule(forwarded_header="X-Forwarded-For", scope_down=True),
        WafLoad(
            rule="orders-rate-limit", abusive_clients=2, legit_clients=20, measure_unblock=True
        ),
        workers=2,
    )
    assert WafTrafficPlan.from_dict(plan.to_dict()) == plan
    text = "\n".join(
        describe_load(
            Load(locustfile="loadtests/orders.py", users=50, spawn_rate=10.0, workers=2), plan
        )
    )
    assert "50 users from loadtests/orders.py" in text
    assert "2 local worker process(es)" in text
    assert "2 abusive client(s), each 5 req/s = 300 per 60s window" in text
    assert "20 legit client(s), each 0.5 req/s = 30 per 60s window" in text
    assert "scope-down" in text and "time_to_unblock_s" in text
    assert describe_load(None, None) == ["load: none"]


def test_a_bare_custom_429_block_is_warned_about() -> None:
    bare = plan_waf_traffic(
        rule(custom_response=True, block_status=429), WafLoad(rule="r"), workers=0
    )
    assert any("cannot be told from throttles" in warning for warning in bare.warnings)
    marked = plan_waf_traffic(
        rule(custom_response=True, block_status=429, block_header="x-blocked-by"),
        WafLoad(rule="r"),
        workers=0,
    )
    assert not any("throttles" in warning for warning in marked.warnings)


def test_phases_too_short_to_see_a_block_are_warned_about() -> None:
    waf = WafLoad(rule="orders-rate-limit", abusive_clients=2, legit_clients=1)
    short = plan_waf_traffic(rule(forwarded_header="X-Forwarded-For"), waf, workers=0, run_s=40.0)
    [warning] = [line for line in short.warnings if "time_to_block_s" in line]
    # 100 per 60 s at 3x: the limit is crossed after ~20 s, AWS may take 30 s more.
    assert "crosses the limit after ~20s" in warning and "at least 50s" in warning
    long_enough = plan_waf_traffic(
        rule(forwarded_header="X-Forwarded-For"), waf, workers=0, run_s=50.0
    )
    assert not [line for line in long_enough.warnings if "time_to_block_s" in line]
