"""A web ACL's rules as the engine runs them: action, statement, block response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chaos.sandbox.waf.rate import RateStatement
from chaos.sandbox.waf.statements import Matcher, UnsupportedRule, compile_statement

DEFAULT_BLOCK_STATUS = 403
FORBIDDEN_BODY = b'{"message":"Forbidden"}'
CONTENT_TYPES = {
    "APPLICATION_JSON": "application/json",
    "TEXT_HTML": "text/html",
    "TEXT_PLAIN": "text/plain",
}


@dataclass
class Rule:
    name: str
    priority: int
    metric_name: str
    action: str  # ALLOW | BLOCK | COUNT (CAPTCHA/CHALLENGE count as BLOCK here)
    block_status: int
    block_body: bytes
    block_content_type: str
    block_headers: tuple[tuple[str, str], ...]
    matcher: Matcher | None = None
    rate: RateStatement | None = None


def _action(rule: dict[str, Any]) -> str:
    action = rule.get("Action") or {}
    for name in ("Allow", "Block", "Count"):
        if name in action:
            return name.upper()
    if "Captcha" in action or "Challenge" in action:
        return "BLOCK"
    raise UnsupportedRule(f"Action {sorted(action)} (rule groups are not evaluated)")


def _block_response(
    rule: dict[str, Any], bodies: dict[str, Any]
) -> tuple[int, bytes, str, tuple[tuple[str, str], ...]]:
    custom = ((rule.get("Action") or {}).get("Block") or {}).get("CustomResponse")
    if not custom:
        return DEFAULT_BLOCK_STATUS, FORBIDDEN_BODY, "application/json", ()
    body_doc = bodies.get(str(custom.get("CustomResponseBodyKey") or "")) or {}
    # Sent by the names the rule gives them: WAF prefixes x-amzn-waf- only to headers it
    # inserts into requests (CustomHTTPHeader, https://docs.aws.amazon.com/waf/latest/
    # APIReference/API_CustomHTTPHeader.html; CustomResponse, .../API_CustomResponse.html).
    headers = tuple((str(h["Name"]), str(h["Value"])) for h in custom.get("ResponseHeaders") or [])
    return (
        int(custom["ResponseCode"]),
        str(body_doc.get("Content", "")).encode(),
        CONTENT_TYPES.get(str(body_doc.get("ContentType")), "text/plain"),
        headers,
    )


def parse_rule(rule: dict[str, Any], bodies: dict[str, Any]) -> Rule:
    statement = rule.get("Statement") or {}
    status, body, content_type, headers = _block_response(rule, bodies)
    parsed = Rule(
        name=str(rule["Name"]),
        priority=int(rule.get("Priority", 0)),
        metric_name=str((rule.get("VisibilityConfig") or {}).get("MetricName") or rule["Name"]),
        action=_action(rule),
        block_status=status,
        block_body=body,
        block_content_type=content_type,
        block_headers=headers,
    )
    if "RateBasedStatement" in statement:
        parsed.rate = RateStatement.parse(statement["RateBasedStatement"])
    else:
        parsed.matcher = compile_statement(statement)
    return parsed
