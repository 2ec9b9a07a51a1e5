"""The sandbox's EventBridge Scheduler data plane: due one-time schedules fire once; an event
that cannot be delivered is retried per the schedule's RetryPolicy, then dead-lettered; a
Lambda target's failures are Lambda's asynchronous retries, then its on-failure record."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chaos.janitor.timer import at_expression
from chaos.sandbox.eventbridge.scheduler import Delivery, DueSchedule, ScheduleExecutor, at_time
from chaos.sandbox.functions.async_invoke import AsyncLambda
from chaos.sandbox.functions.configuration import LambdaTarget
from chaos.sandbox.functions.local.environment import InvokeResult
from chaos.sandbox.functions.pool import InvokeOutcome, Throttled
from chaos.sandbox.realism import Realism

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
TARGET = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:gameday-janitor"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/gameday-janitor-scheduler"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def scheduler(fake_aws_credentials: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("scheduler", region_name=REGION)


def create(
    scheduler: Any,
    name: str,
    expression: str,
    *,
    after: str = "DELETE",
    timezone: str = "UTC",
    state: str = "ENABLED",
    payload: Any = None,
) -> None:
    scheduler.create_schedule(
        Name=name,
        ScheduleExpression=expression,
        ScheduleExpressionTimezone=timezone,
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion=after,
        State=state,
        Target={"Arn": TARGET, "RoleArn": ROLE, "Input": json.dumps(payload or {"n": name})},
    )


def executor(clock: Clock) -> tuple[ScheduleExecutor, list[tuple[str, Any]]]:
    invoked: list[tuple[str, Any]] = []

    def invoke(arn: str, payload: bytes) -> Delivery:
        invoked.append((arn, json.loads(payload)))
        return Delivery(True, "ok")

    return ScheduleExecutor(ACCOUNT_ID, REGION, invoke, clock=clock), invoked


def names(scheduler: Any) -> list[str]:
    return sorted(item["Name"] for item in scheduler.list_schedules()["Schedules"])


def wait_invoked(invoked: list[tuple[str, Any]], count: int) -> None:
    deadline = time.monotonic() + 10
    while len(invoked) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_due_one_time_schedule_invokes_its_target_once_then_is_deleted(scheduler: Any) -> None:
    clock = Clock()
    create(scheduler, "due", at_expression(clock.now + 30), payload={"run_id": "r1"})
    create(scheduler, "later", at_expression(clock.now + 90))
    runner, invoked = executor(clock)

    assert runner.tick() == [] and invoked == []
    clock.now += 31
    fired = runner.tick()
    wait_invoked(invoked, 1)

    assert [schedule.name for schedule in fired] == ["due"]
    assert invoked == [(TARGET, {"run_id": "r1"})]
    assert names(scheduler) == ["later"], "ActionAfterCompletion DELETE"
    clock.now += 10
    assert runner.tick() == []
    runner.stop()


def test_a_kept_schedule_fires_once_and_again_only_when_moved(scheduler: Any) -> None:
    clock = Clock()
    create(scheduler, "kept", at_expression(clock.now - 1), after="NONE")
    runner, invoked = executor(clock)

    assert len(runner.tick()) == 1 and runner.tick() == []
    wait_invoked(invoked, 1)
    assert names(scheduler) == ["kept"] and len(invoked) == 1

    scheduler.update_schedule(
        Name="kept",
        ScheduleExpression=at_expression(clock.now + 60),
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": TARGET, "RoleArn": ROLE},
    )
    assert runner.tick() == []
    clock.now += 61
    assert len(runner.tick()) == 1
    runner.stop()


def test_disabled_recurring_and_other_zones_are_respected(scheduler: Any) -> None:
    clock = Clock()
    create(scheduler, "disabled", at_expression(clock.now - 1), state="DISABLED")
    create(scheduler, "recurring", "rate(1 minutes)")
    # 12:00 in Tokyo is 03:00 UTC: due when UTC says so, not when the wall says 12:00.
    tokyo = time.strftime("at(%Y-%m-%dT%H:%M:%S)", time.gmtime(clock.now + 9 * 3600 + 60))
    create(scheduler, "tokyo", tokyo, timezone="Asia/Tokyo")
    runner, _ = executor(clock)

    assert runner.tick() == []
    clock.now += 61
    assert [schedule.name for schedule in runner.tick()] == ["tokyo"]
    runner.stop()


def test_at_expressions_parse_in_their_time_zone() -> None:
    assert at_time("at(2024-05-01T10:00:00)", "UTC") == 1714557600.0
    assert at_time("at(2024-05-01T12:00:00)", "Europe/Paris") == 1714557600.0
    assert at_time("rate(5 minutes)", "UTC") is None
    assert at_time("cron(0 10 * * ? *)", None) is None


# -- delivery failures: RetryPolicy, then the dead-letter queue --------------------------

DLQ = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:gameday-janitor-dead-letters"


class Waits:
    """`wait(seconds)` that only records and moves the clock (False: not stopping)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.waited: list[float] = []

    def __call__(self, seconds: float) -> bool:
        self.waited.append(seconds)
        self.clock.now += seconds
        return False


