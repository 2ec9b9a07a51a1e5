"""az-loss on moto: pin each target kind, blackhole with NACLs, drift, restore from the journal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from moto.moto_api import state_manager

from chaos.aws import AwsClients, workloads
from chaos.errors import PreflightRefused
from chaos.faults import AzLossFault, FaultContext
from chaos.faults.az_loss.spec import AzLossSpec
from chaos.journal import Journal
from chaos.run.restore import restore_journal
from chaos.sandbox.capacity.placement import PlacementController
from chaos.sandbox.realism import Realism
from tests.integration.conftest import ACCOUNT_ID, REGION, create_function

LOST = "use1-az1"
# Deliberately not sorted: restore must give back this exact order.
ORDER = ("use1-az3", "use1-az1", "use1-az2")
LOCK = "gameday:run-id"


@cache
def aws_clients() -> AwsClients:
    """Clients shared by the tests: moto intercepts them whenever a mock is active."""
    return AwsClients(region=REGION)


def client(service: str) -> Any:
    return aws_clients().client(service)


@dataclass
class World:
    vpc_id: str
    subnet_by_az: dict[str, str]
    security_group_id: str

    def subnets(self, *az_ids: str) -> list[str]:
        return [self.subnet_by_az[az_id] for az_id in az_ids]


def build_world() -> World:
    ec2 = client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnet_by_az = {}
    for index, az_id in enumerate(("use1-az1", "use1-az2", "use1-az3")):
        subnet_id = ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"10.40.{index}.0/24", AvailabilityZoneId=az_id
        )["Subnet"]["SubnetId"]
        ec2.create_tags(Resources=[subnet_id], Tags=[{"Key": "Name", "Value": f"app-{az_id}"}])
        subnet_by_az[az_id] = subnet_id
    group = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc_id)
    return World(vpc_id, subnet_by_az, group["GroupId"])


def create_target(
    world: World, kind: str, name: str, subnet_ids: list[str], tags: dict[str, str] | None = None
) -> str:
    """Create a workload of `kind` placed in `subnet_ids`; returns its target reference."""
    tags = tags or {}
    if kind == "lambda":
        create_function(
            name,
            VpcConfig={"SubnetIds": subnet_ids, "SecurityGroupIds": [world.security_group_id]},
            Tags=tags,
        )
        return name
    if kind == "ecs":
        ecs = client("ecs")
        ecs.create_cluster(clusterName="shop")
        ecs.register_task_definition(
            family=name,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="256",
            memory="512",
            containerDefinitions=[{"name": "web", "image": "web:1", "memory": 128}],
        )
        ecs.create_service(
            cluster="shop",
            serviceName=name,
            taskDefinition=name,
            desiredCount=2,
            launchType="FARGATE",
            tags=[{"key": key, "value": value} for key, value in tags.items()],
            networkConfiguration={
                "awsvpcConfiguration": {
                    "subnets": subnet_ids,
                    "securityGroups": [world.security_group_id],
                    "assignPublicIp": "DISABLED",
                }
            },
        )
        return f"shop/{name}"
    if kind == "asg":
        client("ec2").create_launch_template(
            LaunchTemplateName=f"{name}-lt",
            LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
        )
        client("autoscaling").create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateName": f"{name}-lt"},
            MinSize=0,
            MaxSize=3,
            DesiredCapacity=0,
            VPCZoneIdentifier=",".join(subnet_ids),
            Tags=[
                {
                    "Key": key,
                    "Value": value,
                    "PropagateAtLaunch": False,
                    "ResourceId": name,
                    "ResourceType": "auto-scaling-group",
                }
                for key, value in tags.items()
            ],
        )
        return name
    assert kind == "elb"
    arguments: dict[str, Any] = {"Name": name, "Subnets": subnet_ids, "Type": "application"}
    if tags:
        arguments["Tags"] = [{"Key": key, "Value": value} for key, value in tags.items()]
    client("elbv2").create_load_balancer(**arguments)
    return name


def placement_of(kind: str, ref: str) -> tuple[list[str], dict[str, str]]:
    """Current subnets (in the service's order) and tags of a workload, read through boto3."""
    workload = workloads.placement_for(kind).get(aws_clients(), ref)
    assert workload is not None
    return workload.subnet_ids, workload.tags


TARGET_FIELD = {
    "lambda": "lambda",
    "ecs": "ecs_services",
    "asg": "autoscaling_groups",
    "elb": "load_balancers",
}


def spec(targets: dict[str, Any], mode: str = "pin", az_id: str = LOST) -> AzLossSpec:
    return AzLossSpec.model_validate(
        {"type": "az-loss", "az_id": az_id, "mode": mode, "targets": targets}
    )


def new_journal(tmp_path: Path, run_id: str) -> Journal:
    return Journal.create(
        tmp_path / run_id,
        run_id=run_id,
        experiment_name="az",
        experiment_path="az.yaml",
        region=REGION,
        endpoint_url=None,
        profile=None,
        account_id=ACCOUNT_ID,
    )


def inject(
    tmp_path: Path, fault_spec: AzLossSpec, run_id: str = "run-1"
) -> tuple[Journal, list[Any]]:
    fault = AzLossFault(fault_spec, FaultContext(aws_clients(), run_id, time.time() + 600))
    journal = new_journal(tmp_path, run_id)
    changes = fault.plan()
    for change in changes:
        fault.apply(change, journal)
    return journal, changes


@contextmanager
def capacity_follows_subnets() -> Iterator[PlacementController]:
    """ECS tasks and ASG instances placed and moved as AWS does, within the API call.

    moto schedules nothing (a service never runs a task); the sandbox's schedulers do, and
    with fast realism a change of subnets has converged when its API call returns.
    """
    controller = PlacementController.for_sandbox(REGION, ACCOUNT_ID, Realism())
    controller.follow_api_changes()
    try:
        yield controller
    finally:
        state_manager.unset_transition("ecs::task")


@pytest.fixture
def world(aws: None) -> Iterator[World]:
    with capacity_follows_subnets():
        yield build_world()


@pytest.mark.parametrize("kind", ["lambda", "ecs", "asg", "elb"])
def test_pin_removes_exactly_the_lost_az_and_restore_gives_back_the_order(
    world: World, tmp_path: Path, kind: str
) -> None:
    original = world.subnets(*ORDER)
    ref = create_target(world, kind, "web", original)
    journal, _ = inject(tmp_path, spec({TARGET_FIELD[kind]: [ref]}))

    during, tags = placement_of(kind, ref)
    assert during == world.subnets("use1-az3", "use1-az2")
    assert tags.get(LOCK) == "run-1"
    [entry] = journal.entries
    assert entry.status == "applied" and entry.original["subnet_ids"] == original

    report = restore_journal(Journal.load(journal.path or tmp_path), aws_clients())
    assert (report.restored, report.drifted, report.failed) == (1, 0, 0)
    after, tags = placement_of(kind, ref)
    assert after == original
    assert LOCK not in tags

    # Restored, its lock is gone: a second restore of the entry writes nothing.
    again = AzLossFault.restore(entry, aws_clients(), "run-1")
    assert again.status == "refused" and "does not carry this run's lock" in again.detail
    assert placement_of(kind, ref)[0] == original


def test_pin_keeps_a_concurrent_change_and_reports_drift(world: World, tmp_path: Path) -> None:
    create_target(world, "lambda", "orders", world.subnets(*ORDER))
    journal, _ = inject(tmp_path, spec({"lambda": ["orders"]}))
    theirs = world.subnets("use1-az2")
    client("lambda").update_function_configuration(
        FunctionName="orders",
        VpcConfig={"SubnetIds": theirs, "SecurityGroupIds": [world.security_group_id]},
    )

    report = restore_journal(journal, aws_clients())
    assert (report.restored, report.drifted) == (0, 1)
    assert "changed by someone else" in journal.entries[0].detail
    subnets, tags = placement_of("lambda", "orders")
    assert subnets == theirs
    assert LOCK not in tags


def test_tag_selector_picks_every_kind_and_skips_workloads_outside_the_az(
    world: World, tmp_path: Path
) -> None:
    selected = {"app": "shop"}
    create_target(world, "lambda", "api", world.subnets(*ORDER), selected)
    create_target(world, "asg", "workers", world.subnets("use1-az1", "use1-az2"), selected)
    create_target(world, "lambda", "elsewhere", world.subnets("use1-az2", "use1-az3"), selected)
    create_target(world, "lambda", "untagged", world.subnets(*ORDER))

    journal, changes = inject(tmp_path, spec({"tags": selected}))
    by_target = {change.target: change for change in changes}
    assert set(by_target) == {"lambda:api", "asg:workers", "lambda:elsewhere"}
    assert "skipped" in by_target["lambda:elsewhere"].warnings[0]
    assert {entry.target for entry in journal.entries} == {"lambda:api", "asg:workers"}
    assert placement_of("lambda", "untagged")[0] == world.subnets(*ORDER)
    assert placement_of("lambda", "elsewhere")[0] == world.subnets("use1-az2", "use1-az3")
    restore_journal(journal, aws_clients())
    assert placement_of("asg", "workers")[0] == world.subnets("use1-az1", "use1-az2")


def test_load_balancer_left_in_one_az_is_a_warning_not_a_change(
    world: World, tmp_path: Path
) -> None:
    create_target(world, "elb", "edge", world.subnets("use1-az1", "use1-az2"))
    journal, changes = inject(tmp_path, spec({"load_balancers": ["edge"]}))
    [change] = changes
    assert "at least two AZs" in change.warnings[0]
    assert journal.entries == []
    assert placement_of("elb", "edge")[0] == world.subnets("use1-az1", "use1-az2")


def test_a_gateway_load_balancer_is_refused_before_any_change(world: World, tmp_path: Path) -> None:
    """SetSubnets only adds subnets to a Gateway Load Balancer: it cannot be pinned."""
    subnets = world.subnets("use1-az1", "use1-az2", "use1-az3")
    client("elbv2").create_load_balancer(Name="inspect", Subnets=subnets, Type="gateway")
    with pytest.raises(
        PreflightRefused,
        match=r"^elb:inspect: a Gateway Load Balancer's subnets "
        r"can only be added to, never removed \(SetSubnets\)",
    ):
        inject(tmp_path, spec({"load_balancers": ["inspect"]}))
    subnet_ids, tags = placement_of("elb", "inspect")
    assert subnet_ids == subnets and LOCK not in tags


# -- blackhole ------------------------------------------------------------------------


def acl_of(subnet_id: str) -> str:
    acls = client("ec2").describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}]
    )["NetworkAcls"]
    [acl] = acls
    return str(acl["NetworkAclId"])


