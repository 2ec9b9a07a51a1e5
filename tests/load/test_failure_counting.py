"""Which responses count against availability, from the response a client got to its row.

The oracle is this file's table, written by hand from PRODUCT.md ("Objectives and
verdicts": a legitimate client's 5xx, no response, 429 or WAF block is a failure; only
the rate rule's blocks of abusive clients are expected) and the issue's cases: a 429 from
throttling, an injected 429, a WAF 429 with and without its header. Nothing here asks the
production code what the answer should be.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from requests.structures import CaseInsensitiveDict

from chaos.load.collector import RowCollector, with_flags
from chaos.load.process_config import LoadPlan
from chaos.load.response_signs import ResponseSigns
from tests.waf_rules import forwarded_ip_rule, waf_plan

T0 = 1_700_000_000
FORBIDDEN = b'{"message":"Forbidden"}'
INTERNAL = b'{"message": "Internal server error"}'
TOO_MANY = b'{"message":"Too Many Requests"}'
MARKER = {"x-gameday-chaos-fault": "error"}
BLOCK_HEADER = {"x-blocked-by": "rate"}


@dataclass(frozen=True)
class Rule:
    """The rate rule's block as the web ACL defines it (None: no WAF load runs)."""

    status: int
    custom: bool
    header: str | None = None


NO_WAF = None
DEFAULT_403 = Rule(403, custom=False)
CUSTOM_429_HEADER = Rule(429, custom=True, header="x-blocked-by")
CUSTOM_429_BARE = Rule(429, custom=True)
CUSTOM_403_BARE = Rule(403, custom=True)


@dataclass(frozen=True)
class Case:
    why: str
    rule: Rule | None
    status: int
    traffic: str
    headers: dict[str, str]
    body: bytes
    failure: bool  # the oracle: counts against availability
    blocked: bool  # the oracle: recognised as the rate rule's block


# The table reads best one case to a line or two.
# fmt: off
CASES = [
    Case("a 200 is available", NO_WAF, 200, "normal", {}, b"{}", False, False),
    Case("a 404 is the client's mistake, not the service's", NO_WAF, 404, "normal", {},
         b"", False, False),
    Case("no response", NO_WAF, 0, "normal", {}, b"", True, False),
    Case("a 503", NO_WAF, 503, "legit", {}, b"", True, False),
    Case("API Gateway's 500 for a throttled Lambda integration", NO_WAF, 500, "normal",
         {"x-amzn-ErrorType": "InternalServerErrorException"}, INTERNAL, True, False),
    Case("API Gateway's own throttling (no WAF load)", NO_WAF, 429, "normal",
         {"x-amzn-ErrorType": "TooManyRequestsException"}, TOO_MANY, True, False),
    Case("a throttle 429 while the rule blocks with 429 and a header", CUSTOM_429_HEADER,
         429, "legit", {}, TOO_MANY, True, False),
    Case("a throttle 429 of an abusive client is no block either", CUSTOM_429_HEADER, 429,
         "abusive", {}, TOO_MANY, True, False),
    Case("the rule's 429 with its header, abusive client: expected", CUSTOM_429_HEADER, 429,
         "abusive", BLOCK_HEADER, b"slow down", False, True),
    Case("the rule's 429 with its header, legit client: a failure", CUSTOM_429_HEADER, 429,
         "legit", BLOCK_HEADER, b"slow down", True, True),
    Case("a 429 without a header cannot be told from a throttle", CUSTOM_429_BARE, 429,
         "abusive", {}, b"slow down", True, False),
    Case("... and for a legit client it fails either way", CUSTOM_429_BARE, 429, "legit",
         {}, b"", True, False),
    Case("an injected 429 (the extension's marker) fails", NO_WAF, 429, "normal", MARKER,
         b"", True, False),
    Case("an injected 429 is never the WAF's, even with its status and header",
         CUSTOM_429_HEADER, 429, "abusive", {**MARKER, **BLOCK_HEADER}, b"", True, False),
    Case("an injected 429 with a bare custom 429 rule", CUSTOM_429_BARE, 429, "abusive",
         MARKER, b"", True, False),
    Case("an injected 503", NO_WAF, 503, "normal", MARKER, b"", True, False),
    Case("API Gateway's WAF 403 of an abusive client: expected", DEFAULT_403, 403, "abusive",
         {}, b'{"message": "Forbidden"}', False, True),
    Case("API Gateway's WAF 403 of a legit client: a failure", DEFAULT_403, 403, "legit", {},
         FORBIDDEN, True, True),
    Case("another 403 (missing route) is not a block", DEFAULT_403, 403, "abusive", {},
         b'{"message":"Missing Authentication Token"}', False, False),
    Case("a bare custom 403 is told by its status (nothing else throttles with 403)",
         CUSTOM_403_BARE, 403, "abusive", {}, b"go away", False, True),
    Case("without WAF load no 403 is a block", NO_WAF, 403, "normal", {}, FORBIDDEN, False,
         False),
]
# fmt: on


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status_code = status
        self.headers = CaseInsensitiveDict(headers)
        self.content = body


def signs_for(rule: Rule | None) -> ResponseSigns:
    signs = ResponseSigns()
    if rule is None:
        signs.configure(LoadPlan())
        return signs
    rate_rule = forwarded_ip_rule(
        limit=100,
        window_s=60,
        block_status=rule.status,
        custom_response=rule.custom,
        block_header=rule.header,
    )
    signs.configure(LoadPlan(waf=waf_plan(rate_rule, abusive=1, legit=1)))
    return signs


def measured(case: Case) -> Any:
    """The row one request of `case` ends up in, classified as the Locust plugin does."""
    reply = Reply(case.status, case.headers, case.body)
    status = case.status
    if status >= 400:
        status = with_flags(status, signs_for(case.rule).flags(status, reply))
    collector = RowCollector(worker="w")
    collector.record(T0, ("OrdersUser", case.traffic, None), "GET", "/orders", status, 5.0)
    (row,) = collector.take_all()
    return row


@pytest.mark.parametrize("case", CASES, ids=[case.why for case in CASES])
def test_a_response_counts_against_availability_as_the_table_says(case: Case) -> None:
    row = measured(case)
    assert (row.failures, row.blocked) == (int(case.failure), int(case.blocked))
    assert row.injected == int("x-gameday-chaos-fault" in case.headers)
