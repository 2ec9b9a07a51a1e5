"""Crash-safety at every step: a run killed right before or right after each of its mutating
AWS calls, in its apply or in its own restore, is restored exactly by `gameday rollback --all`
in a new process; and a rollback killed mid-way, run again, restores exactly too.

Every fault kind and mode is a scenario: lambda-extension on a function's $LATEST and on an
alias (all of its traffic, or a weighted share), az-loss pin of a Lambda function (VPC), an
ECS service, an Auto Scaling group, an ALB and an NLB with Elastic IPs, and az-loss
blackhole of all five. A run here is what `gameday run --journal s3://...` changes, in its
order (its journal in S3, the janitor's one-time schedule, the layer, the faults' steps),
then its own restore (the janitor's schedule moved later, each restoring call, the fault
version and the run's network ACL deleted, the schedule deleted last), made by the real
toolkit code against moto in this process.

The crash points are not written down: at collection, each scenario runs once cleanly and
every mutating call it makes becomes two cases, a crash right before it and one right after
it. A step added to the code is a new case by itself. A call's "after" and the next call's
"before" are one case when nothing (no journal write, no other call) happens between them:
the process would be left in exactly the same state. In the restore, the janitor's own steps
(its schedule moved, then deleted) are the same code whatever the fault: they are crashed in
one scenario of each fault kind; the crash right before the restore's first call (every
change made and journaled `applied`, then the process is gone) in every scenario; and a
weighted alias's restore only where it differs from a whole alias's (the alias itself).

A crash is the death of the process (`Crash`, a BaseException raised from a botocore hook:
no `except Exception`, no restore in that process, no journal write after it, and every
later call of the run dies too). Then `python -m chaos rollback --all --journal s3://...`
runs in a subprocess against a moto server on 127.0.0.1 that serves the same backends, and
the complete state (configurations, tags, versions, aliases, placement, capacity per AZ,
network ACLs and associations, schedules) must be the state before the run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from unittest import mock

import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from chaos.journal import JournalLocation, S3JournalStore, new_run_id
from tests.integration.aws_call_hooks import AwsCallHooks, Crash, CrashPoint, crash_points
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
    FakeAws,
    World,
    WorldPart,
    hooked_toolkit,
    restore_as_the_run_does,
    run_faults,
    state_differences,
    world_of,
    world_state,
)

#: Dummy credentials, no profile, and moto without its thousands of default AMIs (a reset
#: then takes milliseconds; the ASG's launch template needs none).
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}
ROLLBACK_TIMEOUT_S = 120
#: The janitor's schedule fires this soon: sooner than the longest the restore may take
#: (converge_timeout + chaos.janitor.arming.RESTORE_SLACK_S), so the run's restore moves it.
EXPIRES_SOON_S = 60.0
REPOSITORY = Path(__file__).resolve().parents[2]

Phase = Literal["apply", "restore"]


@dataclass(frozen=True)
class Scenario:
    """One fault kind and mode, on the fixtures it needs."""

    name: str
    faults: tuple[Mapping[str, Any], ...]
    parts: frozenset[WorldPart]


def extension(functions: list[str], weight: float | None = None) -> Mapping[str, Any]:
    fault: dict[str, Any] = {
        "type": "lambda-extension",
        "functions": functions,
        "latency": {"ms": 200},
        "error": {"status_code": 503, "rate": 0.1},
    }
    return fault if weight is None else {**fault, "weight": weight}


def az_loss(mode: str, targets: Mapping[str, list[str]]) -> Mapping[str, Any]:
    return {
        "type": "az-loss",
        "az_id": LOST_AZ,
        "mode": mode,
        "targets": dict(targets),
        "converge_timeout": "30s",
    }


EVERY_TARGET = {
    "lambda": [PLAIN_FUNCTION],
    "ecs_services": [ECS_SERVICE],
    "autoscaling_groups": [AUTOSCALING_GROUP],
    "load_balancers": [ALB, NLB],
}
SCENARIOS = [
    Scenario("lambda-extension", (extension([PLAIN_FUNCTION]),), frozenset({"plain-function"})),
    Scenario(
        "lambda-extension-alias",
        (extension([f"{ALIASED_FUNCTION}:{ALIAS}"]),),
        frozenset({"aliased-function"}),
    ),
    Scenario(
        "lambda-extension-alias-weighted",
        (extension([f"{ALIASED_FUNCTION}:{ALIAS}"], weight=0.25),),
        frozenset({"aliased-function"}),
    ),
    Scenario(
        "az-loss-pin-lambda",
        (az_loss("pin", {"lambda": [PLAIN_FUNCTION]}),),
        frozenset({"plain-function"}),
    ),
    Scenario(
        "az-loss-pin-ecs", (az_loss("pin", {"ecs_services": [ECS_SERVICE]}),), frozenset({"ecs"})
    ),
    Scenario(
        "az-loss-pin-asg",
        (az_loss("pin", {"autoscaling_groups": [AUTOSCALING_GROUP]}),),
        frozenset({"asg"}),
    ),
    Scenario("az-loss-pin-alb", (az_loss("pin", {"load_balancers": [ALB]}),), frozenset({"alb"})),
    Scenario("az-loss-pin-nlb", (az_loss("pin", {"load_balancers": [NLB]}),), frozenset({"nlb"})),
    Scenario(
        "az-loss-blackhole", (az_loss("blackhole", EVERY_TARGET),), ALL_PARTS - {"aliased-function"}
    ),
]
SCENARIO_NAMED = {scenario.name: scenario for scenario in SCENARIOS}
#: Where the restore's janitor steps (schedule moved, schedule deleted) are crashed: one
#: scenario per fault kind.
JANITOR_STEPS_IN = frozenset({"lambda-extension", "az-loss-blackhole"})
#: Restore steps crashed in a scenario when its others are the same code on the same state as
#: in another scenario: a weighted alias's restore differs from a whole alias's in the alias.
RESTORE_STEPS_ONLY = {"lambda-extension-alias-weighted": frozenset({"UpdateAlias"})}
JANITOR_SERVICE = "scheduler"


def run_then_restore(aws: FakeAws, home: Path, run_id: str, scenario: Scenario) -> None:
    """The run: its apply, then its own restore (as at the end of its fault phase)."""
    journal = run_faults(
        aws.toolkit_clients(), home, run_id, scenario.faults, expires_in_s=EXPIRES_SOON_S
    )
    restore_as_the_run_does(journal, aws.toolkit_clients())


# -- the crash points, from a clean run of each scenario --------------------------------------


@dataclass(frozen=True)
class RecordedRun:
    """A scenario's clean run: its mutating calls in order, how many were the apply's, and
    one crash point per distinct state."""

    calls: list[str]
    apply_calls: int
    points: list[CrashPoint]

    def phase_of(self, point: CrashPoint) -> Phase:
        return "apply" if point.index < self.apply_calls else "restore"


_RECORDED: dict[str, RecordedRun] = {}


def recorded_runs() -> dict[str, RecordedRun]:
    """Each scenario's clean run (in-process moto, once per session)."""
    if _RECORDED:
        return _RECORDED
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("AWS_ENDPOINT_URL", "AWS_PROFILE")
    }
    with (
        tempfile.TemporaryDirectory() as home,
        mock.patch.dict(os.environ, {**environment, **FAKE_AWS_ENV}, clear=True),
        mock_aws(),
        hooked_toolkit(reuse_clients=True) as hooks,
    ):
        aws = FakeAws()
        for scenario in SCENARIOS:
            with world_of(aws, scenario.parts, hooks):
                with hooks.run():
                    journal = run_faults(
                        aws.toolkit_clients(),
                        Path(home),
                        new_run_id(scenario.name),
                        scenario.faults,
                        expires_in_s=EXPIRES_SOON_S,
                    )
                    apply_calls = len(hooks.calls)
                    restore_as_the_run_does(journal, aws.toolkit_clients())
                _RECORDED[scenario.name] = RecordedRun(
                    [str(call) for call in hooks.calls],
                    apply_calls,
                    crash_points(hooks.calls, hooks.trace),
                )
    return _RECORDED


