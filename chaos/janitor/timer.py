"""The janitor's one-time EventBridge Scheduler schedules, and the run's journal entry of one.

A run creates one schedule before its first change: ``at(start + max_duration +
expiry_margin)`` in UTC, no flexible window, deleted by Scheduler once it has invoked its
target (``ActionAfterCompletion: DELETE``), invoking the janitor function with the run's
id and journal as the event. "A one-time schedule is a schedule that invokes a target only
once" and "All schedule types on EventBridge Scheduler invoke their targets with 60 second
precision" (Schedule types in EventBridge Scheduler, https://docs.aws.amazon.com/scheduler/
latest/UserGuide/schedule-types.html; the ``at(yyyy-mm-ddThh:mm:ss)`` form is CreateSchedule's
ScheduleExpression, https://docs.aws.amazon.com/scheduler/latest/APIReference/
API_CreateSchedule.html). "For one-time schedules, this occurs after the schedule has
invoked its target once" (Deleting a schedule in EventBridge Scheduler, https://
docs.aws.amazon.com/scheduler/latest/UserGuide/managing-schedule-delete.html). Scheduler
"invokes your Lambda function asynchronously" through an execution role it assumes
(Invoke a Lambda function on a schedule, https://docs.aws.amazon.com/lambda/latest/dg/
with-eventbridge-scheduler.html).

The schedule is journaled like any mutation (chaos.janitor.timer_change): an entry of
type ``janitor-schedule`` whose restore deletes it, so the run's own restore, ``gameday
rollback`` and the janitor itself all clean it up.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chaos.aws.clients import error_code
from chaos.aws.partition import arn
from chaos.aws.retry import call_with_backoff
from chaos.clock import iso_from_epoch
from chaos.janitor import DEAD_LETTER_QUEUE, FUNCTION_NAME, SCHEDULER_ROLE_NAME
from chaos.journal import is_valid_run_id
from chaos.policy import PolicyStatement

if TYPE_CHECKING:
    from chaos.aws import AwsClients

TYPE_NAME = "janitor-schedule"
GROUP = "default"
NAME_PREFIX = "gameday-"
MAX_NAME_LENGTH = 64  # CreateSchedule: Name, 1 to 64 characters of [0-9a-zA-Z-_.]


@dataclass(frozen=True)
class JanitorEvent:
    """What a schedule hands the janitor: which run, and where its journal is.

    Both are checked, not trusted: the janitor reads only the journal location it was
    deployed with, and decides by its own settings when a run counts as dead. An event's
    ``heartbeat_stale_s`` (written by earlier versions) is read and ignored.
    """

    run_id: str
    journal: str  # s3://BUCKET/PREFIX

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "journal": self.journal}

    @classmethod
    def from_dict(cls, event: dict[str, Any]) -> JanitorEvent:
        if not isinstance(event, dict) or not event.get("run_id") or not event.get("journal"):
            raise ValueError('expected an event {"run_id": ..., "journal": "s3://..."}')
        run_id = str(event["run_id"])
        if not is_valid_run_id(run_id):
            raise ValueError(f"run_id {run_id[:100]!r} is not a run id")
        return cls(run_id, str(event["journal"]))


#: What Scheduler does when it cannot deliver the event (Lambda throttles, the function is
#: missing): retry "with exponential backoff ... until either the maximum number of attempts
#: is made or until the duration of the MaximumEventAgeInSeconds is reached" (at most 185
#: attempts and 86400 s, the defaults too; RetryPolicy, https://docs.aws.amazon.com/
#: scheduler/latest/APIReference/API_RetryPolicy.html), then deliver the event to the
#: schedule's dead-letter queue ("A DLQ is a standard Amazon SQS queue EventBridge Scheduler
#: uses to deliver failed events to, after the retry policy has been exhausted", Managing a
#: schedule in EventBridge Scheduler, https://docs.aws.amazon.com/scheduler/latest/UserGuide/
#: managing-schedule.html; Configuring a schedule's dead-letter queue, https://
#: docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html). Once Lambda
#: has accepted the event, the function's own asynchronous retries and on-failure
#: destination take over (chaos.janitor.deploy).
RETRY_POLICY = {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}


@dataclass(frozen=True)
class JanitorSchedule:
    """One one-time schedule invoking the janitor function."""

    name: str
    at: float  # epoch seconds
    function_arn: str
    role_arn: str
    event: JanitorEvent
    dead_letter_arn: str | None = None  # the SQS queue of undeliverable invocations

    def request(self) -> dict[str, Any]:
        """CreateSchedule / UpdateSchedule arguments (UpdateSchedule replaces them all)."""
        target: dict[str, Any] = {
            "Arn": self.function_arn,
            "RoleArn": self.role_arn,
            "Input": json.dumps(self.event.to_dict(), sort_keys=True),
            "RetryPolicy": dict(RETRY_POLICY),
        }
        if self.dead_letter_arn:
            target["DeadLetterConfig"] = {"Arn": self.dead_letter_arn}
        return {
            "Name": self.name,
            "GroupName": GROUP,
            "Description": f"gameday janitor of run {self.event.run_id}"[:512],
            "ScheduleExpression": at_expression(self.at),
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "ActionAfterCompletion": "DELETE",
            "State": "ENABLED",
            "Target": target,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "at": iso_from_epoch(self.at),
            "at_epoch": self.at,
            "function_arn": self.function_arn,
            "role_arn": self.role_arn,
            "event": self.event.to_dict(),
            "dead_letter_arn": self.dead_letter_arn,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JanitorSchedule:
        dead_letter = data.get("dead_letter_arn")
        return cls(
            str(data["name"]),
            float(data["at_epoch"]),
            str(data["function_arn"]),
            str(data["role_arn"]),
            JanitorEvent.from_dict(dict(data["event"])),
            str(dead_letter) if dead_letter else None,
        )


def schedule_name(run_id: str, suffix: str = "") -> str:
    """``gameday-<stamp>-<random>``: a run id's unique parts (its experiment name may not fit)."""
    parts = run_id.split("-")
    core = f"{parts[0]}-{parts[-1]}" if len(parts) > 2 else run_id
    name = "".join(c if c.isalnum() or c in "-_." else "-" for c in f"{NAME_PREFIX}{core}")
    return f"{name[: MAX_NAME_LENGTH - len(suffix)]}{suffix}"


