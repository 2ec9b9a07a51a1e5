"""AWS WAF web ACL evaluation for the sandbox's HTTP front.

Rules run in priority order; the first Allow/Block ends the evaluation, Count goes on.
Rate-based rules follow the AWS documentation: requests that pass the scope-down
statement and carry every aggregation key component are counted per key (per-second
buckets); the rate is *checked periodically*, not per request. With ``fast`` realism a
key is blocked from the first check at which its count over the trailing evaluation
window exceeds the limit, and released at the first check where it no longer does. With
``aws`` realism (:class:`RateCheckModel`) the check runs every 10 s on an *estimated*
rate; a block takes effect up to 30 s after the moment the estimated rate first exceeded
the limit (never before the check that sees it), a release up to 30 s after the check
that sees the key back under. A blocked key keeps being counted (a client that keeps
hammering stays blocked).

Supported: ``RateBasedStatement`` (aggregation ``IP``, ``FORWARDED_IP``, ``CONSTANT``,
``CUSTOM_KEYS`` with Header, QueryArgument, QueryString, HTTPMethod, UriPath, IP,
ForwardedIP), ``ByteMatchStatement`` (UriPath, QueryString, Method, SingleHeader,
SingleQueryArgument), ``And``/``Or``/``NotStatement``. A rule using anything else is
skipped (logged once).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus

from chaos.sandbox.realism import Realism

log = logging.getLogger(__name__)

EVALUATION_WINDOWS_S = (60, 120, 300, 600)
DEFAULT_WINDOW_S = 300
MIN_RATE_LIMIT = 10
DEFAULT_CHECK_INTERVAL_S = 10.0
# PRODUCT.md ("Sandbox realism") has AWS WAF check every 10 s; AWS only says it "checks the
# rate frequently, with timing that's independent of the evaluation window setting"
# ("Rate-based rule high-level settings in AWS WAF", https://docs.aws.amazon.com/waf/latest/
# developerguide/waf-rule-statement-type-rate-based-high-level-settings.html).
AWS_CHECK_INTERVAL_S = 10.0
# "Usually, this delay is below 30 seconds" (the caveats page, see RateCheckModel).
AWS_MAX_DETECTION_DELAY_S = 30.0
DEFAULT_BLOCK_STATUS = 403
FORBIDDEN_BODY = b'{"message":"Forbidden"}'
CONTENT_TYPES = {"APPLICATION_JSON": "application/json", "TEXT_HTML": "text/html",
                 "TEXT_PLAIN": "text/plain"}


class UnsupportedRule(ValueError):
    """The rule uses a statement or option the sandbox does not evaluate."""


@dataclass(frozen=True)
class WebRequest:
    """The parts of an HTTP request that WAF statements inspect."""

    source_ip: str
    method: str
    uri_path: str
    query_string: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def query_values(self, name: str) -> list[str]:
        return [value for key, value in self.query if key == name]


@dataclass(frozen=True)
class Verdict:
    """What the web ACL decided for one request."""

    blocked: bool
    rule: str | None = None  # the terminating rule, None for the default action
    metric_name: str = "ALL"  # CloudWatch Rule dimension of the terminating rule
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    counted: tuple[str, ...] = ()  # metric names of the Count rules that matched


# -- text transformations and byte matching --------------------------------------------


def _transform(value: str, transformations: Iterable[dict[str, Any]]) -> str:
    for transformation in sorted(transformations, key=lambda t: int(t.get("Priority", 0))):
        kind = str(transformation.get("Type", "NONE"))
        if kind == "LOWERCASE":
            value = value.lower()
        elif kind == "URL_DECODE":
            value = unquote_plus(value)
        elif kind == "COMPRESS_WHITE_SPACE":
            value = re.sub(r"[ \t\n\r\f\v]+", " ", value)
        elif kind == "TRIM":
            value = value.strip()
    return value


def _search_bytes(raw: Any) -> str:
    """SearchString is a blob: base64 text over the wire (as moto stores it), or bytes."""
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    try:
        return base64.b64decode(str(raw), validate=True).decode("utf-8", "replace")
    except ValueError:
        return str(raw)


def _positional_match(value: str, search: str, constraint: str) -> bool:
    if constraint == "EXACTLY":
        return value == search
    if constraint == "STARTS_WITH":
        return value.startswith(search)
    if constraint == "ENDS_WITH":
        return value.endswith(search)
    if constraint == "CONTAINS":
        return search in value
    if constraint == "CONTAINS_WORD":
        return re.search(rf"(?<![A-Za-z0-9_]){re.escape(search)}(?![A-Za-z0-9_])",
                         value) is not None
    raise UnsupportedRule(f"PositionalConstraint {constraint}")


def _field_values(field_to_match: dict[str, Any]) -> Callable[[WebRequest], list[str]]:
    if "UriPath" in field_to_match:
        return lambda request: [request.uri_path]
    if "QueryString" in field_to_match:
        return lambda request: [request.query_string]
    if "Method" in field_to_match:
        return lambda request: [request.method]
    if "SingleHeader" in field_to_match:
        header = str(field_to_match["SingleHeader"]["Name"])
        return lambda request: request.header_values(header)[:1]
    if "SingleQueryArgument" in field_to_match:
        argument = str(field_to_match["SingleQueryArgument"]["Name"])
        return lambda request: request.query_values(argument)[:1]
    raise UnsupportedRule(f"FieldToMatch {sorted(field_to_match)}")


Matcher = Callable[[WebRequest], bool]


def compile_statement(statement: dict[str, Any]) -> Matcher:
    """A predicate for a (non rate-based) match statement; raises UnsupportedRule."""
    if "ByteMatchStatement" in statement:
        spec = statement["ByteMatchStatement"]
        values_of = _field_values(spec.get("FieldToMatch") or {})
        search = _search_bytes(spec.get("SearchString", ""))
        constraint = str(spec.get("PositionalConstraint", "EXACTLY"))
        _positional_match("", search, constraint)  # reject unknown constraints up front
        transformations = list(spec.get("TextTransformations") or [])
        return lambda request: any(
            _positional_match(_transform(value, transformations), search, constraint)
            for value in values_of(request)
        )
    if "AndStatement" in statement:
        parts = [compile_statement(s) for s in statement["AndStatement"]["Statements"]]
        return lambda request: all(part(request) for part in parts)
    if "OrStatement" in statement:
        parts = [compile_statement(s) for s in statement["OrStatement"]["Statements"]]
        return lambda request: any(part(request) for part in parts)
    if "NotStatement" in statement:
        inner = compile_statement(statement["NotStatement"]["Statement"])
        return lambda request: not inner(request)
    raise UnsupportedRule(f"statement {sorted(statement)}")


# -- rate-based statements -------------------------------------------------------------


class _Fallback:
    """The request has no valid forwarded IP and the fallback behavior is MATCH."""


FALLBACK_MATCH = _Fallback()
AggregationKey = tuple[str, ...]
KeyFunction = Callable[[WebRequest], "AggregationKey | _Fallback | None"]


def _first_forwarded_ip(request: WebRequest, header: str) -> str | None | _Fallback:
    """The first address in the header; FALLBACK_MATCH if it is not an IP; None if absent."""
    values = request.header_values(header)
    if not values:
        return None
    candidate = values[0].split(",")[0].strip()
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return FALLBACK_MATCH


def _forwarded_ip_key(config: dict[str, Any]) -> KeyFunction:
    header = str(config.get("HeaderName") or "X-Forwarded-For")
    fallback = str(config.get("FallbackBehavior") or "MATCH")

    def key(request: WebRequest) -> AggregationKey | _Fallback | None:
        address = _first_forwarded_ip(request, header)
        if address is None:  # the header is absent: the rule does not apply at all
            return None
        if isinstance(address, _Fallback):
            return FALLBACK_MATCH if fallback == "MATCH" else None
        return (address,)

    return key


def _custom_key_part(spec: dict[str, Any], forwarded: dict[str, Any]) -> KeyFunction:
    """One component of a CUSTOM_KEYS aggregation key (None when absent from the request)."""
    def single(values_of: Callable[[WebRequest], list[str]],
               transformations: list[dict[str, Any]]) -> KeyFunction:
        def part(request: WebRequest) -> AggregationKey | None:
            values = values_of(request)
            return (_transform(values[0], transformations),) if values else None
        return part

    if "Header" in spec:
        name = str(spec["Header"]["Name"])
        return single(lambda r: r.header_values(name), spec["Header"].get("TextTransformations")
                      or [])
    if "QueryArgument" in spec:
        name = str(spec["QueryArgument"]["Name"])
        return single(lambda r: r.query_values(name),
                      spec["QueryArgument"].get("TextTransformations") or [])
    if "QueryString" in spec:
        return single(lambda r: [r.query_string] if r.query_string else [],
                      spec["QueryString"].get("TextTransformations") or [])
    if "HTTPMethod" in spec:
        return single(lambda r: [r.method], [])
    if "UriPath" in spec:
        return single(lambda r: [r.uri_path], spec["UriPath"].get("TextTransformations") or [])
    if "IP" in spec:
        return single(lambda r: [r.source_ip], [])
    if "ForwardedIP" in spec:
        forwarded_key = _forwarded_ip_key(forwarded)

        def forwarded_part(request: WebRequest) -> AggregationKey | None:
            key = forwarded_key(request)
            return key if isinstance(key, tuple) else None

        return forwarded_part
    raise UnsupportedRule(f"custom aggregation key {sorted(spec)}")


def _aggregation(statement: dict[str, Any]) -> KeyFunction:
    kind = str(statement.get("AggregateKeyType") or "IP")
    if kind == "IP":
        return lambda request: (request.source_ip,)
    if kind == "CONSTANT":
        return lambda request: ("*",)
    if kind == "FORWARDED_IP":
        return _forwarded_ip_key(statement.get("ForwardedIPConfig") or {})
    if kind == "CUSTOM_KEYS":
        parts = [_custom_key_part(spec, statement.get("ForwardedIPConfig") or {})
                 for spec in statement.get("CustomKeys") or []]
        if not parts:
            raise UnsupportedRule("CUSTOM_KEYS without CustomKeys")

        def key(request: WebRequest) -> AggregationKey | None:
            combined: list[str] = []
            for part in parts:
                value = part(request)
                if not isinstance(value, tuple):  # every component must be present
                    return None
                combined.extend(value)
            return tuple(combined)

        return key
    raise UnsupportedRule(f"AggregateKeyType {kind}")


@dataclass(frozen=True)
class RateCheckModel:
    """How the periodic rate check turns a key's request counts into a block.

    The default (``fast`` realism) counts the trailing window exactly and blocks or releases
    at the check. :meth:`for_realism` of ``aws`` realism follows "Rate-based rule caveats in
    AWS WAF" (https://docs.aws.amazon.com/waf/latest/developerguide/
    waf-rule-statement-type-rate-based-caveats.html): "AWS WAF estimates the current request
    rate using an algorithm that gives more importance to more recent requests" (modelled as
    the sliding-window counter, see :func:`estimated_count`), and a key can be over the limit
    "for a period of time before AWS WAF detects" it, "Usually, this delay is below 30
    seconds" - the same on the way back below the limit. Each key's delay is a seeded draw
    in [0, 30 s] (scaled by the realism time scale).
    """

    estimated: bool = False
    max_delay_s: float = 0.0
    realism: Realism = field(default_factory=Realism)

    @classmethod
    def for_realism(cls, realism: Realism) -> RateCheckModel:
        if not realism.aws:
            return cls(realism=realism)
        return cls(estimated=True, max_delay_s=realism.delay(AWS_MAX_DETECTION_DELAY_S),
                   realism=realism)

    def count(self, per_second: dict[int, int], now: float, window_s: int) -> float:
        if self.estimated:
            return estimated_count(per_second, now, window_s)
        oldest = int(now) - window_s  # buckets (now - window, now] are in the window
        return sum(n for second, n in per_second.items() if second > oldest)

    def retention_s(self, window_s: int) -> int:
        """How far back a key's counts matter (the estimate also reads the previous window)."""
        return 2 * window_s if self.estimated else window_s

    def delay_s(self, rule: str, key: AggregationKey, change: str) -> float:
        """The seeded detection delay of `key`'s block (after its rate first exceeded the
        limit) or release (after the check that saw it back under)."""
        if self.max_delay_s <= 0:
            return 0.0
        stream = f"waf:{change}:{rule}:{','.join(key)}"
        return self.realism.random(stream).uniform(0.0, self.max_delay_s)

    def first_over(self, per_second: dict[int, int], since: float | None, now: float,
                   window_s: int, limit: int) -> float:
        """When the counted rate of a key first exceeded `limit`, between the previous
        check (`since`) and `now`: the start of the first one-second bucket whose requests
        put it over. Never later than the request that did, so a delay counted from it
        keeps the "up to 30 s after a key first exceeds the limit" bound."""
        first = int(since) if since is not None else min(per_second, default=int(now))
        first = max(first, int(now) - self.retention_s(window_s))
        for second in range(first, int(now) + 1):
            seen = {s: n for s, n in per_second.items() if s <= second}
            if self.count(seen, float(second), window_s) > limit:
                return min(now, max(float(second), since if since is not None else second))
        return now

    def blocks_at(self, rule: str, key: AggregationKey, over_since: float, now: float) -> float:
        """When the block of `key`, over the limit since `over_since`, takes effect: its
        delay after `over_since`, but not before this check, which is the first to see it."""
        return max(now, over_since + self.delay_s(rule, key, "block"))