def due(
    *, retries: int = 185, max_age_s: float = 86400.0, dead_letter: str | None = DLQ
) -> DueSchedule:
    return DueSchedule(
        "default",
        "gameday-x",
        "at(2024-05-01T10:00:00)",
        TARGET,
        b'{"run_id": "r1"}',
        True,
        arn="arn:aws:scheduler:x",
        retry_attempts=retries,
        max_event_age_s=max_age_s,
        dead_letter_arn=dead_letter,
    )


def failing_executor(
    clock: Clock, delivery: Delivery
) -> tuple[ScheduleExecutor, list[Any], list[str]]:
    sent: list[Any] = []
    tried: list[str] = []

    def deliver(arn: str, payload: bytes) -> Delivery:
        tried.append(arn)
        return delivery

    runner = ScheduleExecutor(
        ACCOUNT_ID,
        REGION,
        deliver,
        clock=clock,
        send=lambda queue, body, attributes: sent.append((queue, json.loads(body), attributes)),
    )
    return runner, sent, tried


def test_an_undeliverable_event_is_retried_with_backoff_then_dead_lettered() -> None:
    clock = Clock()
    runner, sent, tried = failing_executor(
        clock, Delivery(False, "Rate exceeded", "TooManyRequestsException")
    )
    waits = Waits(clock)

    outcome = runner.deliver_with_retries(due(retries=4), wait=waits)

    assert len(tried) == 5, "the first attempt and 4 retries"
    assert waits.waited == [1.0, 2.0, 4.0, 8.0], "exponential backoff"
    assert "MaximumRetryAttempts" in outcome
    [(queue, body, attributes)] = sent
    assert (queue, body) == (DLQ, {"run_id": "r1"})
    assert attributes["ERROR_CODE"] == "TooManyRequestsException"
    assert (attributes["EXHAUSTED_RETRY_CONDITION"], attributes["RETRY_ATTEMPTS"]) == (
        "MaximumRetryAttempts",
        "4",
    )
    assert attributes["TARGET_ARN"] == TARGET


def test_the_maximum_event_age_ends_the_retries_first() -> None:
    clock = Clock()
    runner, sent, tried = failing_executor(clock, Delivery(False, "busy", "ThrottlingException"))
    waits = Waits(clock)

    runner.deliver_with_retries(due(retries=185, max_age_s=60.0), wait=waits)

    assert sum(waits.waited) <= 60.0 and len(tried) == len(waits.waited) + 1
    assert sent[0][2]["EXHAUSTED_RETRY_CONDITION"] == "MaximumEventAgeInSeconds"


def test_a_missing_target_goes_to_the_queue_at_once_and_without_one_is_dropped() -> None:
    clock = Clock()
    missing = Delivery(False, "Function not found", "ResourceNotFoundException", retryable=False)
    runner, sent, tried = failing_executor(clock, missing)
    waits = Waits(clock)

    runner.deliver_with_retries(due(), wait=waits)
    assert (len(tried), waits.waited) == (1, [])
    assert sent[0][2]["EXHAUSTED_RETRY_CONDITION"] == "NonRetryableError"

    sent.clear()
    assert runner.deliver_with_retries(due(dead_letter=None), wait=waits).startswith("dropped")
    assert sent == []


