"""EventBridge Scheduler's data plane in the sandbox: due one-time schedules invoke their target.

moto keeps schedules (CreateSchedule, UpdateSchedule, DeleteSchedule, ...) but never runs
them. This loop reads moto's scheduler backend in the sandbox process every second; an
enabled ``at(yyyy-mm-ddThh:mm:ss)`` schedule whose time (in its
ScheduleExpressionTimezone) has come invokes its target once with the schedule's
``Input``, as EventBridge Scheduler does for a one-time schedule ("A one-time schedule is a
schedule that invokes a target only once", https://docs.aws.amazon.com/scheduler/latest/
UserGuide/schedule-types.html). A Lambda target runs through the data plane's execution
environments (the real runtime client), asynchronously as Scheduler invokes Lambda
(https://docs.aws.amazon.com/lambda/latest/dg/with-eventbridge-scheduler.html); then the
schedule is deleted when its ActionAfterCompletion is DELETE ("For one-time schedules, this
occurs after the schedule has invoked its target once", https://docs.aws.amazon.com/
scheduler/latest/UserGuide/managing-schedule-delete.html), else remembered as fired.
Recurring (rate, cron) schedules are not run. Scheduler's 60-second precision is not
imitated: a schedule fires within a second of its time.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from chaos.sandbox.functions import Throttled
from chaos.sandbox.lambda_service import LambdaService
from chaos.sandbox.routing import LambdaTarget

log = logging.getLogger(__name__)

POLL_S = 1.0
AT_EXPRESSION = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")
THROTTLE_RETRIES = 10  # a throttled invoke is retried, as Scheduler's retry policy does
THROTTLE_BACKOFF_S = 1.0

#: Invokes a target ARN with a payload; returns what happened, for the log.
Invoke = Callable[[str, bytes], str]


@dataclass(frozen=True)
class DueSchedule:
    group: str
    name: str
    expression: str
    target_arn: str
    payload: bytes
    delete_after: bool


def at_time(expression: str, timezone_name: str | None) -> float | None:
    """Epoch seconds of an ``at(...)`` expression in its time zone; None for rate / cron."""
    match = AT_EXPRESSION.fullmatch(expression.strip())
    if match is None:
        return None
    local = datetime.fromisoformat(match.group(1))
    return local.replace(tzinfo=ZoneInfo(timezone_name or "UTC")).timestamp()


class ScheduleExecutor:
    """Fires the due one-time schedules of one account and Region (moto in this process)."""

    def __init__(self, account_id: str, region: str, invoke: Invoke, *, poll_s: float = POLL_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.account_id = account_id
        self.region = region
        self.invoke = invoke
        self.poll_s = poll_s
        self.clock = clock
        self.fired: list[str] = []  # "group/name" in firing order
        self._fired_keys: set[tuple[str, str, str]] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._invocations: list[threading.Thread] = []

    def _backend(self) -> Any:
        from moto.scheduler.models import scheduler_backends

        return scheduler_backends[self.account_id][self.region]

    def start(self) -> ScheduleExecutor:
        self._thread = threading.Thread(target=self._run, name="sandbox-scheduler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for thread in self._invocations:
            thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.tick()
            except Exception:  # noqa: BLE001 - keep running on a transient read error
                log.warning("sandbox scheduler tick failed", exc_info=True)

    def tick(self) -> list[DueSchedule]:
        """Fire every schedule due now; returns them."""
        due = self.due(self.clock())
        for schedule in due:
            self.fire(schedule)
        return due

    def due(self, now: float) -> list[DueSchedule]:
        found = []
        for group in list(self._backend().schedule_groups.values()):
            for schedule in list(group.schedules.values()):
                at = at_time(str(schedule.schedule_expression),
                             schedule.schedule_expression_timezone)
                key = (str(group.name), str(schedule.name), str(schedule.schedule_expression))
                # moto's UpdateSchedule keeps no State when none is given: AWS's default.
                enabled = (schedule.state or "ENABLED") == "ENABLED"
                if at is None or at > now or not enabled or key in self._fired_keys:
                    continue
                target = dict(schedule.target)
                found.append(DueSchedule(
                    str(group.name), str(schedule.name), str(schedule.schedule_expression),
                    str(target.get("Arn", "")), str(target.get("Input") or "{}").encode(),
                    schedule.action_after_completion == "DELETE"))
        return found

    def fire(self, schedule: DueSchedule) -> None:
        """Invoke in the background (Scheduler does not wait for Lambda), then complete."""
        self._fired_keys.add((schedule.group, schedule.name, schedule.expression))
        self.fired.append(f"{schedule.group}/{schedule.name}")
        thread = threading.Thread(target=self._invoke, args=(schedule,), daemon=True,
                                  name=f"sandbox-schedule-{schedule.name}")
        self._invocations = [item for item in self._invocations if item.is_alive()]
        self._invocations.append(thread)
        thread.start()
        if schedule.delete_after:
            try:
                self._backend().delete_schedule(schedule.group, schedule.name)
            except Exception:  # noqa: BLE001 - deleted meanwhile (by the janitor itself)
                log.debug("schedule %s/%s already gone", schedule.group, schedule.name)

    def _invoke(self, schedule: DueSchedule) -> None:
        log.info("schedule %s/%s fires: %s", schedule.group, schedule.name, schedule.target_arn)
        try:
            outcome = self.invoke(schedule.target_arn, schedule.payload)
        except Exception:  # noqa: BLE001 - a failed target is logged, as Scheduler would
            log.warning("schedule %s/%s: invoking %s failed", schedule.group, schedule.name,
                        schedule.target_arn, exc_info=True)
            return
        log.info("schedule %s/%s: %s", schedule.group, schedule.name, outcome)


def lambda_invoker(lambdas: LambdaService, *, retries: int = THROTTLE_RETRIES,
                   backoff_s: float = THROTTLE_BACKOFF_S) -> Invoke:
    """Invoke a Lambda target ARN (``...:function:NAME[:QUALIFIER]``) in the data plane."""

    def invoke(target_arn: str, payload: bytes) -> str:
        parts = target_arn.split(":")
        if len(parts) < 7 or parts[2] != "lambda" or parts[5] != "function":
            return f"target {target_arn} is not a Lambda function: not run in the sandbox"
        target = LambdaTarget(parts[6], parts[7] if len(parts) > 7 else None)
        for _ in range(retries):
            try:
                outcome = lambdas.invoke(target, payload)
                break
            except Throttled:
                time.sleep(backoff_s)
        else:
            return f"{target.label}: throttled {retries} times, given up"
        if outcome.result is None:
            return f"{target.label}: not run ({outcome.init_error})"
        result = outcome.result
        status = f"error {result.function_error}" if result.function_error else "ok"
        return f"{target.label}: {status} {result.payload[:2000].decode(errors='replace')}"

    return invoke