def crashed_here(scenario: Scenario, run: RecordedRun, point: CrashPoint) -> bool:
    """Whether the matrix crashes the run at this point (see the module's docstring)."""
    if run.phase_of(point) == "apply":
        return True
    if point.index == run.apply_calls and point.moment == "before":
        return True  # every change made and journaled `applied`, then the process is gone
    if point.call.service == JANITOR_SERVICE:
        return scenario.name in JANITOR_STEPS_IN
    only = RESTORE_STEPS_ONLY.get(scenario.name)
    return only is None or point.call.operation in only


def crash_cases() -> list[tuple[Scenario, CrashPoint]]:
    runs = recorded_runs()
    return [
        (scenario, point)
        for scenario in SCENARIOS
        for point in runs[scenario.name].points
        if crashed_here(scenario, runs[scenario.name], point)
    ]


def case_id(scenario: Scenario, point: CrashPoint) -> str:
    return f"{scenario.name}:{recorded_runs()[scenario.name].phase_of(point)}:{point}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "crash_case" not in metafunc.fixturenames:
        return
    cases = crash_cases()
    metafunc.parametrize("crash_case", cases, ids=[case_id(*case) for case in cases])


# -- the fake AWS: moto in this process, and a server on its backends for the rollback ---------


@dataclass(frozen=True)
class SharedMoto:
    """One set of moto backends, reached two ways: in this process (the world, the run, the
    state read back) and over HTTP on 127.0.0.1 (the rollback's new process)."""

    here: FakeAws
    server: FakeAws


