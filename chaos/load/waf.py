"""WAF discovery: the web ACL protecting an endpoint and the rate-based rule to verify.

A CLOUDFRONT-scope web ACL lives in US East (N. Virginia) whatever the target's Region:
"AWS WAF is available globally for CloudFront distributions, but you must use the Region
US East (N. Virginia) to create your web ACL" ("Resources that you can protect with AWS
WAF", https://docs.aws.amazon.com/waf/latest/developerguide/how-aws-waf-works-resources.html);
it is read there, and the rule carries its scope (its CloudWatch metrics have no Region
dimension, chaos.metrics.cloudwatch).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

import boto3
from botocore.exceptions import ClientError

from chaos.aws.partition import arn
from chaos.errors import PreflightRefused

#: A rate-based rule's EvaluationWindowSec: "Valid settings are 60 (1 minute), 120 (2
#: minutes), 300 (5 minutes), and 600 (10 minutes), and 300 (5 minutes) is the default"
#: (https://docs.aws.amazon.com/waf/latest/developerguide/waf-rule-statement-type-rate-based-high-level-settings.html).
EVALUATION_WINDOWS_S = (60, 120, 300, 600)
DEFAULT_WINDOW_S = 300
DEFAULT_BLOCK_STATUS = 403
# What a client sees when a non-Block action fires (Count: nothing at all).
_ACTION_STATUS = {"Captcha": 405, "Challenge": 202}

_EXECUTE_API = re.compile(
    r"^(?P<api>[a-z0-9]+)\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$"
)
CLOUDFRONT_REGION = "us-east-1"
_AWS_ENDPOINT = re.compile(r"\.(amazonaws\.com(\.cn)?|api\.aws)$")
_WEB_ACL_ARN = re.compile(
    r"^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:\d{12}:(?P<scope>regional|global)/webacl/"
    r"(?P<name>[^/]+)/(?P<id>[^/]+)$"
)


@dataclass(frozen=True)
class CustomKey:
    """One component of a CUSTOM_KEYS aggregation (kind: Header, IP, ForwardedIP, ...)."""

    kind: str
    name: str | None = None  # the header / query argument / cookie name, where there is one


@dataclass(frozen=True)
class RateRule:
    """A rate-based rule as read from its web ACL."""

    name: str
    web_acl_name: str
    web_acl_arn: str
    limit: int
    window_s: int
    aggregation: str  # IP | FORWARDED_IP | CUSTOM_KEYS | CONSTANT
    action: str  # Block | Count | Captcha | Challenge
    block_status: int | None  # the status code clients see when blocked; None for Count
    scope_down: bool = False
    forwarded_header: str | None = None
    forwarded_fallback: str | None = None  # MATCH | NO_MATCH
    custom_keys: tuple[CustomKey, ...] = field(default_factory=tuple)
    # The AWS/WAFV2 metric dimensions are the VisibilityConfig metric names, not the names.
    metric_name: str | None = None
    web_acl_metric_name: str | None = None
    scope: str = "REGIONAL"  # the web ACL's: REGIONAL | CLOUDFRONT
    # How clients recognise the rule's block: its CustomResponse (status code, and the
    # first header it defines, by the name it defines), or else API Gateway's 403 with the
    # body {"message":"Forbidden"}.
    custom_response: bool = False
    block_header: str | None = None

    def to_dict(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["custom_keys"] = [asdict(key) for key in self.custom_keys]
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> RateRule:
        keys = tuple(CustomKey(**key) for key in raw.get("custom_keys", []))
        return cls(**{**raw, "custom_keys": keys})


def stage_arn_for_endpoint(endpoint: str) -> str | None:
    """The API Gateway stage ARN of an ``execute-api`` URL, or None for any other URL."""
    parts = urlsplit(endpoint)
    match = _EXECUTE_API.match(parts.hostname or "")
    stage = parts.path.strip("/").split("/", 1)[0]
    if match is None or not stage:
        return None
    return arn("apigateway", match["region"], "", f"/restapis/{match['api']}/stages/{stage}")


def discover_rate_rule(
    wafv2: Any,
    rule_name: str,
    *,
    web_acl: str | None = None,
    resource_arn: str | None = None,
    endpoint: str | None = None,
) -> RateRule:
    """Read rule ``rule_name`` from the named web ACL or the one associated with the target.

    ``web_acl`` (``load.waf.web_acl``: a name or an ARN) wins; else ``resource_arn`` (the
    sandbox passes its stage ARN); else the stage ARN derived from ``endpoint``.
    Raises PreflightRefused with a one-line reason.
    """
    acl, scope = _find_web_acl(wafv2, web_acl, resource_arn, endpoint)
    return replace(read_rate_rule(acl, rule_name), scope=scope)


def read_rate_rule(acl: dict[str, Any], rule_name: str) -> RateRule:
    """The rate-based rule ``rule_name`` of a ``WebACL`` document (get_web_acl's shape)."""
    acl_name = str(acl.get("Name", "?"))
    rules = {rule["Name"]: rule for rule in acl.get("Rules", [])}
    rule = rules.get(rule_name)
    if rule is None:
        known = ", ".join(sorted(rules)) or "none"
        raise PreflightRefused(
            f"load.waf.rule: web ACL {acl_name} has no rule {rule_name!r} (its rules: {known})"
        )
    statement = rule.get("Statement", {}).get("RateBasedStatement")
    if statement is None:
        kind = next(iter(rule.get("Statement", {})), "no statement")
        raise PreflightRefused(
            f"load.waf.rule: rule {rule_name!r} of web ACL {acl_name} is not rate-based ({kind})"
        )
    action, block_status = _action(rule)
    custom = ((rule.get("Action") or {}).get("Block") or {}).get("CustomResponse") or {}
    headers = [str(header["Name"]) for header in custom.get("ResponseHeaders") or []]
    forwarded = statement.get("ForwardedIPConfig") or {}
    return RateRule(
        name=rule_name,
        web_acl_name=acl_name,
        web_acl_arn=str(acl.get("ARN", "")),
        limit=int(statement["Limit"]),
        window_s=int(statement.get("EvaluationWindowSec") or DEFAULT_WINDOW_S),
        aggregation=str(statement.get("AggregateKeyType", "IP")),
        action=action,
        block_status=block_status,
        scope_down="ScopeDownStatement" in statement,
        forwarded_header=forwarded.get("HeaderName"),
        forwarded_fallback=forwarded.get("FallbackBehavior"),
        custom_keys=tuple(_custom_key(key) for key in statement.get("CustomKeys", [])),
        metric_name=rule.get("VisibilityConfig", {}).get("MetricName"),
        web_acl_metric_name=acl.get("VisibilityConfig", {}).get("MetricName"),
        custom_response=bool(custom),
        block_header=headers[0].lower() if headers else None,
    )


# A custom response's headers reach the client by the names the rule gives them ("You can
# specify any header name except for content-type", CustomResponse, https://
# docs.aws.amazon.com/waf/latest/APIReference/API_CustomResponse.html); WAF prefixes
# x-amzn-waf- only to the headers it inserts into *requests* ("For custom request header
# insertion ...", CustomHTTPHeader, .../API_CustomHTTPHeader.html).


def _action(rule: dict[str, Any]) -> tuple[str, int | None]:
    action = rule.get("Action") or {}
    if "Block" in action:
        custom = (action["Block"] or {}).get("CustomResponse") or {}
        return "Block", int(custom.get("ResponseCode", DEFAULT_BLOCK_STATUS))
    for name, status in _ACTION_STATUS.items():
        if name in action:
            return name, status
    return "Count", None


def _custom_key(raw: dict[str, Any]) -> CustomKey:
    kind, settings = next(iter(raw.items()))
    name = settings.get("Name") if isinstance(settings, dict) else None
    return CustomKey(kind=kind, name=name)


def _find_web_acl(
    wafv2: Any, web_acl: str | None, resource_arn: str | None, endpoint: str | None
) -> tuple[dict[str, Any], str]:
    if web_acl:
        return _named_web_acl(wafv2, web_acl)
    resource_arn = resource_arn or (stage_arn_for_endpoint(endpoint) if endpoint else None)
    if resource_arn is None:
        raise PreflightRefused(
            f"load.waf: cannot tell which web ACL protects {endpoint or 'the target'} (not an "
            "execute-api URL): name it in load.waf.web_acl"
        )
    try:
        found = wafv2.get_web_acl_for_resource(ResourceArn=resource_arn).get("WebACL")
    except ClientError as error:
        raise PreflightRefused(
            f"load.waf: cannot read the web ACL of {resource_arn}: "
            f"{error.response['Error'].get('Message', error)}"
        ) from error
    if not found:
        raise PreflightRefused(
            f"load.waf: no web ACL is associated with {resource_arn}: name one in load.waf.web_acl"
        )
    return dict(found), "REGIONAL"


def _named_web_acl(wafv2: Any, web_acl: str) -> tuple[dict[str, Any], str]:
    match = _WEB_ACL_ARN.match(web_acl)
    if match is not None:
        scope = "CLOUDFRONT" if match["scope"] == "global" else "REGIONAL"
        name, acl_id = match["name"], match["id"]
    else:
        scope, name = "REGIONAL", web_acl
        acls = _list_web_acls(wafv2, scope)
        if name not in acls:
            raise PreflightRefused(
                f"load.waf.web_acl: no REGIONAL web ACL named {name!r} "
                f"(found: {', '.join(sorted(acls)) or 'none'}; a CLOUDFRONT "
                "web ACL is named by its ARN)"
            )
        acl_id = acls[name]
    if scope == "CLOUDFRONT":
        wafv2 = client_in_region(wafv2, CLOUDFRONT_REGION)
    try:
        return dict(wafv2.get_web_acl(Name=name, Scope=scope, Id=acl_id)["WebACL"]), scope
    except ClientError as error:
        raise PreflightRefused(
            f"load.waf.web_acl: cannot read web ACL {web_acl}: "
            f"{error.response['Error'].get('Message', error)}"
        ) from error


def client_in_region(client: Any, region: str) -> Any:
    """A client of the same service, credentials, configuration and (sandbox) endpoint in
    `region`."""
    if client.meta.region_name == region:
        return client
    credentials = client._get_credentials()  # botocore's: what this client signs with
    endpoint = client.meta.endpoint_url
    return boto3.client(
        client.meta.service_model.service_name,
        region_name=region,
        endpoint_url=None if _AWS_ENDPOINT.search(urlsplit(endpoint).hostname or "") else endpoint,
        config=client.meta.config,
        aws_access_key_id=credentials.access_key if credentials else None,
        aws_secret_access_key=credentials.secret_key if credentials else None,
        aws_session_token=credentials.token if credentials else None,
    )


def _list_web_acls(wafv2: Any, scope: str) -> dict[str, str]:
    found: dict[str, str] = {}
    arguments: dict[str, Any] = {"Scope": scope, "Limit": 100}
    for _ in range(100):  # pages of 100: far more ACLs than an account may hold
        page = wafv2.list_web_acls(**arguments)
        found.update({acl["Name"]: acl["Id"] for acl in page.get("WebACLs", [])})
        if not page.get("NextMarker"):
            break
        arguments["NextMarker"] = page["NextMarker"]
    return found
