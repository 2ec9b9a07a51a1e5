"""EventBridge Scheduler's data plane in the sandbox: due one-time schedules invoke their target.

moto keeps schedules (CreateSchedule, UpdateSchedule, DeleteSchedule, ...) but never runs
them. This loop reads moto's scheduler backend in the sandbox process every second; an
enabled ``at(yyyy-mm-ddThh:mm:ss)`` schedule whose time (in its
ScheduleExpressionTimezone) has come invokes its target once with the schedule's
``Input``, as EventBridge Scheduler does for a one-time schedule ("A one-time schedule is a
schedule that invokes a target only once", https://docs.aws.amazon.com/scheduler/latest/
UserGuide/schedule-types.html). A Lambda target is invoked asynchronously as Scheduler
invokes Lambda (https://docs.aws.amazon.com/lambda/latest/dg/with-eventbridge-scheduler.html):
once Lambda has accepted the event, Lambda's own retries and on-failure destination take
over (chaos.sandbox.functions.async_invoke). Then the schedule is deleted when its
ActionAfterCompletion is DELETE ("For one-time schedules, this occurs after the schedule has
invoked its target once", https://docs.aws.amazon.com/scheduler/latest/UserGuide/
managing-schedule-delete.html), else remembered as fired.

When the event cannot be delivered, Scheduler follows the target's RetryPolicy: "Retry
attempts with exponential backoff continue until either the maximum number of attempts is
made or until the duration of the MaximumEventAgeInSeconds is reached" (RetryPolicy,
https://docs.aws.amazon.com/scheduler/latest/APIReference/API_RetryPolicy.html; 185
attempts and 86400 s when the schedule names none, as moto stores it), then delivers a
dead-letter event to the target's DeadLetterConfig queue, or drops it ("A DLQ is a standard
Amazon SQS queue EventBridge Scheduler uses to deliver failed events to, after the retry
policy has been exhausted", https://docs.aws.amazon.com/scheduler/latest/UserGuide/
managing-schedule.html). Errors that no retry can fix (a target that does not exist) go to
the queue at once, as EventBridge documents for its targets ("for errors that result from
missing permissions to a target, or a target resource that no longer exists ... EventBridge
sends these events directly to the DLQ", https://docs.aws.amazon.com/eventbridge/latest/
userguide/eb-rule-dlq.html). The dead-letter event is the target's input, with the schedule,
target, error and retry count as message attributes. The backoff (1 s doubling up to 5 min)
is the sandbox's choice: Scheduler documents none. Recurring (rate, cron) schedules are not
run. Scheduler's 60-second precision is not imitated: a schedule fires within a second of
its time.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from chaos.aws.retry import call_with_backoff
from chaos.sandbox.functions.async_invoke import AsyncLambda
from chaos.sandbox.functions.configuration import LambdaTarget
from chaos.sandbox.functions.invoke import LambdaService

if TYPE_CHECKING:
    from chaos.aws import AwsClients

log = logging.getLogger(__name__)

POLL_S = 1.0
AT_EXPRESSION = re.compile(r"at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)")
#: A schedule without a RetryPolicy (moto stores these defaults; see the module doc).
DEFAULT_RETRY_ATTEMPTS = 185
DEFAULT_MAX_EVENT_AGE_S = 86400.0
BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 300.0


@dataclass(frozen=True)
class Delivery:
    """What handing the event to the target gave."""

    accepted: bool
    detail: str = ""
    error_code: str = ""
    retryable: bool = True  # False: no retry can fix it (the target does not exist)


#: Hands a payload to a target ARN.
Deliver = Callable[[str, bytes], Delivery]
#: Sends a message (body, string attributes) to an SQS queue ARN.
SendToQueue = Callable[[str, str, dict[str, str]], None]


@dataclass(frozen=True)
class DueSchedule:
    group: str
    name: str
    expression: str
    target_arn: str
    payload: bytes
    delete_after: bool
    arn: str = ""
    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    max_event_age_s: float = DEFAULT_MAX_EVENT_AGE_S
    dead_letter_arn: str | None = None


def at_time(expression: str, timezone_name: str | None) -> float | None:
    """Epoch seconds of an ``at(...)`` expression in its time zone; None for rate / cron."""
    match = AT_EXPRESSION.fullmatch(expression.strip())
    if match is None:
        return None
    local = datetime.fromisoformat(match.group(1))
    return local.replace(tzinfo=ZoneInfo(timezone_name or "UTC")).timestamp()


class ScheduleExecutor:
    """Fires the due one-time schedules of one account and Region (moto in this process)."""

    def __init__(
        self,
        account_id: str,
        region: str,
        deliver: Deliver,
        *,
        send: SendToQueue | None = None,
        poll_s: float = POLL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.account_id = account_id
        self.region = region
        self.deliver = deliver
        self.send = send
        self.poll_s = poll_s
        self.clock = clock
        self.fired: list[str] = []  # "group/name" in firing order
        self.dead_letters: list[str] = []  # "group/name" whose event went to the DLQ
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
                at = at_time(
                    str(schedule.schedule_expression), schedule.schedule_expression_timezone
                )
                key = (str(group.name), str(schedule.name), str(schedule.schedule_expression))
                # moto's UpdateSchedule keeps no State when none is given: AWS's default.
                enabled = (schedule.state or "ENABLED") == "ENABLED"
                if at is None or at > now or not enabled or key in self._fired_keys:
                    continue
                found.append(due_schedule(str(group.name), schedule))
        return found

    def fire(self, schedule: DueSchedule) -> None:
        """Deliver in the background (Scheduler does not wait for Lambda), then complete."""
        self._fired_keys.add((schedule.group, schedule.name, schedule.expression))
        self.fired.append(f"{schedule.group}/{schedule.name}")
        thread = threading.Thread(
            target=self.deliver_with_retries,
            args=(schedule,),
            daemon=True,
            name=f"sandbox-schedule-{schedule.name}",
        )
        self._invocations = [item for item in self._invocations if item.is_alive()]
        self._invocations.append(thread)
        thread.start()
        if schedule.delete_after:
            try:
                self._backend().delete_schedule(schedule.group, schedule.name)
            except Exception:  # noqa: BLE001 - deleted meanwhile (by the janitor itself)
                log.debug("schedule %s/%s already gone", schedule.group, schedule.name)

    def deliver_with_retries(
        self, schedule: DueSchedule, wait: Callable[[float], bool] | None = None
    ) -> str:
        """Deliver the event per the schedule's RetryPolicy, else dead-letter it; returns
        what happened. `wait(seconds)` returns True when the sandbox stops."""
        wait = wait or self._stop.wait
        log.info("schedule %s/%s fires: %s", schedule.group, schedule.name, schedule.target_arn)
        started, retries, backoff = self.clock(), 0, BACKOFF_FIRST_S
        while True:
            delivery = self._deliver_once(schedule)
            if delivery.accepted:
                log.info("schedule %s/%s: %s", schedule.group, schedule.name, delivery.detail)
                return delivery.detail
            if not delivery.retryable:
                return self.dead_letter(schedule, delivery, retries, "NonRetryableError")
            if retries >= schedule.retry_attempts:
                return self.dead_letter(schedule, delivery, retries, "MaximumRetryAttempts")
            if self.clock() + backoff - started > schedule.max_event_age_s:
                return self.dead_letter(schedule, delivery, retries, "MaximumEventAgeInSeconds")
            if wait(backoff):
                return "stopped"
            retries += 1
            backoff = min(BACKOFF_MAX_S, backoff * 2)

    def _deliver_once(self, schedule: DueSchedule) -> Delivery:
        try:
            return self.deliver(schedule.target_arn, schedule.payload)
        except Exception as error:  # noqa: BLE001 - an unexpected failure is retried
            log.warning(
                "schedule %s/%s: delivering to %s failed",
                schedule.group,
                schedule.name,
                schedule.target_arn,
                exc_info=True,
            )
            return Delivery(False, str(error), "InternalError")

    def dead_letter(
        self, schedule: DueSchedule, delivery: Delivery, retries: int, exhausted: str
    ) -> str:
        """The event goes to the schedule's dead-letter queue, or is dropped."""
        if schedule.dead_letter_arn is None or self.send is None:
            log.warning(
                "schedule %s/%s: event dropped after %d retries (%s: %s)",
                schedule.group,
                schedule.name,
                retries,
                delivery.error_code,
                delivery.detail,
            )
            return f"dropped ({delivery.error_code})"
        attributes = {
            "SCHEDULE_ARN": schedule.arn,
            "TARGET_ARN": schedule.target_arn,
            "ERROR_CODE": delivery.error_code or "Unknown",
            "ERROR_MESSAGE": delivery.detail[:1000] or "-",
            "EXHAUSTED_RETRY_CONDITION": exhausted,
            "RETRY_ATTEMPTS": str(retries),
        }
        self.send(schedule.dead_letter_arn, schedule.payload.decode(errors="replace"), attributes)
        self.dead_letters.append(f"{schedule.group}/{schedule.name}")
        log.warning(
            "schedule %s/%s: event sent to %s (%s: %s)",
            schedule.group,
            schedule.name,
            schedule.dead_letter_arn,
            delivery.error_code,
            delivery.detail,
        )
        return f"dead-lettered ({delivery.error_code}, {exhausted})"


