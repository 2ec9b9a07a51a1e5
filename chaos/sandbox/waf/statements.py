"""What a web ACL rule inspects in a request: match statements, and a rate rule's key.

Supported: ``ByteMatchStatement`` (UriPath, QueryString, Method, SingleHeader,
SingleQueryArgument, with text transformations), ``And``/``Or``/``NotStatement``, and the
aggregation of a ``RateBasedStatement`` (``IP``, ``FORWARDED_IP``, ``CONSTANT``,
``CUSTOM_KEYS`` with Header, QueryArgument, QueryString, HTTPMethod, UriPath, IP,
ForwardedIP). Anything else raises :class:`UnsupportedRule` (the engine skips the rule).
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import unquote_plus

from chaos.sandbox.waf.request import WebRequest


class UnsupportedRule(ValueError):
    """The rule uses a statement or option the sandbox does not evaluate."""


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
        return (
            re.search(rf"(?<![A-Za-z0-9_]){re.escape(search)}(?![A-Za-z0-9_])", value) is not None
        )
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


# -- a rate-based statement's aggregation key ---------------------------------------


class Fallback:
    """The request has no valid forwarded IP and the fallback behavior is MATCH."""


FALLBACK_MATCH = Fallback()
AggregationKey = tuple[str, ...]
KeyFunction = Callable[[WebRequest], "AggregationKey | Fallback | None"]


def _first_forwarded_ip(request: WebRequest, header: str) -> str | None | Fallback:
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

    def key(request: WebRequest) -> AggregationKey | Fallback | None:
        address = _first_forwarded_ip(request, header)
        if address is None:  # the header is absent: the rule does not apply at all
            return None
        if isinstance(address, Fallback):
            return FALLBACK_MATCH if fallback == "MATCH" else None
        return (address,)

    return key


def _custom_key_part(spec: dict[str, Any], forwarded: dict[str, Any]) -> KeyFunction:
    """One component of a CUSTOM_KEYS aggregation key (None when absent from the request)."""

    def single(
        values_of: Callable[[WebRequest], list[str]], transformations: list[dict[str, Any]]
    ) -> KeyFunction:
        def part(request: WebRequest) -> AggregationKey | None:
            values = values_of(request)
            return (_transform(values[0], transformations),) if values else None

        return part

    if "Header" in spec:
        name = str(spec["Header"]["Name"])
        return single(
            lambda r: r.header_values(name), spec["Header"].get("TextTransformations") or []
        )
    if "QueryArgument" in spec:
        name = str(spec["QueryArgument"]["Name"])
        return single(
            lambda r: r.query_values(name), spec["QueryArgument"].get("TextTransformations") or []
        )
    if "QueryString" in spec:
        return single(
            lambda r: [r.query_string] if r.query_string else [],
            spec["QueryString"].get("TextTransformations") or [],
        )
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


def aggregation_key(statement: dict[str, Any]) -> KeyFunction:
    kind = str(statement.get("AggregateKeyType") or "IP")
    if kind == "IP":
        return lambda request: (request.source_ip,)
    if kind == "CONSTANT":
        return lambda request: ("*",)
    if kind == "FORWARDED_IP":
        return _forwarded_ip_key(statement.get("ForwardedIPConfig") or {})
    if kind == "CUSTOM_KEYS":
        parts = [
            _custom_key_part(spec, statement.get("ForwardedIPConfig") or {})
            for spec in statement.get("CustomKeys") or []
        ]
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