def estimated_count(per_second: dict[int, int], now: float, window_s: int) -> float:
    """The sliding-window-counter estimate of the requests in the trailing window.

    Requests of the current fixed window (aligned on multiples of the window) count fully;
    those of the previous one are weighted by how much of it still overlaps the trailing
    window, so older requests weigh less. A steady rate estimates exactly; a burst is seen
    early or late depending on where it falls, "near the limit" as AWS WAF says.
    """
    current_start = int(now) - int(now) % window_s
    previous_start = current_start - window_s
    current = sum(n for second, n in per_second.items() if second >= current_start)
    previous = sum(n for second, n in per_second.items()
                   if previous_start <= second < current_start)
    overlap = 1.0 - (now - current_start) / window_s
    return current + previous * overlap


@dataclass
class KeyBlock:
    """One key's block: over the limit since `over_since`, in force from `blocks_at`."""

    over_since: float
    blocks_at: float
    releases_at: float | None = None  # set by the check that first sees the key back under

    def in_force(self, now: float) -> bool:
        return self.blocks_at <= now and (self.releases_at is None or now < self.releases_at)

    def ended(self, now: float) -> bool:
        return self.releases_at is not None and self.releases_at <= now


@dataclass
class RateCounter:
    """Per-key request counts in per-second buckets, and each key's block."""

    buckets: dict[AggregationKey, dict[int, int]] = field(default_factory=dict)
    blocks: dict[AggregationKey, KeyBlock] = field(default_factory=dict)
    last_check: float | None = None

    def count(self, key: AggregationKey, now: float) -> None:
        per_second = self.buckets.setdefault(key, {})
        second = int(now)
        per_second[second] = per_second.get(second, 0) + 1

    def is_blocked(self, key: AggregationKey, now: float) -> bool:
        block = self.blocks.get(key)
        return block is not None and block.in_force(now)

    def blocked(self, now: float) -> set[AggregationKey]:
        return {key for key, block in self.blocks.items() if block.in_force(now)}

    def check(self, now: float, rule: str, rate: RateStatement, model: RateCheckModel) -> None:
        self._forget_old(now, model.retention_s(rate.window_s))
        since, self.last_check = self.last_check, now
        for key in set(self.buckets) | set(self.blocks):
            per_second = self.buckets.get(key, {})
            over = model.count(per_second, now, rate.window_s) > rate.limit
            block = self.blocks.get(key)
            if over and block is None:
                # The delay counts from when the rate went over, not from this check: a
                # check every 10 s would otherwise add up to 10 s to AWS's 30.
                over_since = model.first_over(per_second, since, now, rate.window_s,
                                              rate.limit)
                self.blocks[key] = KeyBlock(over_since,
                                            model.blocks_at(rule, key, over_since, now))
            elif over and block is not None:
                block.releases_at = None
            elif block is not None and now < block.blocks_at:
                del self.blocks[key]  # back under the limit before the block took effect
            elif block is not None and block.releases_at is None:
                block.releases_at = now + model.delay_s(rule, key, "release")
        for key in [key for key, block in self.blocks.items() if block.ended(now)]:
            del self.blocks[key]

    def _forget_old(self, now: float, retention_s: int) -> None:
        oldest = int(now) - retention_s
        for key in list(self.buckets):
            per_second = self.buckets[key]
            for second in [s for s in per_second if s <= oldest]:
                del per_second[second]
            if not per_second:
                del self.buckets[key]