def due_schedule(group: str, schedule: Any) -> DueSchedule:
    """What firing needs of a moto schedule."""
    target = dict(schedule.target)
    policy = dict(target.get("RetryPolicy") or {})
    dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
    return DueSchedule(
        group,
        str(schedule.name),
        str(schedule.schedule_expression),
        str(target.get("Arn", "")),
        str(target.get("Input") or "{}").encode(),
        schedule.action_after_completion == "DELETE",
        arn=str(getattr(schedule, "arn", "")),
        retry_attempts=int(policy.get("MaximumRetryAttempts", DEFAULT_RETRY_ATTEMPTS)),
        max_event_age_s=float(policy.get("MaximumEventAgeInSeconds", DEFAULT_MAX_EVENT_AGE_S)),
        dead_letter_arn=str(dead_letter) if dead_letter else None,
    )


def lambda_deliverer(lambdas: LambdaService, queue: AsyncLambda) -> Deliver:
    """Hand a Lambda target ARN (``...:function:NAME[:QUALIFIER]``) the event asynchronously:
    accepted when the function (or its alias / version) exists, then run by Lambda's
    asynchronous queue."""

    def deliver(target_arn: str, payload: bytes) -> Delivery:
        parts = target_arn.split(":")
        if len(parts) < 7 or parts[2] != "lambda" or parts[5] != "function":
            return Delivery(
                False,
                f"target {target_arn} is not a Lambda function",
                "ValidationException",
                retryable=False,
            )
        target = LambdaTarget(parts[6], parts[7] if len(parts) > 7 else None)
        if lambdas.resolve(target) is None or not lambdas.exists(target.function_name):
            return Delivery(
                False,
                f"Function not found: {target_arn}",
                "ResourceNotFoundException",
                retryable=False,
            )
        queue.accept(target, payload)
        return Delivery(True, f"{target.label}: accepted (asynchronous invocation)")

    return deliver


def sqs_sender(clients: AwsClients) -> SendToQueue:
    """Send to a queue of the sandbox through its own SQS API (as a service would)."""

    def send(queue_arn: str, body: str, attributes: dict[str, str]) -> None:
        sqs = clients.client("sqs")
        parts = queue_arn.split(":")
        url = call_with_backoff(
            lambda: sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])
        )["QueueUrl"]
        call_with_backoff(
            lambda: sqs.send_message(
                QueueUrl=url,
                MessageBody=body,
                MessageAttributes={
                    name: {"DataType": "String", "StringValue": value}
                    for name, value in attributes.items()
                },
            )
        )

    return send
