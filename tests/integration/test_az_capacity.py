"""az-loss pin waits for capacity per AZ ID, restores faithfully, refuses what it cannot change.

moto with the sandbox's ECS / Auto Scaling schedulers (capacity follows the subnets within
the API call); a botocore Stubber where moto drops what matters (an NLB's subnet mappings).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.stub import Stubber

from chaos.aws import AwsClients
from chaos.aws import subnets as ec2_subnets
from chaos.cli import main
from chaos.errors import PreflightRefused
from chaos.faults import AzLossFault, FaultContext
from chaos.journal import Journal
from chaos.result.assemble import _fault_effect, fault_entries
from chaos.run.restore import release_locks, restore_journal
from tests.integration.conftest import REGION, create_function
from tests.integration.test_az_cli import az_experiment, refused
from tests.integration.test_az_loss import (
    LOCK,
    LOST,
    ORDER,
    World,
    acl_of,
    aws_clients,
    build_world,
    capacity_follows_subnets,
    client,
    create_target,
    inject,
    new_journal,
    placement_of,
    run_acls,
    spec,
)

EVEN = {"use1-az1": 1, "use1-az2": 1, "use1-az3": 1}


@pytest.fixture
def world(aws: None) -> Iterator[World]:
    with capacity_follows_subnets():
        yield build_world()


def scaled_targets(world: World) -> tuple[str, str]:
    """ECS service shop/web and Auto Scaling group workers, 3 units over the 3 AZ IDs."""
    service = create_target(world, "ecs", "web", world.subnets(*ORDER))
    client("ecs").update_service(cluster="shop", service="web", desiredCount=3)
    create_target(world, "asg", "workers", world.subnets(*ORDER))
    client("autoscaling").update_auto_scaling_group(
        AutoScalingGroupName="workers", DesiredCapacity=3
    )
    return service, "workers"


def per_az_id(world: World, az_names: list[str]) -> dict[str, int]:
    zones = {
        subnet["AvailabilityZone"]: subnet["AvailabilityZoneId"]
        for subnet in client("ec2").describe_subnets(SubnetIds=list(world.subnet_by_az.values()))[
            "Subnets"
        ]
    }
    counts: dict[str, int] = {}
    for name in az_names:
        counts[zones[name]] = counts.get(zones[name], 0) + 1
    return counts


def running_tasks(world: World) -> dict[str, int]:
    ecs = client("ecs")
    arns = ecs.list_tasks(cluster="shop", serviceName="web")["taskArns"]
    tasks = ecs.describe_tasks(cluster="shop", tasks=arns)["tasks"] if arns else []
    return per_az_id(
        world, [task["availabilityZone"] for task in tasks if task["lastStatus"] == "RUNNING"]
    )


def in_service(world: World) -> dict[str, int]:
    [group] = client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=["workers"])[
        "AutoScalingGroups"
    ]
    return per_az_id(
        world,
        [
            item["AvailabilityZone"]
            for item in group["Instances"]
            if item["LifecycleState"] == "InService"
        ],
    )


def test_pin_is_effective_once_capacity_left_the_az_and_restore_once_it_is_back(
    world: World, tmp_path: Path
) -> None:
    service, group = scaled_targets(world)
    assert running_tasks(world) == EVEN and in_service(world) == EVEN

    journal, _ = inject(tmp_path, spec({"ecs_services": [service], "autoscaling_groups": [group]}))

    assert running_tasks(world).get(LOST) is None and in_service(world).get(LOST) is None
    for entry in journal.entries:
        evidence = entry.evidence
        assert evidence["az_id"] == LOST and evidence["converged"] is True
        assert evidence["before"] == EVEN
        assert evidence["during"].get(LOST, 0) == 0 and sum(evidence["during"].values()) == 3
        assert entry.effective_at == evidence["converged_at"]
        assert entry.injected_at is not None and entry.effective_at >= entry.injected_at
        assert evidence["apply_s"] >= 0
    assert {entry.evidence["unit"] for entry in journal.entries} == {
        "running tasks",
        "InService instances",
    }
    assert _fault_effect("az-loss", fault_entries(journal.entries)) == (2, None)

    report = restore_journal(Journal.load(journal.path or tmp_path), aws_clients())
    assert (report.restored, report.drifted, report.failed) == (2, 0, 0)
    saved = Journal.load(journal.path or tmp_path)
    for entry in saved.entries:
        assert entry.evidence["after"] == EVEN and entry.evidence["restore_converged"] is True
        assert entry.evidence["restore_s"] >= 0
    assert running_tasks(world) == EVEN and in_service(world) == EVEN
    assert placement_of("ecs", service)[0] == world.subnets(*ORDER)


def test_a_pin_that_moves_no_capacity_is_not_effective(world: World, tmp_path: Path) -> None:
    create_target(world, "asg", "empty", world.subnets(*ORDER))  # DesiredCapacity 0
    journal, _ = inject(tmp_path, spec({"autoscaling_groups": ["empty"]}))
    [entry] = journal.entries
    assert entry.evidence["before"] == {} and entry.evidence["during"] == {}
    observed, note = _fault_effect("az-loss", fault_entries(journal.entries))
    assert observed == 0 and note == "no target's capacity left the lost AZ ID"
    restore_journal(journal, aws_clients())


@pytest.fixture
def unscheduled(aws: None) -> World:
    """moto alone: an ECS service never runs a task, so it never converges."""
    return build_world()


def test_capacity_that_never_converges_is_bounded_and_a_timed_out_restore_fails(
    unscheduled: World, tmp_path: Path
) -> None:
    service = create_target(unscheduled, "ecs", "web", unscheduled.subnets(*ORDER))
    fault_spec = spec({"ecs_services": [service]}).model_copy(update={"converge_timeout": 1.0})
    journal, _ = inject(tmp_path, fault_spec)
    [entry] = journal.entries
    assert entry.status == "applied" and entry.evidence["converged"] is False
    assert entry.detail.startswith(f"capacity had not left {LOST} after ")
    assert "0/2 running" in entry.detail

    report = restore_journal(Journal.load(journal.path or tmp_path), aws_clients())
    assert report.failed == 1 and not report.complete
    [failed] = Journal.load(journal.path or tmp_path).entries
    assert failed.status == "failed" and failed.needs_restore
    assert "placement restored, but capacity is not back after" in failed.detail
    assert "gameday rollback --run-id run-1" in failed.detail
    subnets, tags = placement_of("ecs", service)
    assert subnets == unscheduled.subnets(*ORDER)
    assert tags.get(LOCK) == "run-1", "the lock stays until capacity is back"

    with capacity_follows_subnets() as controller:  # tasks start: the next rollback converges
        controller.settle()
        again = restore_journal(Journal.load(journal.path or tmp_path), aws_clients())
    assert (again.restored, again.failed) == (1, 0)
    assert LOCK not in placement_of("ecs", service)[1]


# -- refusals --------------------------------------------------------------------------


def ecs_service(world: World, name: str, **extra: Any) -> str:
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
        desiredCount=0,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": world.subnets(*ORDER),
                "securityGroups": [world.security_group_id],
            }
        },
        **extra,
    )
    return f"shop/{name}"


@pytest.mark.parametrize("controller", ["CODE_DEPLOY", "EXTERNAL"])
def test_ecs_service_with_another_deployment_controller_is_refused(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], controller: str
) -> None:
    service = ecs_service(world, "blue", deploymentController={"type": controller})
    create_function(
        "orders",
        VpcConfig={
            "SubnetIds": world.subnets(*ORDER),
            "SecurityGroupIds": [world.security_group_id],
        },
    )
    before = placement_of("ecs", service)
    line = refused(world, az_experiment(tmp_path, f"{{ecs_services: [{service}]}}"), capsys)
    assert line == (
        f"gameday: ecs:{service}: its deployment controller is {controller}; "
        "UpdateService cannot change its subnets (that takes a new CodeDeploy "
        "deployment or task set): refusing"
    )
    assert placement_of("ecs", service) == before


def test_ecs_service_with_an_old_format_arn_is_refused(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client("ecs").put_account_setting(name="serviceLongArnFormat", value="disabled")
    service = ecs_service(world, "legacy")
    create_function(
        "orders",
        VpcConfig={
            "SubnetIds": world.subnets(*ORDER),
            "SecurityGroupIds": [world.security_group_id],
        },
    )
    line = refused(world, az_experiment(tmp_path, f"{{ecs_services: [{service}]}}"), capsys)
    assert line.startswith(f"gameday: ecs:{service}: its ARN arn:aws:ecs:{REGION}:")
    assert ":service/legacy is in the old format, which cannot be tagged" in line
    assert LOCK not in placement_of("ecs", service)[1]


def test_blackhole_does_not_refuse_an_ecs_service_it_only_reads(
    world: World, tmp_path: Path
) -> None:
    service = ecs_service(world, "blue", deploymentController={"type": "CODE_DEPLOY"})
    journal, changes = inject(tmp_path, spec({"ecs_services": [service]}, "blackhole"))
    assert [change.target for change in changes] == [f"vpc:{world.vpc_id}"]
    assert restore_journal(journal, aws_clients()).complete


# -- faithful restores -----------------------------------------------------------------


def vpc_config(name: str = "api") -> dict[str, Any]:
    config = client("lambda").get_function_configuration(FunctionName=name)["VpcConfig"]
    return {key: value for key, value in config.items() if key != "VpcId"}


def test_lambda_vpc_config_is_kept_whole_and_restored_whole(world: World, tmp_path: Path) -> None:
    second = client("ec2").create_security_group(
        GroupName="extra", Description="extra", VpcId=world.vpc_id
    )["GroupId"]
    original = {
        "SubnetIds": world.subnets(*ORDER),
        "SecurityGroupIds": [world.security_group_id, second],
        "Ipv6AllowedForDualStack": True,
    }
    create_function("api", VpcConfig=original)

    journal, _ = inject(tmp_path, spec({"lambda": ["api"]}))
    assert vpc_config() == {**original, "SubnetIds": world.subnets("use1-az3", "use1-az2")}
    [entry] = journal.entries
    assert entry.evidence["before"] == EVEN and entry.evidence["during"] == {
        "use1-az2": 1,
        "use1-az3": 1,
    }

    assert restore_journal(journal, aws_clients()).restored == 1
    assert vpc_config() == original


def test_security_groups_changed_during_the_run_are_kept_and_reported(
    world: World, tmp_path: Path
) -> None:
    create_function(
        "api",
        VpcConfig={
            "SubnetIds": world.subnets(*ORDER),
            "SecurityGroupIds": [world.security_group_id],
        },
    )
    journal, _ = inject(tmp_path, spec({"lambda": ["api"]}))
    theirs = client("ec2").create_security_group(
        GroupName="theirs", Description="theirs", VpcId=world.vpc_id
    )["GroupId"]
    during = vpc_config()
    client("lambda").update_function_configuration(
        FunctionName="api", VpcConfig={**during, "SecurityGroupIds": [theirs]}
    )

    report = restore_journal(journal, aws_clients())
    assert report.drifted == 1
    assert vpc_config()["SecurityGroupIds"] == [theirs]
    assert LOCK not in placement_of("lambda", "api")[1]


def zone_names(world: World) -> dict[str, str]:
    """AZ ID -> this (moto) account's AZ name."""
    subnets = client("ec2").describe_subnets(SubnetIds=list(world.subnet_by_az.values()))
    return {item["AvailabilityZoneId"]: item["AvailabilityZone"] for item in subnets["Subnets"]}