def test_a_schedules_retry_policy_and_queue_are_read_from_its_target(scheduler: Any) -> None:
    clock = Clock()
    scheduler.create_schedule(
        Name="with-dlq",
        ScheduleExpression=at_expression(clock.now - 1),
        FlexibleTimeWindow={"Mode": "OFF"},
        ActionAfterCompletion="DELETE",
        Target={
            "Arn": TARGET,
            "RoleArn": ROLE,
            "Input": "{}",
            "DeadLetterConfig": {"Arn": DLQ},
            "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600},
        },
    )
    create(scheduler, "defaults", at_expression(clock.now - 1))
    runner, _ = executor(clock)

    found = {schedule.name: schedule for schedule in runner.due(clock.now)}

    assert (
        found["with-dlq"].retry_attempts,
        found["with-dlq"].max_event_age_s,
        found["with-dlq"].dead_letter_arn,
    ) == (3, 600.0, DLQ)
    assert (
        found["defaults"].retry_attempts,
        found["defaults"].max_event_age_s,
        found["defaults"].dead_letter_arn,
    ) == (185, 86400.0, None)


# -- Lambda's asynchronous invocation: retries, then the on-failure destination ----------


def outcome(error: str | None) -> InvokeOutcome:
    payload = json.dumps(
        {"errorType": error, "errorMessage": "boom"} if error else {"ok": True}
    ).encode()
    return InvokeOutcome("use1-az1", InvokeResult("req", 200, payload, error, 1.0))


def async_lambda(
    results: list[Any], config: dict[str, Any], scale: float = 1.0
) -> tuple[AsyncLambda, list[Any], Clock]:
    clock = Clock()
    sent: list[Any] = []

    def invoke(target: LambdaTarget, payload: bytes) -> InvokeOutcome:
        result = results.pop(0)
        if isinstance(result, Exception):
            raise result
        return outcome(result)

    queue = AsyncLambda(
        invoke,
        lambda name: config,
        lambda arn, body, attributes: sent.append((arn, json.loads(body))),
        Realism(time_scale=scale),
        function_arn=lambda name: f"{TARGET.rsplit(':', 1)[0]}:{name}",
        clock=clock,
    )
    return queue, sent, clock


def test_a_failing_asynchronous_invocation_is_retried_twice_then_recorded() -> None:
    queue, sent, clock = async_lambda(
        ["Runtime.Unhandled", "Sandbox.Timedout", "Runtime.Unhandled"],
        {"DestinationConfig": {"OnFailure": {"Destination": DLQ}}},
    )
    waits = Waits(clock)

    queue.process(LambdaTarget("gameday-janitor"), b'{"run_id": "r1"}', wait=waits)

    assert waits.waited == [60.0, 120.0], "Lambda's one and two minutes between attempts"
    [(destination, record)] = sent
    assert destination == DLQ
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == {"run_id": "r1"}
    assert record["responseContext"]["functionError"] == "Runtime.Unhandled"


def test_a_retry_that_succeeds_sends_nothing_and_the_waits_scale_with_the_sandbox() -> None:
    queue, sent, clock = async_lambda(
        [Throttled(), "Runtime.Unhandled", None],
        {"DestinationConfig": {"OnFailure": {"Destination": DLQ}}},
        scale=0.1,
    )
    waits = Waits(clock)
    result = queue.process(LambdaTarget("gameday-janitor"), b"{}", wait=waits)
    assert "ok after 2 attempt(s)" in result and sent == []
    assert waits.waited == pytest.approx([0.1, 6.0]), "a throttle: 1 s; an error: 1 min"


def test_fewer_retries_and_no_destination_discard_the_event() -> None:
    queue, sent, clock = async_lambda(["Runtime.Unhandled"], {"MaximumRetryAttempts": 0})
    result = queue.process(LambdaTarget("gameday-janitor"), b"{}", wait=Waits(clock))
    assert "discarded (RetriesExhausted" in result and sent == []
