"""Per-second aggregation of requests inside a Locust process (no Locust import here).

Each request is tagged with the epoch second in which it completed; a second is handed
out once it is over, so no request is ever added to a row already sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from chaos.metrics.rows import SecondRow, Traffic


@dataclass(frozen=True)
class RequestOutcome:
    """One completed request, as the collector classifies it."""

    user_class: str
    endpoint: str
    traffic: Traffic
    identity: str | None
    status: int  # 0 when there was no HTTP response (connection error, timeout)
    latency_ms: float


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 200 <= status < 600 else "error"


class RowCollector:
    """Accumulates requests into SecondRows; `take_finished` hands out complete seconds."""

    def __init__(self, block_status: int | None = None) -> None:
        # The WAF rule's block status; None when no WAF clients run (no 403 is a block then).
        self.block_status = block_status
        self._rows: dict[tuple[int, str, str, str, str | None], SecondRow] = {}

    def record(self, outcome: RequestOutcome, completed_at: float) -> None:
        second = int(completed_at)
        key = (second, outcome.user_class, outcome.endpoint, outcome.traffic, outcome.identity)
        row = self._rows.get(key)
        if row is None:
            row = SecondRow(second, outcome.user_class, outcome.endpoint, outcome.traffic,
                            outcome.identity)
            self._rows[key] = row
        blocked = self.block_status is not None and outcome.status == self.block_status
        row.requests += 1
        row.blocked += int(blocked)
        row.failures += int(self.counts_as_failure(outcome, blocked))
        name = status_class(outcome.status)
        row.status_classes[name] = row.status_classes.get(name, 0) + 1
        row.histogram.record(outcome.latency_ms)

    @staticmethod
    def counts_as_failure(outcome: RequestOutcome, blocked: bool) -> bool:
        """5xx, no response, or a WAF block of a client that is not meant to be abusive."""
        if blocked:
            return outcome.traffic != "abusive"
        return outcome.status == 0 or outcome.status >= 500

    def take_finished(self, now: float) -> list[SecondRow]:
        """Remove and return the rows of every second before the one ``now`` is in."""
        current = int(now)
        return self._take(lambda second: second < current)

    def take_all(self) -> list[SecondRow]:
        return self._take(lambda second: True)

    def _take(self, finished: Callable[[int], bool]) -> list[SecondRow]:
        keys = sorted((key for key in self._rows if finished(key[0])),
                      key=lambda key: (key[0], key[1], key[2], key[3], key[4] or ""))
        return [self._rows.pop(key) for key in keys]
