"""A rate-based rule keyed on X-Forwarded-For and its traffic plan, for tests and benches."""

from __future__ import annotations

from typing import Any

from chaos.experiment.model import WafLoad
from chaos.load.waf import RateRule
from chaos.load.waf_traffic import WafTrafficPlan, plan_waf_traffic

RULE_NAME = "orders-rate-limit"


def forwarded_ip_rule(
    limit: int, window_s: int, *, web_acl_name: str = "orders-acl", **extra: Any
) -> RateRule:
    """A Block rule on X-Forwarded-For answering 403 unless `extra` says otherwise."""
    fields: dict[str, Any] = {
        "name": RULE_NAME,
        "web_acl_name": web_acl_name,
        "web_acl_arn": f"arn:{web_acl_name}",
        "limit": limit,
        "window_s": window_s,
        "aggregation": "FORWARDED_IP",
        "action": "Block",
        "block_status": 403,
        "forwarded_header": "X-Forwarded-For",
    }
    return RateRule(**{**fields, **extra})


def waf_plan(
    rule: RateRule, abusive: int, legit: int, *, workers: int = 0, measure_unblock: bool = False
) -> WafTrafficPlan:
    """`abusive` clients past the rule's limit and `legit` ones under it."""
    load = WafLoad(
        rule=rule.name,
        abusive_clients=abusive,
        legit_clients=legit,
        measure_unblock=measure_unblock,
    )
    return plan_waf_traffic(rule, load, workers=workers)
