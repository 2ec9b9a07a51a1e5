"""Stop conditions watched during a run: CloudWatch alarms and `abort_when` on a live SLI.

Both end in ``StopSignal.request(reason)``; neither ever raises into the run.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from chaos.metrics.aggregate import SecondSummary
from chaos.metrics.catalog import CATALOG, LIVE_SLIS
from chaos.verdict.slo import format_value

if TYPE_CHECKING:
    from chaos.experiment.model import AbortWhen as AbortWhenSpec
    from chaos.experiment.objective import Objective
    from chaos.run.stop import StopSignal

__all__ = ["DEFAULT_POLL_INTERVAL_S", "AbortWhen", "AlarmWatcher", "missing_alarms"]

log = logging.getLogger(__name__)

DEFAULT_POLL_INTERVAL_S = 5.0
_DESCRIBE_BATCH = 100  # describe_alarms accepts at most 100 names


def missing_alarms(cloudwatch: Any, names: Sequence[str]) -> list[str]:
    """The alarm names that do not exist (for a preflight refusal)."""
    found: set[str] = set()
    for batch in _batches(list(names)):
        response = cloudwatch.describe_alarms(
            AlarmNames=batch, AlarmTypes=["MetricAlarm", "CompositeAlarm"]
        )
        found.update(alarm["AlarmName"] for alarm in _alarms_of(response))
    return [name for name in names if name not in found]


def _batches(names: list[str]) -> list[list[str]]:
    return [names[i : i + _DESCRIBE_BATCH] for i in range(0, len(names), _DESCRIBE_BATCH)]


def _alarms_of(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [*response.get("MetricAlarms", []), *response.get("CompositeAlarms", [])]


class AlarmWatcher:
    """A daemon thread polling CloudWatch alarms; the first one in ALARM requests a stop.

    Errors reading the alarms are logged (and reported once through ``on_message``) and
    polling goes on: a flaky API must neither stop the run nor hide a later ALARM.
    """

    def __init__(
        self,
        cloudwatch: Any,
        alarm_names: Sequence[str],
        stop: StopSignal,
        *,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
        on_message: Callable[[str], None] | None = None,
    ) -> None:
        self.cloudwatch = cloudwatch
        self.alarm_names = list(alarm_names)
        self.stop = stop
        self.poll_interval_s = poll_interval_s
        self.on_message = on_message
        self.tripped: str | None = None
        self.polls = 0
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None
        self._error_reported = False

    def start(self) -> AlarmWatcher:
        if self.alarm_names and self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="alarm-watcher", daemon=True)
            self._thread.start()
        return self

    def close(self, timeout_s: float = 5.0) -> None:
        self._halt.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    def __enter__(self) -> AlarmWatcher:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _loop(self) -> None:
        while not self._halt.is_set():
            if self.poll_once():
                return
            self._halt.wait(self.poll_interval_s)

    def poll_once(self) -> bool:
        """Read the alarms once; True (and a stop requested) when one is in ALARM."""
        self.polls += 1
        try:
            in_alarm = self.alarms_in_alarm()
        except Exception as error:  # noqa: BLE001 - must not raise into the run
            log.warning("reading CloudWatch alarms failed: %s", error)
            if not self._error_reported and self.on_message is not None:
                self._error_reported = True
                self._say(f"cannot read CloudWatch alarms (will keep trying): {error}")
            return False
        if not in_alarm:
            return False
        self.tripped = f"alarm {in_alarm[0]} in ALARM"
        self.stop.request(self.tripped)
        self._say(self.tripped)
        return True

    def alarms_in_alarm(self) -> list[str]:
        names: list[str] = []
        for batch in _batches(self.alarm_names):
            response = self.cloudwatch.describe_alarms(
                AlarmNames=batch, StateValue="ALARM", AlarmTypes=["MetricAlarm", "CompositeAlarm"]
            )
            names.extend(
                alarm["AlarmName"]
                for alarm in _alarms_of(response)
                if alarm.get("StateValue") == "ALARM"
            )
        return sorted(name for name in set(names) if name in self.alarm_names)

    def _say(self, text: str) -> None:
        _tell(self.on_message, text)


def _tell(listener: Callable[[str], None] | None, text: str) -> None:
    if listener is None:
        return
    try:
        listener(text)
    except Exception:  # noqa: BLE001 - a reporter bug must not stop a stop condition
        log.exception("stop condition listener failed")


class AbortWhen:
    """Requests a stop when a live SLI meets ``objective`` for ``for_s`` seconds in a row.

    Fed each second of load once the streaming aggregation has finalized it
    (``feed_second``, wired as the aggregator's ``on_second``). Only seconds with
    requests count; a second without requests neither extends nor breaks the streak.
    """

    def __init__(
        self,
        sli: str,
        objective: Objective,
        for_s: float,
        stop: StopSignal,
        *,
        on_message: Callable[[str], None] | None = None,
    ) -> None:
        if sli not in LIVE_SLIS:
            raise ValueError(f"abort_when cannot watch {sli!r} live")
        self.sli = sli
        self.objective = objective
        self.needed = max(1, math.ceil(for_s))
        self.stop = stop
        self.on_message = on_message
        self.tripped: str | None = None
        self.streak = 0
        self.streak_start: int | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: AbortWhenSpec, stop: StopSignal, **options: Any) -> AbortWhen:
        return cls(spec.sli, spec.parsed_objective, spec.for_, stop, **options)

    def feed_second(self, second: SecondSummary) -> None:
        """Evaluate one finalized second; never raises."""
        try:
            with self._lock:
                if self.tripped is None:
                    self._evaluate(second)
        except Exception:  # noqa: BLE001 - must not raise into the run
            log.exception("abort_when evaluation failed")

    def _evaluate(self, second: SecondSummary) -> None:
        value = self.observe(second)
        if value is None:
            return
        if not self.objective.holds(value):
            self.streak, self.streak_start = 0, None
            return
        if self.streak == 0:
            self.streak_start = second.second
        self.streak += 1
        if self.streak >= self.needed:
            shown = format_value(self.sli, value)
            self.tripped = (
                f"abort_when: {self.sli} {self.objective} for {self.streak}s (last second: {shown})"
            )
            self.stop.request(self.tripped)
            _tell(self.on_message, self.tripped)

    def observe(self, second: SecondSummary) -> float | None:
        """The SLI of one second, None when the second had no requests."""
        if not second.requests:
            return None
        value = CATALOG[self.sli].value_in(second.slis())
        return float(value) if value is not None else None
