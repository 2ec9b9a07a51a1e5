"""Rate-based rules: per-key counts over the evaluation window, checked periodically.

Requests that pass the scope-down statement and carry every aggregation key component are
counted per key (per-second buckets); the rate is *checked periodically*, not per request.
With ``fast`` realism a key is blocked from the first check at which its count over the
trailing evaluation window exceeds the limit, and released at the first check where it no
longer does. With ``aws`` realism (:class:`RateCheckModel`) the check runs every 10 s on an
*estimated* rate; a block takes effect up to 30 s after the moment the estimated rate first
exceeded the limit (never before the check that sees it), a release up to 30 s after the
check that sees the key back under. A blocked key keeps being counted (a client that keeps
hammering stays blocked).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from chaos.sandbox.realism import Realism
from chaos.sandbox.waf.statements import (
    AggregationKey,
    KeyFunction,
    Matcher,
    UnsupportedRule,
    aggregation_key,
    compile_statement,
)

EVALUATION_WINDOWS_S = (60, 120, 300, 600)
DEFAULT_WINDOW_S = 300
MIN_RATE_LIMIT = 10
# PRODUCT.md ("Sandbox realism") has AWS WAF check every 10 s; AWS only says it "checks the
# rate frequently, with timing that's independent of the evaluation window setting"
# ("Rate-based rule high-level settings in AWS WAF", https://docs.aws.amazon.com/waf/latest/
# developerguide/waf-rule-statement-type-rate-based-high-level-settings.html).
AWS_CHECK_INTERVAL_S = 10.0
# "Usually, this delay is below 30 seconds" (the caveats page, see RateCheckModel).
AWS_MAX_DETECTION_DELAY_S = 30.0


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
        return cls(
            estimated=True, max_delay_s=realism.delay(AWS_MAX_DETECTION_DELAY_S), realism=realism
        )

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

    def first_over(
        self, per_second: dict[int, int], since: float | None, now: float, window_s: int, limit: int
    ) -> float:
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
    previous = sum(
        n for second, n in per_second.items() if previous_start <= second < current_start
    )
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
                over_since = model.first_over(per_second, since, now, rate.window_s, rate.limit)
                self.blocks[key] = KeyBlock(over_since, model.blocks_at(rule, key, over_since, now))
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
            raise UnsupportedRule(
                f"EvaluationWindowSec {window} is not one of {EVALUATION_WINDOWS_S}"
            )
        scope = statement.get("ScopeDownStatement")
        identity = json.dumps(
            {
                k: statement.get(k)
                for k in (
                    "AggregateKeyType",
                    "ForwardedIPConfig",
                    "CustomKeys",
                    "ScopeDownStatement",
                )
            },
            sort_keys=True,
            default=str,
        )
        return cls(
            limit,
            window,
            aggregation_key(statement),
            compile_statement(scope) if scope else None,
            identity,
        )