@pytest.fixture(scope="module")
def hooks() -> Iterator[AwsCallHooks]:
    with mock.patch.dict(os.environ, FAKE_AWS_ENV), hooked_toolkit(reuse_clients=True) as installed:
        yield installed


@pytest.fixture(scope="module")
def moto(hooks: AwsCallHooks) -> Iterator[SharedMoto]:
    """moto in this process for every case, and a moto server on 127.0.0.1 that serves the
    same backends ("the ThreadedMotoServer and the decorators act on the same state", moto's
    server mode documentation): the sandbox's ECS / ASG schedulers and the NLB mappings act
    on the rollback's requests too."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("AWS_ENDPOINT_URL", "AWS_PROFILE")
    }
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    with mock.patch.dict(os.environ, environment, clear=True), mock_aws():
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield SharedMoto(here=FakeAws(), server=FakeAws(endpoint_url=f"http://{host}:{port}"))
        finally:
            server.stop()


def rollback_environment(moto: SharedMoto, home: Path) -> dict[str, str]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "GAMEDAY_"))
    }
    environment.update(
        FAKE_AWS_ENV, AWS_ENDPOINT_URL=str(moto.server.endpoint_url), GAMEDAY_HOME=str(home)
    )
    return environment


def rollback_in_a_new_process(moto: SharedMoto, home: Path) -> subprocess.CompletedProcess[str]:
    """`gameday rollback --all` as a user types it after the runner died: the local journals
    under GAMEDAY_HOME and those in S3, against the same fake AWS."""
    return subprocess.run(
        [sys.executable, "-m", "chaos", "rollback", "--all", "--journal", JOURNAL_URI],
        env=rollback_environment(moto, home),
        cwd=home,
        capture_output=True,
        text=True,
        timeout=ROLLBACK_TIMEOUT_S,
        check=False,
    )


def final_journal(aws: FakeAws, run_id: str) -> dict[str, Any]:
    store = S3JournalStore(aws.client("s3"), JournalLocation.parse(JOURNAL_URI))
    latest = store.latest(run_id)
    assert latest is not None, f"no journal of {run_id} in S3"
    return latest[1]


def assert_restored_exactly(
    aws: FakeAws,
    world: World,
    before: Mapping[Any, Any],
    run_id: str,
    rollback: subprocess.CompletedProcess[str],
    never_locked_allowed: bool = False,
) -> None:
    """The state before the run, every entry restored; with `never_locked_allowed` (a run
    killed in its apply), an entry may also be `refused` for the one reason a real run
    leaves: its resource never got the run's lock (the run locks before it changes)."""
    output = f"{rollback.stdout}{rollback.stderr}"
    assert rollback.returncode == 0, output
    assert f"run {run_id}: restored " in rollback.stdout and ", failed 0" in rollback.stdout, output
    differences = state_differences(dict(before), world_state(aws, world))
    assert not differences, "\n".join(["left behind:", *differences, output])
    journal = final_journal(aws, run_id)
    assert journal["status"] == "rolled_back" and journal["finished_by"] == "rollback"
    statuses = {entry["target"]: entry["status"] for entry in journal["entries"]}
    assert set(statuses.values()) <= {"restored", "refused"}, statuses
    refused = [entry for entry in journal["entries"] if entry["status"] == "refused"]
    assert not refused or never_locked_allowed, refused
    assert all("does not carry this run's lock" in entry["detail"] for entry in refused), refused


