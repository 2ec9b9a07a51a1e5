"""The sandbox's EventBridge Scheduler data plane: due one-time schedules fire once."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chaos.janitor.schedule import at_expression
from chaos.sandbox.scheduler import ScheduleExecutor, at_time

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


def create(scheduler: Any, name: str, expression: str, *, after: str = "DELETE",
           timezone: str = "UTC", state: str = "ENABLED", payload: Any = None) -> None:
    scheduler.create_schedule(
        Name=name, ScheduleExpression=expression, ScheduleExpressionTimezone=timezone,
        FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion=after, State=state,
        Target={"Arn": TARGET, "RoleArn": ROLE, "Input": json.dumps(payload or {"n": name})})


def executor(clock: Clock) -> tuple[ScheduleExecutor, list[tuple[str, Any]]]:
    invoked: list[tuple[str, Any]] = []

    def invoke(arn: str, payload: bytes) -> str:
        invoked.append((arn, json.loads(payload)))
        return "ok"

    return ScheduleExecutor(ACCOUNT_ID, REGION, invoke, clock=clock), invoked


def names(scheduler: Any) -> list[str]:
    return sorted(item["Name"] for item in scheduler.list_schedules()["Schedules"])


def wait_invoked(invoked: list[tuple[str, Any]], count: int) -> None:
    deadline = time.monotonic() + 10
    while len(invoked) < count and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_due_one_time_schedule_invokes_its_target_once_then_is_deleted(
    scheduler: Any
) -> None:
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
        Name="kept", ScheduleExpression=at_expression(clock.now + 60),
        FlexibleTimeWindow={"Mode": "OFF"}, Target={"Arn": TARGET, "RoleArn": ROLE})
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