def run_acls(run_id: str) -> list[dict[str, Any]]:
    return list(
        client("ec2").describe_network_acls(Filters=[{"Name": f"tag:{LOCK}", "Values": [run_id]}])[
            "NetworkAcls"
        ]
    )


def subnet_tags(subnet_id: str) -> dict[str, str]:
    [subnet] = client("ec2").describe_subnets(SubnetIds=[subnet_id])["Subnets"]
    return {tag["Key"]: tag["Value"] for tag in subnet.get("Tags", [])}


def test_blackhole_associates_a_deny_all_acl_and_restore_leaves_none(
    world: World, tmp_path: Path
) -> None:
    create_target(world, "lambda", "orders", world.subnets(*ORDER))
    create_target(world, "asg", "workers", world.subnets("use1-az1", "use1-az2"))
    lost_subnet = world.subnet_by_az[LOST]
    before = {subnet: acl_of(subnet) for subnet in world.subnet_by_az.values()}

    journal, changes = inject(
        tmp_path, spec({"lambda": ["orders"], "autoscaling_groups": ["workers"]}, "blackhole")
    )
    assert [change.target for change in changes] == [f"vpc:{world.vpc_id}"]
    [created] = run_acls("run-1")
    assert acl_of(lost_subnet) == created["NetworkAclId"]
    # A new network ACL denies all traffic: no rule was added, none allows anything.
    assert [entry for entry in created["Entries"] if entry["RuleAction"] == "allow"] == []
    assert subnet_tags(lost_subnet)[LOCK] == "run-1"
    others = [s for s in world.subnet_by_az.values() if s != lost_subnet]
    assert all(acl_of(subnet) == before[subnet] for subnet in others)
    assert placement_of("lambda", "orders")[0] == world.subnets(*ORDER), "blackhole pins nothing"

    report = restore_journal(Journal.load(journal.path or tmp_path), aws_clients())
    assert report.failed == 0 and report.drifted == 0
    assert {subnet: acl_of(subnet) for subnet in world.subnet_by_az.values()} == before
    assert run_acls("run-1") == []
    assert LOCK not in subnet_tags(lost_subnet)


def test_blackhole_restore_after_a_crash_finds_the_acl_by_its_tag(
    world: World, tmp_path: Path
) -> None:
    create_target(world, "lambda", "orders", world.subnets(*ORDER))
    lost_subnet = world.subnet_by_az[LOST]
    before = acl_of(lost_subnet)
    journal, _ = inject(tmp_path, spec({"lambda": ["orders"]}, "blackhole"), run_id="run-9")
    # As if the runner died after creating the ACL but before journaling its ID.
    acl_entry = journal.entries[0]
    acl_entry.intended.pop("network_acl_id")
    journal.save()

    reloaded = Journal.load(journal.path or tmp_path)
    report = restore_journal(reloaded, aws_clients())
    assert report.failed == 0
    assert acl_of(lost_subnet) == before
    assert run_acls("run-9") == []
    assert restore_journal(reloaded, aws_clients()).failed == 0, "a second rollback is a no-op"