def test_a_run_killed_at_this_step_is_restored_exactly_by_rollback_in_a_new_process(
    crash_case: tuple[Scenario, CrashPoint],
    moto: SharedMoto,
    hooks: AwsCallHooks,
    tmp_path: Path,
) -> None:
    scenario, point = crash_case
    recorded = recorded_runs()[scenario.name]
    run_id = new_run_id(scenario.name)
    with world_of(moto.here, scenario.parts, hooks) as world:
        before = world_state(moto.here, world)
        with hooks.run(crash=point), pytest.raises(Crash):
            run_then_restore(moto.here, tmp_path, run_id, scenario)
        assert hooks.crashed_at is not None and str(point.call) in hooks.crashed_at
        made = [str(call) for call in hooks.calls[: point.index + 1]]
        assert made == recorded.calls[: point.index + 1], "the clean run's steps, up to the crash"
        rollback = rollback_in_a_new_process(moto, tmp_path)
        assert_restored_exactly(
            moto.here,
            world,
            before,
            run_id,
            rollback,
            never_locked_allowed=recorded.phase_of(point) == "apply",
        )


def test_every_fault_kind_mode_and_target_kind_is_in_the_matrix() -> None:
    runs = recorded_runs()
    cases = crash_cases()
    crashed: dict[Phase, set[str]] = {"apply": set(), "restore": set()}
    for scenario, point in cases:
        crashed[runs[scenario.name].phase_of(point)].add(str(point.call).split("#")[0])
    for expected in (
        "scheduler.CreateSchedule(janitor-schedule)",
        "lambda.PublishLayerVersion(gameday-chaos)",
        f"lambda.UpdateFunctionConfiguration({PLAIN_FUNCTION})",
        f"lambda.PublishVersion({ALIASED_FUNCTION})",
        f"lambda.UpdateAlias({ALIASED_FUNCTION}:{ALIAS})",
        f"ecs.UpdateService({ECS_SERVICE})",
        f"autoscaling.UpdateAutoScalingGroup({AUTOSCALING_GROUP})",
        f"elbv2.SetSubnets({ALB})",
        f"elbv2.SetSubnets({NLB})",
        "ec2.CreateNetworkAcl(vpc)",
        f"ec2.ReplaceNetworkAclAssociation(association-app-{LOST_AZ})",
        f"ec2.ReplaceNetworkAclAssociation(association-public-{LOST_AZ})",
    ):
        assert expected in crashed["apply"], sorted(crashed["apply"])
    for expected in (
        "scheduler.UpdateSchedule(janitor-schedule)",
        f"lambda.UpdateFunctionConfiguration({PLAIN_FUNCTION})",
        f"lambda.UntagResource({PLAIN_FUNCTION})",
        f"lambda.UpdateAlias({ALIASED_FUNCTION}:{ALIAS})",
        f"lambda.DeleteFunction({ALIASED_FUNCTION})",  # the fault version
        f"ecs.UpdateService({ECS_SERVICE})",
        f"ecs.UntagResource({ECS_SERVICE})",
        f"autoscaling.UpdateAutoScalingGroup({AUTOSCALING_GROUP})",
        f"autoscaling.DeleteTags({AUTOSCALING_GROUP})",
        f"elbv2.SetSubnets({ALB})",
        f"elbv2.SetSubnets({NLB})",
        f"elbv2.RemoveTags({NLB})",
        f"ec2.ReplaceNetworkAclAssociation(association-app-{LOST_AZ})",
        f"ec2.ReplaceNetworkAclAssociation(association-public-{LOST_AZ})",
        f"ec2.DeleteTags(app-{LOST_AZ})",
        "ec2.DeleteNetworkAcl(run-acl)",
        "scheduler.DeleteSchedule(janitor-schedule)",
    ):
        assert expected in crashed["restore"], sorted(crashed["restore"])
    for name, run in runs.items():
        assert str(run.points[0]) == "before-scheduler.CreateSchedule(janitor-schedule)", (
            f"{name}: the janitor's schedule comes before the first change"
        )
        restore = [point for point in run.points if run.phase_of(point) == "restore"]
        assert str(restore[0]).startswith("before-scheduler.UpdateSchedule"), (
            f"{name}: the run's restore first moves the janitor's schedule later"
        )
        assert str(restore[-1]).startswith("after-scheduler.DeleteSchedule"), (
            f"{name}: the janitor's schedule is deleted last"
        )
        assert (SCENARIO_NAMED[name], restore[0]) in cases, (
            f"{name}: killed with every change made and journaled `applied`"
        )
        for point in run.points:
            if point.same_as is not None:
                assert point.same_as.index == point.index + 1, point


