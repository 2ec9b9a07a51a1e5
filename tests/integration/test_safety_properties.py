"""Safety properties of apply + restore, over random experiments, crashes, foreign edits and
AWS throttling (hypothesis, in-process moto).

Each example draws an experiment (lambda-extension on a function, an alias with or without a
weight, or both; az-loss pin or blackhole of any of the five target kinds, in any AZ ID; or
one of each), a crash point (right before or after the n-th mutating call of the run, or
none), the concurrent edits someone else makes between the apply and the restore (an
environment variable added or changed, a layer attached, an alias rolled forward, tags
changed, a function's, service's, group's or load balancer's subnets moved, another network
ACL associated, a schedule of their own) and a share of the calls AWS answers with
ThrottlingException / TooManyRequestsException / RequestLimitExceeded / Throttling /
SlowDown, or, for Lambda function updates, ResourceConflictException: the toolkit's backoff
(its own and botocore's, sleeps patched to zero) must absorb them, on apply and on restore.
The apply runs one change at a time (a crash point replays exactly) or eight in parallel.

The run is what `gameday run --journal s3://...` changes (journal in S3, the janitor's
schedule, the faults); the restore is `gameday rollback --all`'s (rollback_unfinished,
in-process, from the journals alone). Then:

- every journal entry ends `restored` or `drifted` (never left needing a restore), and
  `drifted` only when someone else changed something;
- the state is the state before the run with exactly the foreign edits (each kept as made);
- no resource is left with the run's layer, environment keys, subnet change, network ACL,
  fault version, alias routing, janitor schedule or lock tag.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from gameday_chaos import config as extension_config
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from moto import mock_aws

from chaos.faults.lambda_extension.layer_versions import LAYER_NAME
from chaos.janitor.timer import schedule_name
from chaos.journal import JournalLocation, S3JournalStore
from chaos.run.apply import APPLY_CONCURRENCY_ENV
from chaos.run.restore import rollback_unfinished
from tests.integration.crash_support import (
    ALB,
    ALIAS,
    ALIASED_FUNCTION,
    ALL_PARTS,
    ANY,
    AUTOSCALING_GROUP,
    AZ_IDS,
    ECS_CLUSTER,
    ECS_SERVICE,
    JOURNAL_URI,
    LOCK,
    LOST_AZ,
    NLB,
    ORDER,
    PLAIN_FUNCTION,
    REGION,
    THEIR_LAYER,
    THEIR_OTHER_LAYER,
    AwsCallHooks,
    Crash,
    CrashAtIndex,
    FakeAws,
    State,
    Throttling,
    World,
    hooked_toolkit,
    network_state,
    run_faults,
    state_differences,
    world_of,
    world_state,
)

RUN_ID = "20250101T000000Z-safety-properties-0a1b2c"  # every example has a fresh moto
MAX_CALLS = 18  # a run here makes at most this many mutating calls
OUR_ENV_KEYS = (extension_config.EXEC_WRAPPER_ENV_KEY, extension_config.CONFIG_ENV_KEY)
FAKE_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}


# -- experiments --------------------------------------------------------------------------------

TARGETS = {
    "lambda": ("lambda", PLAIN_FUNCTION),
    "ecs": ("ecs_services", ECS_SERVICE),
    "asg": ("autoscaling_groups", AUTOSCALING_GROUP),
    "alb": ("load_balancers", ALB),
    "nlb": ("load_balancers", NLB),
}


@st.composite
def lambda_extension_faults(draw: st.DrawFn) -> dict[str, Any]:
    functions = draw(
        st.sampled_from(
            [
                [PLAIN_FUNCTION],
                [f"{ALIASED_FUNCTION}:{ALIAS}"],
                [PLAIN_FUNCTION, f"{ALIASED_FUNCTION}:{ALIAS}"],
            ]
        )
    )
    fault: dict[str, Any] = {
        "type": "lambda-extension",
        "functions": functions,
        "latency": {"ms": 200},
    }
    if functions == [f"{ALIASED_FUNCTION}:{ALIAS}"]:
        weight = draw(st.sampled_from([None, 0.1, 0.25, 0.5, 0.9]))
        if weight is not None:
            fault["weight"] = weight
    return fault


@st.composite
def az_loss_faults(draw: st.DrawFn) -> dict[str, Any]:
    kinds = draw(st.lists(st.sampled_from(sorted(TARGETS)), min_size=1, max_size=5, unique=True))
    targets: dict[str, list[str]] = {}
    for kind in kinds:
        field, name = TARGETS[kind]
        targets.setdefault(field, []).append(name)
    return {
        "type": "az-loss",
        "az_id": draw(st.sampled_from(AZ_IDS)),
        "mode": draw(st.sampled_from(["pin", "blackhole"])),
        "targets": targets,
        "converge_timeout": "30s",
    }


@st.composite
def experiments(draw: st.DrawFn) -> tuple[dict[str, Any], ...]:
    which = draw(st.sampled_from(["lambda-extension", "az-loss", "both"]))
    faults = []
    if which in ("lambda-extension", "both"):
        faults.append(draw(lambda_extension_faults()))
    if which in ("az-loss", "both"):
        faults.append(draw(az_loss_faults()))
    return tuple(draw(st.permutations(faults)))


# -- someone else's edits, made between the apply and the restore ------------------------------


@dataclass(frozen=True)
class ForeignEdit:
    """A change someone else makes; returns what the state must then hold (kept exactly)."""

    name: str
    make: Callable[[FakeAws, World, str, State], State]

    def __repr__(self) -> str:
        return self.name


def other_az(lost_az: str) -> str:
    return next(az_id for az_id in ORDER if az_id != lost_az)


def update_environment(aws: FakeAws, function: str, changes: Mapping[str, str]) -> None:
    lambda_ = aws.client("lambda")
    current = lambda_.get_function_configuration(FunctionName=function)
    variables = {**((current.get("Environment") or {}).get("Variables") or {}), **changes}
    lambda_.update_function_configuration(
        FunctionName=function, Environment={"Variables": variables}
    )


def env_added(aws: FakeAws, world: World, lost_az: str, before: State) -> State:
    update_environment(aws, PLAIN_FUNCTION, {"FEATURE_FLAG": "on"})
    return {("lambda", PLAIN_FUNCTION, "env", "FEATURE_FLAG"): "on"}


def env_changed(aws: FakeAws, world: World, lost_az: str, before: State) -> State:
    update_environment(aws, PLAIN_FUNCTION, {"TABLE": "orders-v2"})
    return {("lambda", PLAIN_FUNCTION, "env", "TABLE"): "orders-v2"}


def aliased_latest_env_added(aws: FakeAws, world: World, lost_az: str, before: State) -> State:
    update_environment(aws, ALIASED_FUNCTION, {"OWNER": "payments"})
    return {("lambda", ALIASED_FUNCTION, "env", "OWNER"): "payments"}


def layer_attached(aws: FakeAws, world: World, lost_az: str, before: State) -> State:
    lambda_ = aws.client("lambda")
    current = lambda_.get_function_configuration(FunctionName=PLAIN_FUNCTION)
    layers = [layer["Arn"] for layer in current.get("Layers") or []]
    lambda_.update_function_configuration(
        FunctionName=PLAIN_FUNCTION, Layers=[*layers, world.layers[THEIR_OTHER_LAYER]]
    )
    return {
        ("lambda", PLAIN_FUNCTION, "layers"): [
            world.layers[THEIR_LAYER],
            world.layers[THEIR_OTHER_LAYER],
        ]
    }


def function_retagged(aws: FakeAws, world: World, lost_az: str, before: State) -> State:
    lambda_ = aws.client("lambda")
    arn = lambda_.get_function_configuration(FunctionName=PLAIN_FUNCTION)["FunctionArn"]
    lambda_.tag_resource(Resource=arn, Tags={"team": "platform", "owner": "ops"})
    return {
        ("lambda", PLAIN_FUNCTION, "tag", "team"): "platform",
        ("lambda", PLAIN_FUNCTION, "tag", "owner"): "ops",
    }


def function_subnets_moved(aws: FakeAws, world: World, lost_az: str, before: State) -> State:
    subnet = world.app_subnets[other_az(lost_az)]
    aws.client("lambda").update_function_configuration(
        FunctionName=PLAIN_FUNCTION,
        VpcConfig={
            "SubnetIds": [subnet],
            "SecurityGroupIds": world.security_groups,
            "Ipv6AllowedForDualStack": True,
        },
    )
    key = ("lambda", PLAIN_FUNCTION, "vpc")
    return {key: {**before[key], "SubnetIds": [world.name(subnet)]}}


def alias_rolled_forward(aws: FakeAws, world: World, lost_az: str, before: State) -> State:
    aws.client("lambda").update_alias(
        FunctionName=ALIASED_FUNCTION,
        Name=ALIAS,
        FunctionVersion="2",
        RoutingConfig={"AdditionalVersionWeights": {}},
    )
    key = ("lambda", ALIASED_FUNCTION, "alias", ALIAS)
    return {key: {**before[key], "version": "2", "weights": {}}}


def service_subnets_moved(aws: FakeAws, world: World, lost_az: str, before: State) -> State:
    key = ("ecs", ECS_SERVICE, "network")
    subnet = world.app_subnets[other_az(lost_az)]
    awsvpc = {name: value for name, value in before[key].items() if name != "subnets"}
    aws.client("ecs").update_service(
        cluster=ECS_CLUSTER,
        service=ECS_SERVICE.split("/")[1],
        networkConfiguration={"awsvpcConfiguration": {**awsvpc, "subnets": [subnet]}},
    )
    return {
        key: {**awsvpc, "subnets": [world.name(subnet)]},
        ("ecs", ECS_SERVICE, "running-per-az"): ANY,
    }


def service_retagged(aws: FakeAws, world: World, lost_az: str, before: State) -> State:
    ecs = aws.client("ecs")
    [service] = ecs.describe_services(cluster=ECS_CLUSTER, services=[ECS_SERVICE.split("/")[1]])[
        "services"
    ]
    ecs.tag_resource(resourceArn=service["serviceArn"], tags=[{"key": "team", "value": "web"}])
    return {("ecs", ECS_SERVICE, "tag", "team"): "web"}


def group_subnets_moved(aws: FakeAws, world: World, lost_az: str, before: State) -> State:
    subnet = world.app_subnets[other_az(lost_az)]
    aws.client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName=AUTOSCALING_GROUP, VPCZoneIdentifier=subnet
    )
    return {
        ("asg", AUTOSCALING_GROUP, "subnets"): [world.name(subnet)],
        ("asg", AUTOSCALING_GROUP, "in-service-per-az"): ANY,
    }


def group_retagged(aws: FakeAws, world: World, lost_az: str, before: State) -> State:
    aws.client("autoscaling").create_or_update_tags(
        Tags=[
            {
                "ResourceId": AUTOSCALING_GROUP,
                "ResourceType": "auto-scaling-group",
                "Key": "team",
                "Value": "workers",
                "PropagateAtLaunch": False,
            }
        ]
    )
    return {("asg", AUTOSCALING_GROUP, "tag", "team"): "workers"}


def alb_subnets_moved(aws: FakeAws, world: World, lost_az: str, before: State) -> State:
    """Two AZs (an ALB's minimum), never the set a pin of `lost_az` leaves: theirs."""
    subnets = world.public(lost_az, other_az(lost_az))
    aws.client("elbv2").set_subnets(LoadBalancerArn=world.load_balancers[ALB], Subnets=subnets)
    return {
        ("elb", ALB, "zones"): [
            {"subnet": world.name(subnet), "addresses": []} for subnet in subnets
        ]
    }


def nlb_retagged(aws: FakeAws, world: World, lost_az: str, before: State) -> State:
    aws.client("elbv2").add_tags(
        ResourceArns=[world.load_balancers[NLB]], Tags=[{"Key": "team", "Value": "network"}]
    )
    return {("elb", NLB, "tag", "team"): "network"}


def subnet_retagged(aws: FakeAws, world: World, lost_az: str, before: State) -> State:
    subnet = world.app_subnets[lost_az]
    aws.client("ec2").create_tags(Resources=[subnet], Tags=[{"Key": "cost-center", "Value": "42"}])
    return {("subnet", world.name(subnet), "tag", "cost-center"): "42"}


def their_acl_associated(aws: FakeAws, world: World, lost_az: str, before: State) -> State:
    """Their own network ACL on the lost AZ's app subnet (it may carry ours by now)."""
    ec2, subnet = aws.client("ec2"), world.app_subnets[lost_az]
    acl = ec2.create_network_acl(
        VpcId=world.vpc_id,
        TagSpecifications=[
            {"ResourceType": "network-acl", "Tags": [{"Key": "Name", "Value": "their-acl"}]}
        ],
    )
    [current] = ec2.describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet]}]
    )["NetworkAcls"]
    [association] = [item for item in current["Associations"] if item["SubnetId"] == subnet]
    ec2.replace_network_acl_association(
        AssociationId=association["NetworkAclAssociationId"],
        NetworkAclId=acl["NetworkAcl"]["NetworkAclId"],
    )
    theirs = ("network-acl", "Name=their-acl")
    return {
        ("subnet", world.name(subnet), "network-acl"): theirs[1],
        theirs: network_state(aws, world)[theirs],
    }