def at_expression(epoch_s: float) -> str:
    """``at(yyyy-mm-ddThh:mm:ss)`` in UTC, rounded up to the whole second."""
    moment = datetime.fromtimestamp(math.ceil(epoch_s), timezone.utc)
    return f"at({moment.strftime('%Y-%m-%dT%H:%M:%S')})"


def schedule_arn(region: str, account_id: str, name: str) -> str:
    return arn("scheduler", region, account_id, f"schedule/{GROUP}/{name}")


def scheduler_role_arn(region: str, account_id: str) -> str:
    partition = arn("iam", region, account_id, "").split(":")[1]
    return f"arn:{partition}:iam::{account_id}:role/{SCHEDULER_ROLE_NAME}"


def dead_letter_arn(region: str, account_id: str) -> str:
    return arn("sqs", region, account_id, DEAD_LETTER_QUEUE)


def function_arn(region: str, account_id: str) -> str:
    return arn("lambda", region, account_id, f"function:{FUNCTION_NAME}")


def create_schedule(clients: AwsClients, schedule: JanitorSchedule) -> str:
    """Create the schedule; returns its ARN."""
    created = call_with_backoff(
        lambda: clients.client("scheduler").create_schedule(**schedule.request())
    )
    return str(created["ScheduleArn"])


def move_schedule(clients: AwsClients, schedule: JanitorSchedule) -> bool:
    """Set the schedule's time to `schedule.at`; False when it no longer exists."""
    try:
        call_with_backoff(lambda: clients.client("scheduler").update_schedule(**schedule.request()))
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return False
        raise
    return True


def delete_schedule(clients: AwsClients, name: str) -> bool:
    """Delete it; False when it was already gone (it fired, or a restore deleted it)."""
    try:
        call_with_backoff(
            lambda: clients.client("scheduler").delete_schedule(Name=name, GroupName=GROUP)
        )
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return False
        raise
    return True


def account_of(schedule: JanitorSchedule) -> str:
    return schedule.function_arn.split(":")[4]


def run_permissions(region: str, account_id: str) -> list[PolicyStatement]:
    """What a run calls for its janitor: find the function, create / move / delete its
    schedule, and pass the scheduler role to it (CreateSchedule's iam:PassRole)."""
    return [
        PolicyStatement(
            "JanitorFunction",
            ("lambda:GetFunctionConfiguration",),
            (function_arn(region, account_id),),
        ),
        PolicyStatement(
            "JanitorSchedule",
            ("scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule"),
            (schedule_arn(region, account_id, f"{NAME_PREFIX}*"),),
        ),
        PolicyStatement(
            "JanitorSchedulerRole",
            ("iam:PassRole",),
            (scheduler_role_arn(region, account_id),),
            (("StringEquals", "iam:PassedToService", "scheduler.amazonaws.com"),),
        ),
    ]
