"""Per-second aggregation of requests inside a Locust process (no Locust import here).

Each request is tagged with the epoch second in which it completed; a second is handed
out once it is over, so no request is ever added to a row already sent.

`record` runs once per request, in the same process that sends the load, so it does as
little as it can: two counter increments (status code, latency rounded to the whole
millisecond the histogram records anyway). Rows, status classes, failures and the HDR
histogram are built once per row when the second is handed out; their content is the
same as recording each request into the row directly.
"""

from __future__ import annotations

from collections.abc import Callable

from chaos.metrics.rows import TRAFFIC_KINDS, SecondRow, Traffic

# (user class, traffic kind, WAF identity) of the client that sent a request.
Source = tuple[str, str, str | None]
_NO_SOURCE: Source = ("-", "normal", None)
_TRAFFIC_KINDS: dict[str, Traffic] = {kind: kind for kind in TRAFFIC_KINDS}
_RowKey = tuple[Source | None, str, str]
_SortKey = tuple[int, str, str, str, str]


# A recorded status may carry what the Locust plugin recognised in the response: flag
# bits times 1000 added to the HTTP status (one integer keeps `record` cheap).
WAF_BLOCK = 1  # recognisably the WAF rate rule's block
OTHER_403 = 2  # a 403 that is not the rate rule's (authorizer, resource policy, ...)
INJECTED = 4  # carries the fault extension's marker header


def with_flags(status: int, flags: int) -> int:
    """`status` carrying `flags` (WAF_BLOCK | OTHER_403 | INJECTED)."""
    return status + 1000 * flags


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 200 <= status < 600 else "error"


THROTTLED = 429  # Too Many Requests: the service refused the request


def counts_as_failure(status: int, traffic: str, blocked: bool) -> bool:
    """5xx, no response, a 429 that is not the WAF's block, or a WAF block of a client
    that is not meant to be abusive (PRODUCT.md, "Objectives and verdicts").

    `blocked` is what chaos.load.response_signs recognised as the rate rule's block; any
    other 429 (API Gateway's throttling, an injected 429) is a request the service refused.
    """
    if blocked:
        return traffic != "abusive"
    return status == 0 or status == THROTTLED or status >= 500


class _Tally:
    """One row's requests so far: how many per status code and per whole millisecond."""

    __slots__ = ("statuses", "latencies_ms")

    def __init__(self) -> None:
        self.statuses: dict[int, int] = {}
        self.latencies_ms: dict[int, int] = {}


class RowCollector:
    """Accumulates requests into SecondRows; `take_finished` hands out complete seconds."""

    def __init__(self, worker: str | None = None) -> None:
        self.worker = worker  # the label rows carry: which Locust process measured them
        self._tallies_by_second: dict[int, dict[_RowKey, _Tally]] = {}
        self._second = -1
        self._tallies: dict[_RowKey, _Tally] = {}

    def record(
        self,
        completed_second: int,
        source: Source | None,
        request_type: str,
        name: str,
        status: int,
        latency_ms: float,
    ) -> None:
        """Count one request (status 0: no HTTP response) in the second it completed."""
        if completed_second != self._second:
            self._tallies = self._tallies_by_second.setdefault(completed_second, {})
            self._second = completed_second
        key = (source, request_type, name)
        tally = self._tallies.get(key)
        if tally is None:
            tally = self._tallies[key] = _Tally()
        statuses = tally.statuses
        statuses[status] = statuses.get(status, 0) + 1
        # round() as LatencyHistogram.record rounds: the histogram ends up the same.
        milliseconds = round(latency_ms)
        latencies = tally.latencies_ms
        latencies[milliseconds] = latencies.get(milliseconds, 0) + 1

    def take_finished(self, now: float) -> list[SecondRow]:
        """Remove and return the rows of every second before the one ``now`` is in."""
        current = int(now)
        return self._take(lambda second: second < current)

    def take_all(self) -> list[SecondRow]:
        return self._take(lambda second: True)

    def _take(self, finished: Callable[[int], bool]) -> list[SecondRow]:
        rows: list[SecondRow] = []
        for second in sorted(second for second in self._tallies_by_second if finished(second)):
            tallies = self._tallies_by_second.pop(second)
            if second == self._second:
                self._second, self._tallies = -1, {}
            rows.extend(self._row(second, key, tally) for key, tally in tallies.items())
        return sorted(rows, key=_row_order)

    def _row(self, second: int, key: _RowKey, tally: _Tally) -> SecondRow:
        source, request_type, name = key
        user_class, traffic_name, identity = source or _NO_SOURCE
        traffic = _TRAFFIC_KINDS.get(traffic_name, "normal")
        row = SecondRow(
            second, user_class, f"{request_type} {name}", traffic, identity, worker=self.worker
        )
        for code, count in tally.statuses.items():
            status, flags = code % 1000, code // 1000
            row.requests += count
            name_of_class = status_class(status)
            row.status_classes[name_of_class] = row.status_classes.get(name_of_class, 0) + count
            # Only the response's own signs make a block (chaos.load.response_signs): a
            # status that merely equals the rule's block status may be a throttle.
            blocked = bool(flags & WAF_BLOCK)
            row.blocked += count if blocked else 0
            row.other_403 += count if flags & OTHER_403 else 0
            row.injected += count if flags & INJECTED else 0
            if counts_as_failure(status, traffic, blocked):
                row.failures += count
        for milliseconds, count in tally.latencies_ms.items():
            row.histogram.record(milliseconds, count)
        return row


def _row_order(row: SecondRow) -> _SortKey:
    return (row.second, row.user_class, row.endpoint, row.traffic, row.identity or "")