# -- a rollback killed mid-way, run again ------------------------------------------------------

#: (scenario, moment, index of the rollback's mutating call) where `gameday rollback` is
#: killed, after a run that made and journaled every change: part of the run restored and
#: journaled, part not, one change made and not journaled.
INTERRUPTED_ROLLBACKS: list[tuple[str, Literal["before", "after"], int]] = [
    ("lambda-extension-alias", "after", 1),  # alias back, fault version deleted; $LATEST not
    ("az-loss-pin-ecs", "after", 0),  # the service's subnets back, its lock tag not removed
    ("az-loss-blackhole", "after", 2),  # one subnet back, the other's association: tag left
]


def rollback_killed_at(
    moto: SharedMoto, home: Path, moment: str, index: int
) -> subprocess.CompletedProcess[str]:
    """`gameday rollback --all` in a new process that is SIGKILLed (by itself) right before
    or after its `index`-th mutating call."""
    environment = rollback_environment(moto, home)
    environment["PYTHONPATH"] = str(REPOSITORY)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.integration.killed_rollback",
            moment,
            str(index),
            "--",
            "rollback",
            "--all",
            "--journal",
            JOURNAL_URI,
        ],
        env=environment,
        cwd=home,
        capture_output=True,
        text=True,
        timeout=ROLLBACK_TIMEOUT_S,
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "moment", "index"),
    INTERRUPTED_ROLLBACKS,
    ids=[f"{name}:{moment}-{index}" for name, moment, index in INTERRUPTED_ROLLBACKS],
)
def test_a_rollback_killed_mid_way_then_run_again_restores_exactly_and_once(
    name: str,
    moment: Literal["before", "after"],
    index: int,
    moto: SharedMoto,
    hooks: AwsCallHooks,
    tmp_path: Path,
) -> None:
    scenario = SCENARIO_NAMED[name]
    run_id = new_run_id(scenario.name)
    with world_of(moto.here, scenario.parts, hooks) as world:
        before = world_state(moto.here, world)
        with hooks.run():  # every change made and journaled `applied`; then the run is gone
            run_faults(moto.here.toolkit_clients(), tmp_path, run_id, scenario.faults)
        applied = world_state(moto.here, world)

        killed = rollback_killed_at(moto, tmp_path, moment, index)
        output = f"{killed.stdout}{killed.stderr}"
        assert killed.returncode == -signal.SIGKILL, output
        assert f"killed {moment} " in killed.stderr and f"(call {index})" in killed.stderr, output
        midway = world_state(moto.here, world)
        assert state_differences(before, midway), f"the killed rollback restored all\n{output}"
        assert state_differences(applied, midway), f"the killed rollback restored nothing\n{output}"
        assert final_journal(moto.here, run_id)["status"] == "running", "not finished"

        rollback = rollback_in_a_new_process(moto, tmp_path)
        assert_restored_exactly(moto.here, world, before, run_id, rollback)

        again = rollback_in_a_new_process(moto, tmp_path)
        assert again.returncode == 0, f"{again.stdout}{again.stderr}"
        assert again.stdout.strip() == "nothing to roll back", again.stdout
        assert not state_differences(before, world_state(moto.here, world))