def their_schedule_created(aws: FakeAws, world: World, lost_az: str, before: State) -> State:
    aws.client("scheduler").create_schedule(
        Name="nightly-report",
        ScheduleExpression="rate(1 day)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": f"arn:aws:lambda:{REGION}:123456789012:function:report",
            "RoleArn": "arn:aws:iam::123456789012:role/report",
        },
    )
    return {("schedule", "default", "nightly-report"): "ENABLED"}


FOREIGN_EDITS = [
    ForeignEdit(function.__name__.replace("_", "-"), function)
    for function in (
        env_added,
        env_changed,
        aliased_latest_env_added,
        layer_attached,
        function_retagged,
        function_subnets_moved,
        alias_rolled_forward,
        service_subnets_moved,
        service_retagged,
        group_subnets_moved,
        group_retagged,
        alb_subnets_moved,
        nlb_retagged,
        subnet_retagged,
        their_acl_associated,
        their_schedule_created,
    )
]


# -- an example -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SafetyCase:
    faults: tuple[dict[str, Any], ...]
    crash: CrashAtIndex | None
    edits: tuple[ForeignEdit, ...]
    throttle_share: float
    throttle_seed: int
    #: Changes in flight at once. With 1 a drawn crash point is the same call every time
    #: (a failure replays exactly); with more, the apply's thread pool picks the order, as
    #: in a real run (default 64), and a failure may not replay.
    apply_concurrency: int

    @property
    def lost_az(self) -> str:
        return next(
            (str(fault["az_id"]) for fault in self.faults if fault["type"] == "az-loss"), LOST_AZ
        )

    def throttling(self) -> Throttling | None:
        return Throttling(self.throttle_share, self.throttle_seed) if self.throttle_share else None


