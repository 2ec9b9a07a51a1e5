"""Crash-safety at every step: a run killed right before or right after each of its mutating
AWS calls is restored exactly by `gameday rollback --all` in a new process.

Every fault kind and mode is a scenario: lambda-extension on a function's $LATEST and on an
alias (all of its traffic, or a weighted share), az-loss pin of a Lambda function (VPC), an
ECS service, an Auto Scaling group, an ALB and an NLB with Elastic IPs, and az-loss
blackhole of all five. A run here is what `gameday run --journal s3://...` changes, in its
order (its journal in S3, the janitor's one-time schedule, the layer, the faults' steps),
made by the real toolkit code against a moto server on 127.0.0.1.

The crash points are not written down: at collection, each scenario is applied once cleanly
(in-process moto) and every mutating call it makes becomes two cases, a crash right before
it and one right after it. A step added to the code is a new case by itself.

A crash is the death of the process (`Crash`, a BaseException raised from a botocore hook:
no `except Exception`, no restore in that process, and every later call of the run dies
too). Then `python -m chaos rollback --all --journal s3://...` runs in a subprocess against
the same server, and the complete state (configurations, tags, versions, aliases, placement,
capacity per AZ, network ACLs and associations, schedules) must be the state before the run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from chaos.journal import JournalLocation, S3JournalStore, new_run_id
from tests.integration.crash_support import (
    ALB,
    ALIAS,
    ALIASED_FUNCTION,
    ALL_PARTS,
    AUTOSCALING_GROUP,
    ECS_SERVICE,
    JOURNAL_URI,
    LOST_AZ,
    NLB,
    PLAIN_FUNCTION,
    REGION,
    AwsCallHooks,
    Crash,
    CrashPoint,
    FakeAws,
    World,
    WorldPart,
    crash_points,
    hooked_toolkit,
    run_faults,
    state_differences,
    world_of,
    world_state,
)

#: Dummy credentials, no profile, and moto without its thousands of default AMIs (a reset
#: then takes milliseconds; the ASG's launch template needs none).
FAKE_AWS_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION,
                "MOTO_EC2_LOAD_DEFAULT_AMIS": "false"}
ROLLBACK_TIMEOUT_S = 120


@dataclass(frozen=True)
class Scenario:
    """One fault kind and mode, on the fixtures it needs."""

    name: str
    faults: tuple[Mapping[str, Any], ...]
    parts: frozenset[WorldPart]


def extension(functions: list[str], weight: float | None = None) -> Mapping[str, Any]:
    fault: dict[str, Any] = {"type": "lambda-extension", "functions": functions,
                             "latency": {"ms": 200}, "error": {"status_code": 503, "rate": 0.1}}
    return fault if weight is None else {**fault, "weight": weight}


def az_loss(mode: str, targets: Mapping[str, list[str]]) -> Mapping[str, Any]:
    return {"type": "az-loss", "az_id": LOST_AZ, "mode": mode, "targets": dict(targets),
            "converge_timeout": "30s"}


EVERY_TARGET = {"lambda": [PLAIN_FUNCTION], "ecs_services": [ECS_SERVICE],
                "autoscaling_groups": [AUTOSCALING_GROUP], "load_balancers": [ALB, NLB]}
SCENARIOS = [
    Scenario("lambda-extension", (extension([PLAIN_FUNCTION]),),
             frozenset({"plain-function"})),
    Scenario("lambda-extension-alias", (extension([f"{ALIASED_FUNCTION}:{ALIAS}"]),),
             frozenset({"aliased-function"})),
    Scenario("lambda-extension-alias-weighted",
             (extension([f"{ALIASED_FUNCTION}:{ALIAS}"], weight=0.25),),
             frozenset({"aliased-function"})),
    Scenario("az-loss-pin-lambda", (az_loss("pin", {"lambda": [PLAIN_FUNCTION]}),),
             frozenset({"plain-function"})),
    Scenario("az-loss-pin-ecs", (az_loss("pin", {"ecs_services": [ECS_SERVICE]}),),
             frozenset({"ecs"})),
    Scenario("az-loss-pin-asg", (az_loss("pin", {"autoscaling_groups": [AUTOSCALING_GROUP]}),),
             frozenset({"asg"})),
    Scenario("az-loss-pin-alb", (az_loss("pin", {"load_balancers": [ALB]}),),
             frozenset({"alb"})),
    Scenario("az-loss-pin-nlb", (az_loss("pin", {"load_balancers": [NLB]}),),
             frozenset({"nlb"})),
    Scenario("az-loss-blackhole", (az_loss("blackhole", EVERY_TARGET),),
             ALL_PARTS - {"aliased-function"}),
]


# -- the crash points, from a clean apply of each scenario ------------------------------------

_RECORDED: dict[str, list[CrashPoint]] = {}


def recorded_crash_points() -> dict[str, list[CrashPoint]]:
    """Each scenario's crash points, from its mutating calls in a clean apply (in-process
    moto, once per session)."""
    if _RECORDED:
        return _RECORDED
    environment = {key: value for key, value in os.environ.items()
                   if key not in ("AWS_ENDPOINT_URL", "AWS_PROFILE")}
    with tempfile.TemporaryDirectory() as home, \
            mock.patch.dict(os.environ, {**environment, **FAKE_AWS_ENV}, clear=True), \
            mock_aws(), hooked_toolkit() as hooks:
        aws = FakeAws()
        for scenario in SCENARIOS:
            with world_of(aws, scenario.parts, hooks):
                with hooks.run():
                    run_faults(aws.toolkit_clients(), Path(home), new_run_id(scenario.name),
                               scenario.faults)
                _RECORDED[scenario.name] = crash_points(hooks.calls)
    return _RECORDED


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "crash_case" not in metafunc.fixturenames:
        return
    points = recorded_crash_points()
    cases = [(scenario, point) for scenario in SCENARIOS for point in points[scenario.name]]
    metafunc.parametrize("crash_case", cases,
                         ids=[f"{scenario.name}:{point}" for scenario, point in cases])


# -- the fake AWS: one moto server for the module, reset per case ---------------------------


@pytest.fixture(scope="module")
def hooks() -> Iterator[AwsCallHooks]:
    with mock.patch.dict(os.environ, FAKE_AWS_ENV), hooked_toolkit() as installed:
        yield installed


@pytest.fixture(scope="module")
def moto_server(hooks: AwsCallHooks) -> Iterator[FakeAws]:
    """One moto server on 127.0.0.1 for every case (its backends live in this process: the
    sandbox's ECS / ASG schedulers and the NLB mappings act on its requests too)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield FakeAws(endpoint_url=f"http://{host}:{port}")
    finally:
        server.stop()


def rollback_in_a_new_process(aws: FakeAws, home: Path) -> subprocess.CompletedProcess[str]:
    """`gameday rollback --all` as a user types it after the runner died: the local journals
    under GAMEDAY_HOME and those in S3, against the same fake AWS."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith(("AWS_", "GAMEDAY_"))}
    environment.update(FAKE_AWS_ENV, AWS_ENDPOINT_URL=str(aws.endpoint_url),
                       GAMEDAY_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "chaos", "rollback", "--all", "--journal", JOURNAL_URI],
        env=environment, cwd=home, capture_output=True, text=True, timeout=ROLLBACK_TIMEOUT_S,
        check=False)


def final_journal(aws: FakeAws, run_id: str) -> dict[str, Any]:
    store = S3JournalStore(aws.client("s3"), JournalLocation.parse(JOURNAL_URI))
    latest = store.latest(run_id)
    assert latest is not None, f"no journal of {run_id} in S3"
    return latest[1]


def assert_restored_exactly(aws: FakeAws, world: World, before: Mapping[Any, Any], run_id: str,
                            rollback: subprocess.CompletedProcess[str]) -> None:
    output = f"{rollback.stdout}{rollback.stderr}"
    assert rollback.returncode == 0, output
    assert f"run {run_id}: restored " in rollback.stdout and ", failed 0" in rollback.stdout, \
        output
    differences = state_differences(dict(before), world_state(aws, world))
    assert not differences, "\n".join(["left behind:", *differences, output])
    journal = final_journal(aws, run_id)
    assert journal["status"] == "rolled_back" and journal["finished_by"] == "rollback"
    statuses = {entry["target"]: entry["status"] for entry in journal["entries"]}
    assert set(statuses.values()) <= {"restored"}, statuses


def test_a_run_killed_at_this_step_is_restored_exactly_by_rollback_in_a_new_process(
    crash_case: tuple[Scenario, CrashPoint], moto_server: FakeAws, hooks: AwsCallHooks,
    tmp_path: Path,
) -> None:
    scenario, point = crash_case
    run_id = new_run_id(scenario.name)
    with world_of(moto_server, scenario.parts, hooks) as world:
        before = world_state(moto_server, world)
        with hooks.run(crash=point), pytest.raises(Crash):
            run_faults(moto_server.toolkit_clients(), tmp_path, run_id, scenario.faults)
        assert hooks.crashed_at is not None and str(point.call) in hooks.crashed_at
        rollback = rollback_in_a_new_process(moto_server, tmp_path)
        assert_restored_exactly(moto_server, world, before, run_id, rollback)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[scenario.name for scenario in SCENARIOS])
def test_a_run_killed_after_its_last_step_is_restored_exactly_too(
    scenario: Scenario, moto_server: FakeAws, hooks: AwsCallHooks, tmp_path: Path
) -> None:
    """The row without a crash point: every change made and journaled `applied`, then the
    process is gone."""
    run_id = new_run_id(scenario.name)
    with world_of(moto_server, scenario.parts, hooks) as world:
        before = world_state(moto_server, world)
        with hooks.run():
            run_faults(moto_server.toolkit_clients(), tmp_path, run_id, scenario.faults)
        assert state_differences(before, world_state(moto_server, world)), "the run changed"
        assert [str(call) for call in hooks.calls] == [
            str(point.call) for point in recorded_crash_points()[scenario.name]
            if point.moment == "before"], "the same calls as the clean apply at collection"
        rollback = rollback_in_a_new_process(moto_server, tmp_path)
        assert_restored_exactly(moto_server, world, before, run_id, rollback)


def test_every_fault_kind_mode_and_target_kind_is_in_the_matrix() -> None:
    points = recorded_crash_points()
    calls = {str(point.call) for scenario_points in points.values() for point in scenario_points}
    for expected in (
        "scheduler.CreateSchedule(janitor-schedule)", "lambda.PublishLayerVersion(gameday-chaos)",
        f"lambda.UpdateFunctionConfiguration({PLAIN_FUNCTION})",
        f"lambda.PublishVersion({ALIASED_FUNCTION})",
        f"lambda.UpdateAlias({ALIASED_FUNCTION}:{ALIAS})", f"ecs.UpdateService({ECS_SERVICE})",
        f"autoscaling.UpdateAutoScalingGroup({AUTOSCALING_GROUP})",
        f"elbv2.SetSubnets({ALB})", f"elbv2.SetSubnets({NLB})", "ec2.CreateNetworkAcl(vpc)",
        f"ec2.ReplaceNetworkAclAssociation(association-app-{LOST_AZ})",
        f"ec2.ReplaceNetworkAclAssociation(association-public-{LOST_AZ})",
    ):
        assert expected in calls, sorted(calls)
    for name, scenario_points in points.items():
        assert str(scenario_points[0]) == "before-scheduler.CreateSchedule(janitor-schedule)", \
            f"{name}: the janitor's schedule comes before the first change"
