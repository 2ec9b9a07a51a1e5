"""WAF SLIs from the per-second rows: did the rate rule block abusers in time, and only them."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from chaos.load.plan import WafTrafficPlan
from chaos.load.waf import RateRule
from chaos.metrics.rows import SecondRow


@dataclass
class ClientSeconds:
    """One identity's sent and blocked requests per second."""

    sent: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    blocked: dict[int, int] = field(default_factory=lambda: defaultdict(int))

    def allowed(self, second: int) -> int:
        return self.sent.get(second, 0) - self.blocked.get(second, 0)

    def window_total(self, counts: dict[int, int], end: int, window_s: int) -> int:
        return sum(count for second, count in counts.items() if end - window_s < second <= end)


def abusive_client_report(
    identity: str, client: ClientSeconds, rule: RateRule, stopped_at: int | None
) -> dict[str, Any]:
    """Crossing, first block, time to block, leak and unblock of one abusive identity.

    The WAF counts every request it sees, blocked or not, so the crossing second is the
    first one where the trailing window holds more than `limit` sent requests.
    """
    seconds = sorted(client.sent)
    crossed_at = next((second for second in seconds
                       if client.window_total(client.sent, second, rule.window_s) > rule.limit),
                      None)
    first_block = next((second for second in sorted(client.blocked)
                        if client.blocked[second] > 0), None)
    time_to_block = (max(0, first_block - crossed_at)
                     if crossed_at is not None and first_block is not None else None)
    leak_end = first_block if first_block is not None else (seconds[-1] if seconds else 0)
    allowed = {second: client.allowed(second) for second in seconds}
    leaked = max(0, client.window_total(allowed, leak_end, rule.window_s) - rule.limit)
    return {
        "identity": identity,
        "crossed_limit_at": crossed_at,
        "first_blocked_at": first_block,
        "time_to_block_s": time_to_block,
        "leaked_over_limit": leaked if crossed_at is not None else 0,
        "blocked_requests": sum(client.blocked.values()),
        "time_to_unblock_s": _time_to_unblock(client, stopped_at),
    }


def _time_to_unblock(client: ClientSeconds, stopped_at: int | None) -> int | None:
    if stopped_at is None:
        return None
    was_blocked = any(count for second, count in client.blocked.items() if second <= stopped_at)
    if not was_blocked:
        return 0
    after = [second for second in sorted(client.sent) if second > stopped_at]
    allowed_at = next((second for second in after if client.allowed(second) > 0), None)
    return None if allowed_at is None else allowed_at - stopped_at


def waf_slis(
    rows: list[SecondRow],
    rule: RateRule,
    plan: WafTrafficPlan,
    abusive_stopped_at: float | None = None,
) -> dict[str, Any]:
    """The `waf` section of result.json (the lead adds `cloudwatch_blocked_requests`).

    `time_to_block_s` and `time_to_unblock_s` are the worst (max) over the abusive clients,
    in whole seconds (rows are per second: +-1 s); null when an abusive client crossed the
    limit but was never blocked (never unblocked), or when nothing was measured.
    `legit_blocked` counts blocks of every non-abusive client (legit and normal users).
    """
    clients: dict[str, ClientSeconds] = defaultdict(ClientSeconds)
    legit_blocked = 0
    for row in rows:
        if row.traffic == "abusive" and row.identity is not None:
            client = clients[row.identity]
            client.sent[row.second] += row.requests
            client.blocked[row.second] += row.blocked
        else:
            legit_blocked += row.blocked
    stopped = int(abusive_stopped_at) if abusive_stopped_at is not None else None
    reports = [abusive_client_report(identity, clients[identity], rule, stopped)
               for identity in sorted(clients)]
    crossed = [report for report in reports if report["crossed_limit_at"] is not None]
    return {
        "rule": rule.name,
        "limit": rule.limit,
        "window_s": rule.window_s,
        "aggregation": rule.aggregation,
        "abusive_clients": plan.abusive_clients,
        "legit_clients": plan.legit_clients,
        "time_to_block_s": _worst([report["time_to_block_s"] for report in crossed]),
        "leaked_over_limit": sum(report["leaked_over_limit"] for report in reports),
        "legit_blocked": legit_blocked,
        "time_to_unblock_s": (_worst([report["time_to_unblock_s"] for report in crossed])
                              if stopped is not None else None),
        "client_blocked_requests": sum(row.blocked for row in rows),
        "clients": reports,
    }


def _worst(values: list[int | None]) -> int | None:
    if not values or any(value is None for value in values):
        return None
    return max(value for value in values if value is not None)