@dataclass
class RateStatement:
    limit: int
    window_s: int
    key_of: KeyFunction
    scope_down: Matcher | None
    identity: str  # what the counts belong to: a changed aggregation starts from zero

    @classmethod
    def parse(cls, statement: dict[str, Any]) -> RateStatement:
        limit = int(statement.get("Limit", 0))
        if limit < MIN_RATE_LIMIT:
            raise UnsupportedRule(f"Limit {limit} is below the minimum {MIN_RATE_LIMIT}")
        window = int(statement.get("EvaluationWindowSec") or DEFAULT_WINDOW_S)
        if window not in EVALUATION_WINDOWS_S:
            raise UnsupportedRule(f"EvaluationWindowSec {window} is not one of "
                                  f"{EVALUATION_WINDOWS_S}")
        scope = statement.get("ScopeDownStatement")
        identity = json.dumps({k: statement.get(k) for k in (
            "AggregateKeyType", "ForwardedIPConfig", "CustomKeys", "ScopeDownStatement")},
            sort_keys=True, default=str)
        return cls(limit, window, _aggregation(statement),
                   compile_statement(scope) if scope else None, identity)


# -- rules and the engine ----------------------------------------------------------------


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


def _block_response(rule: dict[str, Any], bodies: dict[str, Any]
                    ) -> tuple[int, bytes, str, tuple[tuple[str, str], ...]]:
    custom = ((rule.get("Action") or {}).get("Block") or {}).get("CustomResponse")
    if not custom:
        return DEFAULT_BLOCK_STATUS, FORBIDDEN_BODY, "application/json", ()
    body_doc = bodies.get(str(custom.get("CustomResponseBodyKey") or "")) or {}
    # Sent by the names the rule gives them: WAF prefixes x-amzn-waf- only to headers it
    # inserts into requests (CustomHTTPHeader, https://docs.aws.amazon.com/waf/latest/
    # APIReference/API_CustomHTTPHeader.html; CustomResponse, .../API_CustomResponse.html).
    headers = tuple((str(h["Name"]), str(h["Value"])) for h in custom.get("ResponseHeaders") or [])
    return (int(custom["ResponseCode"]), str(body_doc.get("Content", "")).encode(),
            CONTENT_TYPES.get(str(body_doc.get("ContentType")), "text/plain"), headers)