#: Right before or after the n-th mutating call (small n more often: short runs are common).
crash_points = st.builds(
    CrashAtIndex,
    st.sampled_from(["before", "after"]),
    st.integers(0, MAX_CALLS - 1) | st.integers(0, 7),
)
safety_cases = st.builds(
    SafetyCase,
    faults=experiments(),
    crash=st.one_of(st.none(), crash_points, crash_points),
    edits=st.lists(st.sampled_from(FOREIGN_EDITS), max_size=3, unique=True).map(tuple),
    throttle_share=st.sampled_from([0.0, 0.1, 0.25, 0.5]),
    throttle_seed=st.integers(0, 2**16),
    apply_concurrency=st.sampled_from([1, 1, 1, 8]),
)


@pytest.fixture(scope="module")
def fake_aws() -> Iterator[tuple[FakeAws, AwsCallHooks]]:
    """moto in this process for the whole module; every example resets it."""
    with mock.patch.dict(os.environ, FAKE_AWS_ENV), mock_aws(), hooked_toolkit() as hooks:
        for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            os.environ.pop(key, None)
        yield FakeAws(), hooks


def leftovers(state: State) -> list[str]:
    """Anything of the run's still in place."""
    found = []
    for key, value in state.items():
        where = " ".join(key)
        if key[-2:] == ("tag", LOCK):
            found.append(f"{where}: the run's lock tag")
        if key[0] == "lambda" and key[2] == "env" and key[3] in OUR_ENV_KEYS:
            found.append(f"{where}: the run's environment key")
        if (
            key[0] == "lambda"
            and key[2] == "layers"
            and any(f":layer:{LAYER_NAME}:" in arn for arn in value)
        ):
            found.append(f"{where}: the run's layer")
        if key[0] == "lambda" and key[2] == "versions":
            found += [
                f"{where}: fault version {item['version']}"
                for item in value
                if "gameday fault version" in item["description"]
                or any(f":layer:{LAYER_NAME}:" in arn for arn in item["layers"])
            ]
        if key[0] == "network-acl" and LOCK in value["tags"]:
            found.append(f"{where}: the run's network ACL")
        if key[0] == "schedule" and key[2] == schedule_name(RUN_ID):
            found.append(f"{where}: the run's janitor schedule")
    return found


