"""WAF SLIs: did the rate rule block abusers in time, and only them.

Computed from the per-second counters of each abusive identity that the streaming
aggregation keeps (chaos.metrics.aggregate.IdentitySeconds). AWS WAF *estimates* each
key's rate and checks it periodically, so every timing here is an estimate with the
rule's own imprecision on top of the 1 s resolution of the rows. Definitions:

- ``crossed_limit_at``: the first second at which the identity's requests *sent* in the
  trailing window (``window_s`` seconds, ending at and including that second) exceed
  ``limit`` (the WAF counts every request it sees, blocked or not);
- ``time_to_block_s``: seconds from that crossing to the first second with a block;
  over the run, the worst (max) over the abusive identities that crossed; null when one
  crossed and was never blocked;
- ``leaked_over_limit``: requests *allowed* in the trailing window ending at the first
  block (or at the last second, if never blocked) beyond ``limit``, summed over identities;
- ``legit_blocked``: blocks of any non-abusive client (legit WAF clients and ordinary
  users);
- ``time_to_unblock_s``: after the abusive clients drop to a legit pace, seconds until an
  identity that was blocked gets a request through; the worst over identities.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from chaos.metrics.aggregate import IdentitySeconds

if TYPE_CHECKING:
    from chaos.load.waf import RateRule
    from chaos.load.waf_traffic import WafTrafficPlan

__all__ = ["abusive_client_report", "waf_slis"]


def _window_total(counts: Mapping[int, int], end: int, window_s: int) -> int:
    return sum(count for second, count in counts.items() if end - window_s < second <= end)


def abusive_client_report(
    identity: str, client: IdentitySeconds, rule: RateRule, stopped_at: int | None
) -> dict[str, Any]:
    """Crossing, first block, time to block, leak and unblock of one abusive identity."""
    seconds = client.active_seconds()
    sent = {second: client.sent_at(second) for second in seconds}
    crossed_at = _first_crossing(seconds, sent, rule)
    first_block = next((second for second in seconds if client.blocked_at(second) > 0), None)
    time_to_block = (
        max(0, first_block - crossed_at)
        if crossed_at is not None and first_block is not None
        else None
    )
    leak_end = first_block if first_block is not None else (seconds[-1] if seconds else 0)
    allowed = {second: sent[second] - client.blocked_at(second) for second in seconds}
    leaked = max(0, _window_total(allowed, leak_end, rule.window_s) - rule.limit)
    return {
        "identity": identity,
        "crossed_limit_at": crossed_at,
        "first_blocked_at": first_block,
        "time_to_block_s": time_to_block,
        "leaked_over_limit": leaked if crossed_at is not None else 0,
        "blocked_requests": sum(client.blocked),
        "time_to_unblock_s": _time_to_unblock(client, seconds, stopped_at),
    }


def _first_crossing(seconds: list[int], sent: Mapping[int, int], rule: RateRule) -> int | None:
    window_total = 0
    start = 0
    for second in seconds:
        window_total += sent[second]
        while seconds[start] <= second - rule.window_s:
            window_total -= sent[seconds[start]]
            start += 1
        if window_total > rule.limit:
            return second
    return None


def _time_to_unblock(
    client: IdentitySeconds, seconds: list[int], stopped_at: int | None
) -> int | None:
    if stopped_at is None:
        return None
    if not any(client.blocked_at(second) for second in seconds if second <= stopped_at):
        return 0
    allowed_at = next(
        (
            second
            for second in seconds
            if second > stopped_at and client.sent_at(second) - client.blocked_at(second) > 0
        ),
        None,
    )
    return None if allowed_at is None else allowed_at - stopped_at


def waf_slis(
    identities: Mapping[str, IdentitySeconds],
    rule: RateRule,
    plan: WafTrafficPlan,
    *,
    legit_blocked: int,
    other_403: int = 0,
    abusive_stopped_at: float | None = None,
) -> dict[str, Any]:
    """The `waf` section of result.json (the caller adds `cloudwatch_blocked_requests`).

    `identities`: the abusive identities' counters; `legit_blocked`: blocks of every
    non-abusive client; `other_403`: 403 responses that were not the rate rule's.
    """
    stopped = int(abusive_stopped_at) if abusive_stopped_at is not None else None
    reports = [
        abusive_client_report(identity, identities[identity], rule, stopped)
        for identity in sorted(identities)
    ]
    crossed = [report for report in reports if report["crossed_limit_at"] is not None]
    abusive_blocked = sum(report["blocked_requests"] for report in reports)
    return {
        "rule": rule.name,
        "limit": rule.limit,
        "window_s": rule.window_s,
        "aggregation": rule.aggregation,
        "estimated": True,
        "abusive_clients": plan.abusive_clients,
        "legit_clients": plan.legit_clients,
        "time_to_block_s": _worst([report["time_to_block_s"] for report in crossed]),
        "leaked_over_limit": sum(report["leaked_over_limit"] for report in reports),
        "legit_blocked": legit_blocked,
        "other_403": other_403,
        "time_to_unblock_s": (
            _worst([report["time_to_unblock_s"] for report in crossed])
            if stopped is not None
            else None
        ),
        "client_blocked_requests": abusive_blocked + legit_blocked,
        "clients": reports,
    }


def _worst(values: list[int | None]) -> int | None:
    if not values or any(value is None for value in values):
        return None
    return max(value for value in values if value is not None)