def parse_rule(rule: dict[str, Any], bodies: dict[str, Any]) -> Rule:
    statement = rule.get("Statement") or {}
    status, body, content_type, headers = _block_response(rule, bodies)
    parsed = Rule(
        name=str(rule["Name"]),
        priority=int(rule.get("Priority", 0)),
        metric_name=str((rule.get("VisibilityConfig") or {}).get("MetricName") or rule["Name"]),
        action=_action(rule),
        block_status=status, block_body=body, block_content_type=content_type,
        block_headers=headers,
    )
    if "RateBasedStatement" in statement:
        parsed.rate = RateStatement.parse(statement["RateBasedStatement"])
    else:
        parsed.matcher = compile_statement(statement)
    return parsed


class WafEngine:
    """Evaluates one web ACL (re-configurable at any time) against requests."""

    def __init__(self, *, clock: Callable[[], float] = time.time,
                 check_interval_s: float = DEFAULT_CHECK_INTERVAL_S,
                 model: RateCheckModel | None = None) -> None:
        self.clock = clock
        self.check_interval_s = check_interval_s
        self.model = model or RateCheckModel()
        self._lock = threading.Lock()
        self._acl_json: str | None = None
        self.acl_name: str | None = None
        self.acl_metric_name: str | None = None
        self._default_block = False
        self._rules: list[Rule] = []
        self._counters: dict[tuple[str, str], RateCounter] = {}
        self._warned: set[str] = set()
        self.last_check: float | None = None

    @classmethod
    def for_realism(cls, realism: Realism, fast_check_interval_s: float) -> WafEngine:
        """The sandbox's engine: `fast` checks every `fast_check_interval_s`, `aws` as AWS."""
        if not realism.aws:
            return cls(check_interval_s=fast_check_interval_s)
        return cls(check_interval_s=realism.delay(AWS_CHECK_INTERVAL_S),
                   model=RateCheckModel.for_realism(realism))

    def configure(self, acl: dict[str, Any] | None) -> None:
        """Use this web ACL (as GetWebACL returns it; None = no ACL); cheap when unchanged."""
        document = json.dumps(acl, sort_keys=True, default=str)
        with self._lock:
            if document == self._acl_json:
                return
            self._acl_json = document
            rules = self._parse_rules(acl or {})
            self._rules = rules
            self.acl_name = acl.get("Name") if acl else None
            self.acl_metric_name = str(((acl or {}).get("VisibilityConfig") or {})
                                       .get("MetricName") or self.acl_name or "")
            self._default_block = "Block" in ((acl or {}).get("DefaultAction") or {})
            live = {(rule.name, rule.rate.identity) for rule in rules if rule.rate}
            self._counters = {k: v for k, v in self._counters.items() if k in live}

    def _parse_rules(self, acl: dict[str, Any]) -> list[Rule]:
        bodies = acl.get("CustomResponseBodies") or {}
        rules = []
        for raw in acl.get("Rules") or []:
            try:
                rules.append(parse_rule(raw, bodies))
            except (UnsupportedRule, KeyError, TypeError, ValueError) as error:
                message = f"WAF rule {raw.get('Name')!r} is not evaluated by the sandbox: {error}"
                if message not in self._warned:
                    self._warned.add(message)
                    log.warning(message)
        return sorted(rules, key=lambda rule: rule.priority)

    def _counter(self, rule: Rule) -> RateCounter:
        assert rule.rate is not None
        return self._counters.setdefault((rule.name, rule.rate.identity), RateCounter())

    def evaluate(self, request: WebRequest) -> Verdict:
        now = self.clock()
        counted: list[str] = []
        with self._lock:
            for rule in self._rules:
                if not self._matches(rule, request, now):
                    continue
                if rule.action == "COUNT":
                    counted.append(rule.metric_name)
                    continue
                if rule.action == "ALLOW":
                    return Verdict(False, rule.name, rule.metric_name, counted=tuple(counted))
                return Verdict(True, rule.name, rule.metric_name, rule.block_status,
                               rule.block_body, rule.block_content_type, rule.block_headers,
                               tuple(counted))
            if self._default_block:
                return Verdict(True, None, "ALL", DEFAULT_BLOCK_STATUS, FORBIDDEN_BODY,
                               counted=tuple(counted))
        return Verdict(False, counted=tuple(counted))

    def _matches(self, rule: Rule, request: WebRequest, now: float) -> bool:
        if rule.matcher is not None:
            return rule.matcher(request)
        rate = rule.rate
        assert rate is not None
        if rate.scope_down is not None and not rate.scope_down(request):
            return False
        key = rate.key_of(request)
        if key is None:
            return False
        if isinstance(key, _Fallback):
            return True
        counter = self._counter(rule)
        counter.count(key, now)
        return counter.is_blocked(key, now)

    def check(self) -> None:
        """The periodic rate check: block keys over their limit, release the others."""
        now = self.clock()
        with self._lock:
            for rule in self._rules:
                if rule.rate is not None:
                    self._counter(rule).check(now, rule.name, rule.rate, self.model)
            self.last_check = now

    def blocked_keys(self, rule_name: str) -> set[AggregationKey]:
        now = self.clock()
        with self._lock:
            return {key for (name, _), counter in self._counters.items() if name == rule_name
                    for key in counter.blocked(now)}

    def status(self) -> dict[str, Any]:
        """The keys each rate rule blocks, and every block's timing (`/_sandbox/status`)."""
        now = self.clock()
        with self._lock:
            blocked: dict[str, list[str]] = {}
            blocks: dict[str, dict[str, dict[str, float | None]]] = {}
            for (name, _), counter in self._counters.items():
                blocked.setdefault(name, []).extend(",".join(k) for k in counter.blocked(now))
                blocks.setdefault(name, {}).update(
                    {",".join(key): {"over_since": block.over_since,
                                     "blocks_at": block.blocks_at,
                                     "releases_at": block.releases_at}
                     for key, block in counter.blocks.items()})
        return {"web_acl": self.acl_name, "last_check": self.last_check,
                "check_interval_s": self.check_interval_s,
                "estimated_rate": self.model.estimated, "max_delay_s": self.model.max_delay_s,
                "blocked": {name: sorted(keys) for name, keys in blocked.items()},
                "blocks": blocks}

    def rate_rule(self, rule_name: str) -> RateStatement | None:
        with self._lock:
            return next((rule.rate for rule in self._rules if rule.name == rule_name), None)
