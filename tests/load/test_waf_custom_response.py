"""A rate rule with a CustomResponse: its block is recognised by the status code and, when
the rule defines one, its response header; any other 403 is `other_403`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from requests.structures import CaseInsensitiveDict

from chaos.experiment.model import Load, WafLoad
from chaos.load.collector import INJECTED, OTHER_403, WAF_BLOCK
from chaos.load.driver import LoadDriver
from chaos.load.process_config import LoadPlan
from chaos.load.response_signs import ResponseSigns
from chaos.load.waf import RateRule, read_rate_rule
from chaos.load.waf_traffic import plan_waf_traffic
from tests.load.local_target import LocalTarget
from tests.load.test_driver import LOCUSTFILE, RowsReceived

FORBIDDEN = b'{"message":"Forbidden"}'


def web_acl(
    custom_response: dict[str, Any] | None, limit: int = 100, window_s: int = 60
) -> dict[str, Any]:
    """A GetWebACL `WebACL` document with one FORWARDED_IP rate rule."""
    block = {"CustomResponse": custom_response} if custom_response else {}
    return {
        "Name": "orders-acl",
        "ARN": "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/orders-acl/1",
        "VisibilityConfig": {"MetricName": "orders-acl"},
        "Rules": [
            {
                "Name": "orders-rate-limit",
                "Priority": 0,
                "Action": {"Block": block},
                "VisibilityConfig": {"MetricName": "orders-rate-limit"},
                "Statement": {
                    "RateBasedStatement": {
                        "Limit": limit,
                        "EvaluationWindowSec": window_s,
                        "AggregateKeyType": "FORWARDED_IP",
                        "ForwardedIPConfig": {
                            "HeaderName": "X-Forwarded-For",
                            "FallbackBehavior": "MATCH",
                        },
                    }
                },
            }
        ],
    }


HEADER_RESPONSE = {
    "ResponseCode": 403,
    "ResponseHeaders": [{"Name": "X-Blocked-By", "Value": "rate"}],
}


class Reply:
    def __init__(self, headers: dict[str, str] | None = None, content: bytes = b"") -> None:
        self.headers = CaseInsensitiveDict(headers or {})
        self.content = content


def signs_of(rule: RateRule) -> ResponseSigns:
    plan = plan_waf_traffic(
        rule, WafLoad(rule=rule.name, abusive_clients=1, legit_clients=1), workers=0
    )
    signs = ResponseSigns()
    signs.configure(LoadPlan(waf=plan))
    return signs


def test_the_rules_custom_response_is_discovered_with_its_header_as_sent() -> None:
    rule = read_rate_rule(web_acl(HEADER_RESPONSE), "orders-rate-limit")
    assert (rule.block_status, rule.custom_response) == (403, True)
    # WAF sends a custom response's headers by the names the rule gives them (it prefixes
    # x-amzn-waf- only to headers it inserts into requests)
    assert rule.block_header == "x-blocked-by"
    plain = read_rate_rule(web_acl(None), "orders-rate-limit")
    assert (plain.block_status, plain.custom_response, plain.block_header) == (403, False, None)


def test_status_and_header_are_both_required_when_the_rule_defines_a_header() -> None:
    signs = signs_of(read_rate_rule(web_acl(HEADER_RESPONSE), "orders-rate-limit"))
    assert signs.flags(403, Reply({"x-blocked-by": "rate"}, b"slow down")) == WAF_BLOCK
    assert signs.flags(403, Reply({"X-BLOCKED-BY": "rate"})) == WAF_BLOCK, "any case"
    # the same status without the header: an authorizer, or another rule's plain block
    assert signs.flags(403, Reply({}, FORBIDDEN)) == OTHER_403
    assert signs.flags(403, Reply({"x-amzn-waf-x-blocked-by": "rate"})) == OTHER_403
    # the header on another status is not this rule's response either
    assert signs.flags(429, Reply({"x-blocked-by": "rate"})) == 0


def test_a_custom_429_without_header_cannot_be_told_from_a_throttle() -> None:
    signs = signs_of(read_rate_rule(web_acl({"ResponseCode": 429}), "orders-rate-limit"))
    # API Gateway throttles with 429 too: without the rule's header it is no block
    assert signs.flags(429, Reply({}, b"anything")) == 0
    # API Gateway's WAF 403 comes from another rule then: not this rule's block
    assert signs.flags(403, Reply({}, FORBIDDEN)) == OTHER_403


def test_another_custom_4xx_without_header_is_recognised_by_its_status_alone() -> None:
    signs = signs_of(read_rate_rule(web_acl({"ResponseCode": 418}), "orders-rate-limit"))
    assert signs.flags(418, Reply({}, b"anything")) == WAF_BLOCK
    # a response the fault extension replaced came from the function: never a block
    assert signs.flags(418, Reply({"x-gameday-chaos-fault": "error"})) == INJECTED


def test_without_a_custom_response_only_api_gateways_waf_body_is_a_block() -> None:
    signs = signs_of(read_rate_rule(web_acl(None), "orders-rate-limit"))
    assert signs.flags(403, Reply({}, b'{"message": "Forbidden"}')) == WAF_BLOCK
    assert signs.flags(403, Reply({}, b'{"message":"Missing Authentication Token"}')) == OTHER_403


def test_a_locust_run_counts_only_the_rules_custom_response_as_blocks(tmp_path: Path) -> None:
    """Abusive clients over the limit get the rule's 403 with its header; /health answers
    everyone else 403 with API Gateway's WAF body but without the header: `other_403`,
    never a block."""
    rule = read_rate_rule(web_acl(HEADER_RESPONSE, limit=6, window_s=3), "orders-rate-limit")
    plan = plan_waf_traffic(
        rule, WafLoad(rule=rule.name, abusive_clients=1, legit_clients=1), workers=0
    )
    received = RowsReceived()
    with LocalTarget(
        block_after=rule.limit,
        window_s=rule.window_s,
        block_headers=(("X-Blocked-By", "rate"),),
        block_body=b"slow down",
        other_403_path="/health",
        other_403_body=FORBIDDEN,
    ) as target:
        driver = LoadDriver(
            Load(locustfile=LOCUSTFILE, users=3, spawn_rate=50.0),
            host=target.url,
            run_dir=tmp_path,
            max_run_time_s=6,
            waf_plan=plan,
            on_row=received,
        )
        driver.start()
        assert driver.wait(timeout_s=30)
        waf_blocked, other_403 = target.blocked, target.other_403
    rows = received.rows
    assert waf_blocked > 0 and other_403 > 0
    assert sum(row.blocked for row in rows) == waf_blocked
    assert sum(row.other_403 for row in rows) == other_403
    assert all(
        row.blocked == 0
        for row in rows
        if row.traffic != "abusive" and row.endpoint == "GET /health"
    )