@pytest.mark.timeout(1200)  # 200 examples of up to a few seconds each on a loaded 2-core runner
@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(case=safety_cases)
def test_a_run_crashed_anywhere_edited_by_others_and_throttled_is_restored_exactly(
    fake_aws: tuple[FakeAws, AwsCallHooks], case: SafetyCase
) -> None:
    aws, hooks = fake_aws
    with (
        tempfile.TemporaryDirectory() as home,
        mock.patch.dict(
            os.environ, {"GAMEDAY_HOME": home, APPLY_CONCURRENCY_ENV: str(case.apply_concurrency)}
        ),
        world_of(aws, ALL_PARTS, hooks) as world,
    ):
        before = world_state(aws, world)
        with hooks.run(crash=case.crash, throttling=case.throttling()) as run:
            try:
                run_faults(aws.toolkit_clients(), Path(home), RUN_ID, case.faults)
            except Crash:
                event(f"crashed {case.crash.moment if case.crash else ''} a mutating call")
            else:
                event("ran to its end (no crash point, or past its last call)")
            throttled = sum(run.throttling.injected.values()) if run.throttling else 0
        note(f"crashed at: {hooks.crashed_at}; calls: {[str(call) for call in hooks.calls]}")
        expected = dict(before)
        for edit in case.edits:
            expected.update(edit.make(aws, world, case.lost_az, before))
        with hooks.run(throttling=case.throttling()) as restore:
            reports = rollback_unfinished(
                remote=S3JournalStore(aws.client("s3"), JournalLocation.parse(JOURNAL_URI))
            )
            throttled += sum(restore.throttling.injected.values()) if restore.throttling else 0
        event("AWS errors injected" if throttled else "no AWS error injected")

        [report] = reports
        note(f"rollback: {report}")
        assert report.failed == 0, report.details
        latest = S3JournalStore(aws.client("s3"), JournalLocation.parse(JOURNAL_URI)).latest(RUN_ID)
        assert latest is not None
        statuses = [entry["status"] for entry in latest[1]["entries"]]
        assert set(statuses) <= {"restored", "drifted", "refused"}, latest[1]["entries"]
        # Refused only where the crash came before the run locked the resource (it locks,
        # then changes): nothing of the run's is on it.
        assert all(
            entry["status"] != "refused"
            or (case.crash is not None and "does not carry this run's lock" in entry["detail"])
            for entry in latest[1]["entries"]
        ), latest[1]["entries"]
        assert "drifted" not in statuses or case.edits, report.details
        if "drifted" in statuses:
            event("some entry drifted")
        after = world_state(aws, world)
        assert not leftovers(after), leftovers(after)
        differences = state_differences(expected, after)
        assert not differences, "\n".join(differences)