NLB_ARN = (
    f"arn:aws:elasticloadbalancing:{REGION}:123456789012:loadbalancer/net/edge/50dc6c495c0c9188"
)


def nlb(
    world: World, az_ids: tuple[str, ...], *, lock: str | None = None, state: str = "active"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """describe_load_balancers and describe_tags answers for an internet-facing NLB whose
    subnets each have an Elastic IP (and an IPv6 address)."""
    names = zone_names(world)
    zones = [
        {
            "ZoneName": names[az_id],
            "SubnetId": world.subnet_by_az[az_id],
            "LoadBalancerAddresses": [
                {
                    "IpAddress": f"198.51.100.{index}",
                    "AllocationId": f"eipalloc-{index:017d}",
                    "IPv6Address": f"2600:1f18::{index}",
                }
            ],
        }
        for index, az_id in enumerate(az_ids, start=1)
        if az_id
    ]
    balancer = {
        "LoadBalancerArn": NLB_ARN,
        "LoadBalancerName": "edge",
        "Type": "network",
        "Scheme": "internet-facing",
        "State": {"Code": state},
        "AvailabilityZones": zones,
    }
    tags = [{"Key": "team", "Value": "edge"}] + ([{"Key": LOCK, "Value": lock}] if lock else [])
    return (
        {"LoadBalancers": [balancer]},
        {"TagDescriptions": [{"ResourceArn": NLB_ARN, "Tags": tags}]},
    )


def mapping(world: World, az_id: str, index: int) -> dict[str, str]:
    return {
        "SubnetId": world.subnet_by_az[az_id],
        "AllocationId": f"eipalloc-{index:017d}",
        "IPv6Address": f"2600:1f18::{index}",
    }


def test_nlb_with_elastic_ips_pinned_and_restored_keeps_its_subnet_mappings(
    world: World, tmp_path: Path
) -> None:
    clients = AwsClients(region=REGION)
    elbv2 = boto3.client("elbv2", region_name=REGION)
    clients._cache["elbv2"] = elbv2
    three, two = ("use1-az1", "use1-az2", "use1-az3"), ("", "use1-az2", "use1-az3")
    stub = Stubber(elbv2)
    read_target(stub, *nlb(world, three))  # plan
    read_target(stub, *nlb(world, three))  # apply: re-read right before the change
    stub.add_response("describe_load_balancers", nlb(world, three)[0])  # capacity before
    stub.add_response(
        "add_tags", {}, {"ResourceArns": [NLB_ARN], "Tags": [{"Key": LOCK, "Value": "run-1"}]}
    )
    stub.add_response(
        "set_subnets",
        {},
        {
            "LoadBalancerArn": NLB_ARN,
            "SubnetMappings": [mapping(world, "use1-az2", 2), mapping(world, "use1-az3", 3)],
        },
    )
    stub.add_response("describe_load_balancers", nlb(world, two, state="provisioning")[0])
    stub.add_response("describe_load_balancers", nlb(world, two)[0])  # converged
    stub.activate()
    fault = AzLossFault(
        spec({"load_balancers": ["edge"]}), FaultContext(clients, "run-1", time.time() + 600)
    )
    journal = new_journal(tmp_path, "run-1")
    [change] = fault.plan()
    entry = fault.apply(change, journal)
    assert entry.evidence["before"] == EVEN and entry.evidence["during"] == {
        "use1-az2": 1,
        "use1-az3": 1,
    }
    stub.assert_no_pending_responses()

    read_target(stub, *nlb(world, two, lock="run-1"))  # restore: the current state
    stub.add_response("describe_load_balancers", nlb(world, two)[0])  # still pinned: no revert
    stub.add_response(
        "set_subnets",
        {},
        {
            "LoadBalancerArn": NLB_ARN,
            "SubnetMappings": [
                mapping(world, "use1-az1", 1),
                mapping(world, "use1-az2", 2),
                mapping(world, "use1-az3", 3),
            ],
        },
    )
    stub.add_response("describe_load_balancers", nlb(world, three)[0])
    restored = Journal.load(journal.path or tmp_path)
    outcome = AzLossFault.restore(restored.entries[0], clients, "run-1")
    assert outcome.status == "restored", outcome.detail
    stub.assert_no_pending_responses()

    restored.entries[0].status = outcome.status  # then the run's locks go, last
    read_target(stub, *nlb(world, three, lock="run-1"))
    stub.add_response("remove_tags", {}, {"ResourceArns": [NLB_ARN], "TagKeys": [LOCK]})
    release_locks(restored, restored.entries, clients)
    stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("state", "refused_run"),
    [("available", True), ("pendingAcceptance", True), ("rejected", False)],
)
def test_an_nlb_behind_a_vpc_endpoint_service_with_connected_endpoints_is_refused(
    world: World, state: str, refused_run: bool
) -> None:
    clients = AwsClients(region=REGION)
    elbv2 = clients._cache["elbv2"] = boto3.client("elbv2", region_name=REGION)
    ec2 = clients._cache["ec2"] = boto3.client("ec2", region_name=REGION)
    service = "vpce-svc-0123456789abcdef0"
    asked: list[dict[str, Any]] = []

    def answer(operation: str, parsed: dict[str, Any]) -> None:
        """EC2's answer to `operation`, from this test (moto has no endpoint connections,
        and its endpoint services need a load balancer it knows)."""

        def hook(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
            asked.append({"operation": operation, "body": str(params.get("body"))})
            return AWSResponse("", 200, {}, None), parsed

        ec2.meta.events.register(f"before-call.ec2.{operation}", hook)

    answer(
        "DescribeVpcEndpointServiceConfigurations",
        {
            "ServiceConfigurations": [
                {
                    "ServiceId": "vpce-svc-0fffffffffffffff0",
                    "NetworkLoadBalancerArns": [NLB_ARN.replace("edge", "other")],
                },
                {"ServiceId": service, "NetworkLoadBalancerArns": [NLB_ARN]},
            ]
        },
    )
    answer(
        "DescribeVpcEndpointConnections",
        {
            "VpcEndpointConnections": [
                {
                    "ServiceId": service,
                    "VpcEndpointId": "vpce-0123456789abcdef0",
                    "VpcEndpointState": state,
                    "NetworkLoadBalancerArns": [NLB_ARN],
                }
            ]
        },
    )
    stub = Stubber(elbv2)
    read_target(stub, *nlb(world, ("use1-az1", "use1-az2", "use1-az3")))
    stub.activate()
    fault = AzLossFault(
        spec({"load_balancers": ["edge"]}), FaultContext(clients, "run-1", time.time() + 600)
    )
    if refused_run:
        with pytest.raises(PreflightRefused) as refusal:
            fault.plan()
        assert str(refusal.value) == (
            f"elb:edge: it serves a VPC endpoint service with 1 active endpoint connection(s) "
            f"({service} vpce-0123456789abcdef0); ELB cannot remove its subnets while they "
            "are connected: refusing"
        )
    else:
        [change] = fault.plan()
        assert change.intended["subnet_ids"] == [
            world.subnet_by_az["use1-az2"],
            world.subnet_by_az["use1-az3"],
        ]
    [_, connections] = asked  # the connections of this NLB's endpoint service only
    assert connections["operation"] == "DescribeVpcEndpointConnections"
    assert service in connections["body"] and "0fffffffffffffff0" not in connections["body"]
    stub.assert_no_pending_responses()  # only the reads: nothing was tagged or changed


def read_target(stub: Stubber, balancers: dict[str, Any], tags: dict[str, Any]) -> None:
    stub.add_response("describe_load_balancers", balancers)
    stub.add_response("describe_tags", tags)


# -- blackhole: the ACL is journaled before any association ------------------------------


class Crash(BaseException):
    """The runner dies (kill -9): nothing after this point runs."""


def test_crash_right_after_the_acl_is_created_then_rollback_deletes_it(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_target(world, "lambda", "orders", world.subnets(*ORDER))
    before = {subnet: acl_of(subnet) for subnet in world.subnet_by_az.values()}
    journal_path = tmp_path / "run-7" / "journal.json"
    seen: list[dict[str, Any]] = []

    def die(*_: Any, **__: Any) -> str:
        seen.append(json.loads(journal_path.read_text()))
        raise Crash

    monkeypatch.setattr(ec2_subnets, "replace_acl", die)
    with pytest.raises(Crash):
        inject(tmp_path, spec({"lambda": ["orders"]}, "blackhole"), run_id="run-7")
    [on_disk] = seen  # as the journal was at the first association
    acl_entry = on_disk["entries"][0]
    assert acl_entry["intended"]["action"] == "create-acl"
    [created] = run_acls("run-7")
    assert acl_entry["intended"]["network_acl_id"] == created["NetworkAclId"]
    monkeypatch.undo()

    report = restore_journal(Journal.load(journal_path), aws_clients())
    assert report.failed == 0
    assert run_acls("run-7") == []
    assert {subnet: acl_of(subnet) for subnet in world.subnet_by_az.values()} == before
    assert LOCK not in {
        tag["Key"]
        for subnet in client("ec2").describe_subnets(SubnetIds=list(world.subnet_by_az.values()))[
            "Subnets"
        ]
        for tag in subnet.get("Tags", [])
    }


def test_a_full_run_reports_the_pin_as_az_loss_and_its_capacity(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    service, group = scaled_targets(world)
    create_function(
        "orders",
        VpcConfig={
            "SubnetIds": world.subnets(*ORDER),
            "SecurityGroupIds": [world.security_group_id],
        },
    )
    path = az_experiment(tmp_path, f"{{ecs_services: [{service}], autoscaling_groups: [{group}]}}")
    assert main(["run", str(path), "--yes", "--report-dir", str(tmp_path / "report")]) == 0
    capsys.readouterr()
    result = json.loads((tmp_path / "report" / "result.json").read_text())
    for fault in result["faults"]:
        assert fault["restore_status"] == "restored"
        assert fault["changed"]["effect"] == "AZ loss (capacity moved out of the AZ ID)"
        assert fault["evidence"]["before"] == EVEN == fault["evidence"]["after"]
        assert fault["evidence"]["during"].get(LOST, 0) == 0
        assert fault["effective_at"] == fault["evidence"]["converged_at"]
    assert running_tasks(world) == EVEN and in_service(world) == EVEN
