"""Crash-safety support: a fake AWS with every target kind, its complete state, and a runner
that dies where it is told.

- :class:`FakeAws` reaches moto (in-process under ``mock_aws``, or a moto server on
  127.0.0.1) with plain boto3 clients, never the toolkit's: what the tests build and read is
  not what they hook.
- :func:`build_world`: one VPC with app and public subnets in three AZ IDs, a Lambda function
  in it (``orders``, with a layer of its own), an aliased one (``checkout:live``), an ECS
  service, an Auto Scaling group, an ALB and an NLB with Elastic IPs. ECS tasks and ASG
  instances are placed and moved by the sandbox's schedulers (:func:`placement_follows`).
- :func:`world_state`: the complete state a run must leave as it found it, as a flat
  mapping (key tuple -> value) so that an expectation is "before, with these keys changed".
- :class:`AwsCallHooks` (tests/integration/aws_call_hooks.py, re-exported here): botocore
  hooks on every client the toolkit creates: they record the mutating calls, kill the
  "process" right before or after one (:class:`Crash`), and throttle a share of requests.
- :func:`run_faults`: a run's mutating part as ``gameday run`` does it, from the real pieces
  (journal in S3, the janitor's schedule first, plan, prepare, the parallel apply), with no
  restore: the process that crashed restores nothing. :func:`restore_as_the_run_does`: the
  run's own restore after it (the janitor's schedule moved later, every entry restored, the
  schedule deleted, the journal finished), to crash in too.
- :func:`nlb_subnet_mappings_kept`: moto drops an NLB's subnet mappings (Elastic IPs); in this
  process it keeps them, and refuses SetSubnets that changes an enabled subnet's.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from unittest import mock

import boto3
import botocore.session
from botocore.retries.standard import ExponentialBackoff
from moto.ec2.models import ec2_backends
from moto.elbv2.exceptions import ELBClientError
from moto.elbv2.models import AvailabilityZone, ELBv2Backend, FakeLoadBalancer
from moto.moto_api import state_manager

import chaos.aws.clients
from chaos.aws import AwsClients, rate_limit
from chaos.aws.retry import call_with_backoff
from chaos.faults import (
    FAULT_KINDS,
    LOCK_TAG_KEY,
    FaultContext,
    FaultKind,
    PlannedChange,
)
from chaos.faults.az_loss.spec import AzLossSpec
from chaos.faults.lambda_extension.layer_versions import LAYER_NAME
from chaos.faults.lambda_extension.spec import LambdaExtensionSpec
from chaos.janitor.arming import postpone_janitor
from chaos.janitor.timer import (
    JanitorEvent,
    JanitorSchedule,
    function_arn,
    schedule_name,
    scheduler_role_arn,
)
from chaos.janitor.timer_change import JanitorScheduleKind
from chaos.journal import Journal, JournalLocation, S3JournalStore
from chaos.run.apply import apply_changes
from chaos.run.restore import RollbackReport, restore_journal
from chaos.run.stop import StopSignal
from chaos.sandbox.capacity.placement import PlacementController
from chaos.sandbox.realism import Realism
from tests.integration.aws_call_hooks import AwsCall as AwsCall
from tests.integration.aws_call_hooks import AwsCallHooks as AwsCallHooks
from tests.integration.aws_call_hooks import Crash as Crash
from tests.integration.aws_call_hooks import CrashAtIndex as CrashAtIndex
from tests.integration.aws_call_hooks import CrashPoint as CrashPoint
from tests.integration.aws_call_hooks import Throttling as Throttling
from tests.integration.aws_call_hooks import crash_points as crash_points

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's
AZ_IDS = ("use1-az1", "use1-az2", "use1-az3")
#: Not sorted: a restore must give back this exact order.
ORDER = ("use1-az3", "use1-az1", "use1-az2")
LOST_AZ = "use1-az1"
JOURNAL_BUCKET = "gameday-journal"
JOURNAL_URI = f"s3://{JOURNAL_BUCKET}/runs/"
LOCK = LOCK_TAG_KEY

PLAIN_FUNCTION = "orders"  # in the VPC, with a layer of its own
ALIASED_FUNCTION = "checkout"
ALIAS = "live"
ECS_CLUSTER = "shop"
ECS_SERVICE = f"{ECS_CLUSTER}/web"
AUTOSCALING_GROUP = "workers"
ALB = "edge-alb"
NLB = "edge-nlb"
THEIR_LAYER = "shared-libs"  # a layer `orders` carries before any run
THEIR_OTHER_LAYER = "extra-libs"  # one someone attaches during a run
UNITS_PER_WORKLOAD = 3

#: What a world can hold; a test builds only what it needs.
WorldPart = Literal["plain-function", "aliased-function", "ecs", "asg", "alb", "nlb"]
ALL_PARTS: frozenset[WorldPart] = frozenset(
    ("plain-function", "aliased-function", "ecs", "asg", "alb", "nlb")
)

StateKey = tuple[str, ...]
State = dict[StateKey, Any]


# -- fake AWS ---------------------------------------------------------------------------


@dataclass
class FakeAws:
    """moto, through plain boto3 clients (cached: creating one costs tens of ms)."""

    endpoint_url: str | None = None  # None: moto in-process (mock_aws)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = boto3.client(
                service, region_name=REGION, endpoint_url=self.endpoint_url
            )  # type: ignore[call-overload]
        return self._clients[service]

    def toolkit_clients(self) -> AwsClients:
        """Fresh clients as a run creates them (hooked when AwsCallHooks are installed)."""
        return AwsClients(region=REGION, endpoint_url=self.endpoint_url)


def reset_moto(aws: FakeAws) -> None:
    """Forget every resource: moto's reset endpoint (server) or its backend (in-process)."""
    if aws.endpoint_url is None:
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        return
    import urllib.request

    request = urllib.request.Request(f"{aws.endpoint_url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - 127.0.0.1
        response.read()


@contextlib.contextmanager
def placement_follows() -> Iterator[PlacementController]:
    """ECS tasks and ASG instances placed and moved as AWS does, within the API call (the
    sandbox's schedulers, fast realism). moto's reset replaces its backends: one controller
    per world, created after the reset."""
    controller = PlacementController.for_sandbox(REGION, ACCOUNT_ID, Realism())
    controller.follow_api_changes()
    try:
        yield controller
    finally:
        state_manager.unset_transition("ecs::task")


# -- the world ---------------------------------------------------------------------------


@dataclass
class World:
    """IDs of what `build_world` created, and a readable name for each."""

    vpc_id: str
    app_subnets: dict[str, str]  # AZ ID -> subnet (Lambda, ECS, ASG)
    public_subnets: dict[str, str]  # AZ ID -> subnet (load balancers)
    security_groups: list[str]
    elastic_ips: dict[str, str]  # AZ ID -> allocation ID (the NLB's)
    layers: dict[str, str]  # layer name -> version ARN (theirs)
    parts: frozenset[WorldPart]
    load_balancers: dict[str, str] = field(default_factory=dict)  # name -> ARN
    names: dict[str, str] = field(default_factory=dict)  # ID / ARN -> readable name

    def app(self, *az_ids: str) -> list[str]:
        return [self.app_subnets[az_id] for az_id in az_ids]

    def public(self, *az_ids: str) -> list[str]:
        return [self.public_subnets[az_id] for az_id in az_ids]

    def name(self, value: str) -> str:
        return self.names.get(value, value)


def code_zip(body: str = "def handler(event, context):\n    return {'statusCode': 200}\n") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", body)
    return buffer.getvalue()


def build_world(aws: FakeAws, parts: frozenset[WorldPart] = ALL_PARTS) -> World:
    """The fixtures every crash and property test draws its targets from."""
    ec2 = aws.client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    names = {vpc_id: "vpc"}
    app: dict[str, str] = {}
    public: dict[str, str] = {}
    for index, az_id in enumerate(AZ_IDS):
        for kind, subnets, offset in (("app", app, 0), ("public", public, 10)):
            subnet_id = ec2.create_subnet(
                VpcId=vpc_id, CidrBlock=f"10.40.{index + offset}.0/24", AvailabilityZoneId=az_id
            )["Subnet"]["SubnetId"]
            ec2.create_tags(
                Resources=[subnet_id], Tags=[{"Key": "Name", "Value": f"{kind}-{az_id}"}]
            )
            subnets[az_id] = subnet_id
            names[subnet_id] = f"{kind}-{az_id}"
    for acl in ec2.describe_network_acls(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
        "NetworkAcls"
    ]:
        names[acl["NetworkAclId"]] = "default-acl" if acl["IsDefault"] else acl["NetworkAclId"]
        for association in acl["Associations"]:
            names[association["NetworkAclAssociationId"]] = (
                f"association-{names[association['SubnetId']]}"
            )
    groups = [
        ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc_id)["GroupId"]
        for name in ("app", "edge")
    ]
    names.update(zip(groups, ("sg-app", "sg-edge"), strict=True))
    world = World(vpc_id, app, public, groups, elastic_ips={}, layers={}, parts=parts, names=names)
    aws.client("s3").create_bucket(Bucket=JOURNAL_BUCKET)
    if parts & {"plain-function", "aliased-function"}:
        build_functions(aws, world)
    if "ecs" in parts:
        build_ecs_service(aws, world)
    if "asg" in parts:
        build_autoscaling_group(aws, world)
    if "alb" in parts:
        build_load_balancer(aws, world, ALB, "application")
    if "nlb" in parts:
        build_load_balancer(aws, world, NLB, "network")
    return world


def build_functions(aws: FakeAws, world: World) -> None:
    iam, lambda_ = aws.client("iam"), aws.client("lambda")
    role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    for layer in (THEIR_LAYER, THEIR_OTHER_LAYER):
        world.layers[layer] = lambda_.publish_layer_version(
            LayerName=layer,
            Content={"ZipFile": code_zip("VALUE = 1\n")},
            CompatibleRuntimes=["python3.12"],
        )["LayerVersionArn"]
    common = {
        "Runtime": "python3.12",
        "Role": role,
        "Handler": "app.handler",
        "Code": {"ZipFile": code_zip()},
    }
    if "plain-function" in world.parts:
        lambda_.create_function(
            FunctionName=PLAIN_FUNCTION,
            **common,
            Layers=[world.layers[THEIR_LAYER]],
            Environment={"Variables": {"TABLE": "orders", "SECRET_TOKEN": "s3cr3t-value"}},
            VpcConfig={
                "SubnetIds": world.app(*ORDER),
                "SecurityGroupIds": world.security_groups,
                "Ipv6AllowedForDualStack": True,
            },
            Tags={"team": "shop"},
        )
    if "aliased-function" in world.parts:
        # Versions 1 and 2, $LATEST equal to 1, alias live -> 1.
        lambda_.create_function(
            FunctionName=ALIASED_FUNCTION,
            **common,
            Environment={"Variables": {"STAGE": "1"}},
            Tags={"team": "payments"},
        )
        lambda_.publish_version(FunctionName=ALIASED_FUNCTION, Description="release 1")
        for stage, publish in (("2", True), ("1", False)):
            lambda_.update_function_configuration(
                FunctionName=ALIASED_FUNCTION, Environment={"Variables": {"STAGE": stage}}
            )
            if publish:
                lambda_.publish_version(FunctionName=ALIASED_FUNCTION, Description="release 2")
        lambda_.create_alias(
            FunctionName=ALIASED_FUNCTION, Name=ALIAS, FunctionVersion="1", Description="production"
        )


def build_ecs_service(aws: FakeAws, world: World) -> None:
    ecs = aws.client("ecs")
    ecs.create_cluster(clusterName=ECS_CLUSTER)
    ecs.register_task_definition(
        family="web",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "web", "image": "web:1", "memory": 128}],
    )
    service = ecs.create_service(
        cluster=ECS_CLUSTER,
        serviceName="web",
        taskDefinition="web",
        desiredCount=UNITS_PER_WORKLOAD,
        launchType="FARGATE",
        tags=[{"key": "team", "value": "shop"}],
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": world.app(*ORDER),
                "securityGroups": world.security_groups[:1],
                "assignPublicIp": "DISABLED",
            }
        },
    )["service"]
    world.names[service["serviceArn"]] = ECS_SERVICE


def build_autoscaling_group(aws: FakeAws, world: World) -> None:
    aws.client("ec2").create_launch_template(
        LaunchTemplateName="workers-lt",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
    )
    aws.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=AUTOSCALING_GROUP,
        LaunchTemplate={"LaunchTemplateName": "workers-lt"},
        MinSize=0,
        MaxSize=2 * UNITS_PER_WORKLOAD,
        DesiredCapacity=UNITS_PER_WORKLOAD,
        VPCZoneIdentifier=",".join(world.app(*ORDER)),
        Tags=[
            {
                "Key": "team",
                "Value": "shop",
                "PropagateAtLaunch": False,
                "ResourceId": AUTOSCALING_GROUP,
                "ResourceType": "auto-scaling-group",
            }
        ],
    )


def build_load_balancer(aws: FakeAws, world: World, name: str, kind: str) -> None:
    arguments: dict[str, Any] = {
        "Name": name,
        "Type": kind,
        "Tags": [{"Key": "team", "Value": "edge"}],
    }
    if kind == "network":  # internet-facing, an Elastic IP in each subnet
        ec2 = aws.client("ec2")
        for az_id in ORDER:
            allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
            world.elastic_ips[az_id] = allocation
            world.names[allocation] = f"eip-{az_id}"
        arguments["SubnetMappings"] = [
            {"SubnetId": world.public_subnets[az_id], "AllocationId": world.elastic_ips[az_id]}
            for az_id in ORDER
        ]
    else:
        arguments.update(Subnets=world.public(*ORDER), SecurityGroups=world.security_groups[1:])
    created = aws.client("elbv2").create_load_balancer(**arguments)["LoadBalancers"][0]
    world.load_balancers[name] = created["LoadBalancerArn"]
    world.names[created["LoadBalancerArn"]] = name


# -- the complete state --------------------------------------------------------------------


def world_state(aws: FakeAws, world: World) -> State:
    """Everything a run may touch, read from AWS: the state to leave as it was found."""
    state: State = {}
    state.update(lambda_state(aws, world))
    state.update(ecs_state(aws, world))
    state.update(autoscaling_state(aws, world))
    state.update(load_balancer_state(aws, world))
    state.update(network_state(aws, world))
    state.update(schedule_state(aws))
    return state


def tags_state(prefix: StateKey, tags: Mapping[str, str]) -> State:
    return {prefix + ("tag", key): value for key, value in tags.items()}


def lambda_state(aws: FakeAws, world: World) -> State:
    lambda_ = aws.client("lambda")
    state: State = {}
    for function in paginate(lambda_, "list_functions", "Functions"):
        name = function["FunctionName"]
        config = lambda_.get_function_configuration(FunctionName=name)
        key: StateKey = ("lambda", name)
        state[key + ("layers",)] = [layer["Arn"] for layer in config.get("Layers") or []]
        for variable, value in ((config.get("Environment") or {}).get("Variables") or {}).items():
            state[key + ("env", variable)] = value
        vpc = {
            name: [world.name(item) for item in value] if isinstance(value, list) else value
            for name, value in (config.get("VpcConfig") or {}).items()
            if name != "VpcId"
        }
        state[key + ("vpc",)] = vpc or None
        state[key + ("settings",)] = {
            k: config.get(k)
            for k in ("Runtime", "Handler", "MemorySize", "Timeout", "Role", "CodeSha256")
        }
        state.update(tags_state(key, lambda_.list_tags(Resource=config["FunctionArn"])["Tags"]))
        state[key + ("versions",)] = [
            {
                "version": item["Version"],
                "description": item.get("Description", ""),
                "layers": [layer["Arn"] for layer in item.get("Layers") or []],
                "env": sorted((item.get("Environment") or {}).get("Variables") or {}),
            }
            for item in paginate(
                lambda_, "list_versions_by_function", "Versions", FunctionName=name
            )
            if item["Version"] != "$LATEST"
        ]
        for alias in paginate(lambda_, "list_aliases", "Aliases", FunctionName=name):
            state[key + ("alias", alias["Name"])] = {
                "version": alias["FunctionVersion"],
                "description": alias.get("Description"),
                "weights": dict(
                    (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
                ),
            }
    for layer in paginate(lambda_, "list_layers", "Layers"):
        # Our layer is an artifact reused by its content hash, never journaled: not state.
        if layer["LayerName"] != LAYER_NAME:
            state[("layer", layer["LayerName"])] = [
                item["Version"]
                for item in paginate(
                    lambda_, "list_layer_versions", "LayerVersions", LayerName=layer["LayerName"]
                )
            ]
    return state


def ecs_state(aws: FakeAws, world: World) -> State:
    ecs, state = aws.client("ecs"), State()
    for cluster_arn in ecs.list_clusters()["clusterArns"]:
        service_arns = ecs.list_services(cluster=cluster_arn)["serviceArns"]
        if not service_arns:
            continue
        for service in ecs.describe_services(
            cluster=cluster_arn, services=service_arns, include=["TAGS"]
        )["services"]:
            cluster = cluster_arn.rsplit("/", 1)[-1]
            key: StateKey = ("ecs", f"{cluster}/{service['serviceName']}")
            awsvpc = (service.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {}
            state[key + ("network",)] = {
                **awsvpc,
                "subnets": [world.name(subnet) for subnet in awsvpc.get("subnets") or []],
            }
            state[key + ("desired",)] = service["desiredCount"]
            state[key + ("task-definition",)] = service["taskDefinition"]
            state.update(
                tags_state(key, {tag["key"]: tag["value"] for tag in service.get("tags") or []})
            )
            task_arns = ecs.list_tasks(cluster=cluster_arn, serviceName=service["serviceName"])[
                "taskArns"
            ]
            tasks = (
                ecs.describe_tasks(cluster=cluster_arn, tasks=task_arns)["tasks"]
                if task_arns
                else []
            )
            state[key + ("running-per-az",)] = dict(
                Counter(
                    task.get("availabilityZone")
                    for task in tasks
                    if task.get("lastStatus") == "RUNNING"
                )
            )
    return state


def autoscaling_state(aws: FakeAws, world: World) -> State:
    state: State = {}
    for group in aws.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]:
        key: StateKey = ("asg", group["AutoScalingGroupName"])
        state[key + ("subnets",)] = [
            world.name(subnet) for subnet in str(group.get("VPCZoneIdentifier") or "").split(",")
        ]
        state[key + ("capacity",)] = (group["MinSize"], group["DesiredCapacity"], group["MaxSize"])
        state.update(tags_state(key, {tag["Key"]: tag["Value"] for tag in group.get("Tags") or []}))
        state[key + ("in-service-per-az",)] = dict(
            Counter(
                item["AvailabilityZone"]
                for item in group.get("Instances") or []
                if item.get("LifecycleState") == "InService"
            )
        )
    return state


def load_balancer_state(aws: FakeAws, world: World) -> State:
    elbv2, state = aws.client("elbv2"), State()
    balancers = elbv2.describe_load_balancers()["LoadBalancers"]
    tags = (
        {
            item["ResourceArn"]: item.get("Tags") or []
            for item in elbv2.describe_tags(
                ResourceArns=[item["LoadBalancerArn"] for item in balancers]
            )["TagDescriptions"]
        }
        if balancers
        else {}
    )
    for balancer in balancers:
        key: StateKey = ("elb", balancer["LoadBalancerName"])
        state[key + ("zones",)] = [
            {
                "subnet": world.name(zone["SubnetId"]),
                "addresses": [
                    {name: world.name(value) for name, value in address.items()}
                    for address in zone.get("LoadBalancerAddresses") or []
                ],
            }
            for zone in balancer.get("AvailabilityZones") or []
        ]
        state[key + ("security-groups",)] = [
            world.name(group) for group in balancer.get("SecurityGroups") or []
        ]
        state.update(
            tags_state(
                key, {tag["Key"]: tag["Value"] for tag in tags.get(balancer["LoadBalancerArn"], [])}
            )
        )
    return state


def network_state(aws: FakeAws, world: World) -> State:
    """Subnets (tags, the ACL each is associated with), network ACLs, Elastic IPs."""
    ec2, state = aws.client("ec2"), State()
    acls = ec2.describe_network_acls()["NetworkAcls"]
    for acl in acls:
        acl_tags = {tag["Key"]: tag["Value"] for tag in acl.get("Tags") or []}
        state[("network-acl", acl_name(world, acl["NetworkAclId"], acl_tags))] = {
            "vpc": world.name(acl["VpcId"]),
            "default": acl["IsDefault"],
            "tags": acl_tags,
            "entries": sorted(
                json.dumps(entry, sort_keys=True, default=str) for entry in acl.get("Entries") or []
            ),
        }
        for association in acl.get("Associations") or []:
            state[("subnet", world.name(association["SubnetId"]), "network-acl")] = acl_name(
                world, acl["NetworkAclId"], acl_tags
            )
    for subnet in ec2.describe_subnets()["Subnets"]:
        key: StateKey = ("subnet", world.name(subnet["SubnetId"]))
        state.update(
            tags_state(key, {tag["Key"]: tag["Value"] for tag in subnet.get("Tags") or []})
        )
    for address in ec2.describe_addresses()["Addresses"]:
        state[("elastic-ip", world.name(address["AllocationId"]))] = address.get("PublicIp")
    return state


def acl_name(world: World, acl_id: str, tags: Mapping[str, str]) -> str:
    """Known ACLs by name, others by their Name tag (someone's), else their ID (a run's)."""
    if acl_id in world.names:
        return world.names[acl_id]
    return f"Name={tags['Name']}" if "Name" in tags else acl_id


def schedule_state(aws: FakeAws) -> State:
    scheduler = aws.client("scheduler")
    return {
        ("schedule", item.get("GroupName", "default"), item["Name"]): item.get("State")
        for item in scheduler.list_schedules()["Schedules"]
    }


def paginate(client: Any, operation: str, key: str, **arguments: Any) -> list[Any]:
    return [
        item for page in client.get_paginator(operation).paginate(**arguments) for item in page[key]
    ]


def state_differences(expected: State, actual: State) -> list[str]:
    """One line per key whose value is not the expected one (ANY matches anything)."""
    lines = []
    for key in sorted(set(expected) | set(actual), key=repr):
        want, got = expected.get(key, MISSING), actual.get(key, MISSING)
        if want is ANY or want == got:
            continue
        lines.append(f"{' '.join(key)}: expected {want!r}, found {got!r}")
    return lines


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


MISSING: Any = _Marker("(absent)")
ANY: Any = _Marker("(anything)")


# -- a run's mutating part --------------------------------------------------------------------


@functools.cache
def dead_pid() -> int:
    """The pid of a process that has exited: a journal of it belongs to a dead runner on
    this host (what `gameday rollback --all` restores without --force)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def fault_kinds(specs: Sequence[Mapping[str, Any]], context: FaultContext) -> list[FaultKind[Any]]:
    kinds: list[FaultKind[Any]] = []
    for index, spec in enumerate(specs):
        model = LambdaExtensionSpec if spec["type"] == "lambda-extension" else AzLossSpec
        kinds.append(
            FAULT_KINDS[str(spec["type"])](model.model_validate(dict(spec)), context, index)
        )
    return kinds


def journal_store(clients: AwsClients) -> S3JournalStore:
    return S3JournalStore(clients.client("s3"), JournalLocation.parse(JOURNAL_URI))


def run_faults(
    clients: AwsClients,
    home: Path,
    run_id: str,
    specs: Sequence[Mapping[str, Any]],
    *,
    concurrency: int | None = None,
    expires_in_s: float = 600.0,
) -> Journal:
    """What `gameday run --journal s3://...` changes, in its order, and nothing after:
    plan, the journal (local and in S3), the janitor's schedule, prepare, the apply.

    The faults expire (and the janitor's schedule fires) `expires_in_s` from now."""
    context = FaultContext(clients, run_id, expires_at=time.time() + expires_in_s)
    kinds = fault_kinds(specs, context)
    planned: list[tuple[FaultKind[Any], PlannedChange]] = [
        (kind, change) for kind in kinds for change in kind.plan()
    ]
    journal = Journal.create(
        home / "runs" / run_id,
        remote=journal_store(clients),
        run_id=run_id,
        experiment_name="crash-safety",
        experiment_path="crash-safety.yaml",
        region=REGION,
        endpoint_url=clients.endpoint_url,
        profile=None,
        account_id=ACCOUNT_ID,
        pid=dead_pid(),
    )
    schedule = JanitorSchedule(
        name=schedule_name(run_id),
        at=context.expires_at,
        function_arn=function_arn(REGION, ACCOUNT_ID),
        role_arn=scheduler_role_arn(REGION, ACCOUNT_ID),
        event=JanitorEvent(run_id, JOURNAL_URI),
    )
    janitor = JanitorScheduleKind(schedule, context)
    [janitor_change] = janitor.plan()
    janitor.apply(janitor_change, journal)
    for kind in kinds:
        kind.prepare()
    apply_changes(planned, journal, StopSignal(600), lambda _: None, concurrency=concurrency)
    return journal


def restore_as_the_run_does(journal: Journal, clients: AwsClients) -> RollbackReport:
    """The run's own restore (its recovery phase, or its `finally`), as chaos.run.lifecycle
    makes it:
    the janitor's schedule moved past the longest the restore may take (when it would come
    sooner), every entry restored, the schedule deleted last, the journal finished."""
    postpone_janitor(journal, clients)
    report = restore_journal(journal, clients)
    journal.finish("finished" if report.complete else "rollback_incomplete")
    return report


# -- moto and toolkit adjustments for fast, faithful tests ----------------------------------------


KEPT_MAPPINGS = "gameday_kept_subnet_mappings"  # on moto's FakeLoadBalancer
_PINNED_FIELDS = ("AllocationId", "PrivateIPv4Address", "IPv6Address")


@contextlib.contextmanager
def nlb_subnet_mappings_kept() -> Iterator[None]:
    """moto keeps an NLB's subnets but drops their mappings (Elastic IP, private and IPv6
    addresses). Keep them, show them as DescribeLoadBalancers does (LoadBalancerAddresses),
    and refuse a SetSubnets that changes an enabled subnet's mapping ("you must include all
    subnets that were enabled previously, with their existing configurations", SetSubnets,
    https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_SetSubnets.html).
    A subnet enabled again without its AllocationId gets an AWS-assigned address, as in AWS.
    """
    original_create = ELBv2Backend.create_load_balancer
    original_set = ELBv2Backend.set_subnets

    def create_load_balancer(backend: ELBv2Backend, *args: Any, **kwargs: Any) -> Any:
        balancer = original_create(backend, *args, **kwargs)
        mappings = kwargs.get("subnet_mappings") or (args[3] if len(args) > 3 else None)
        setattr(
            balancer, KEPT_MAPPINGS, {item["SubnetId"]: pinned(item) for item in mappings or []}
        )
        return balancer

    def set_subnets(
        backend: ELBv2Backend, arn: str, subnets: list[str], subnet_mappings: list[dict[str, Any]]
    ) -> Any:
        balancer = backend.load_balancers.get(arn)
        kept: dict[str, dict[str, str]] = getattr(balancer, KEPT_MAPPINGS, {})
        if balancer is not None and balancer.type == "network":
            enabled = {subnet.id for subnet in balancer.subnets}
            for item in [*({"SubnetId": subnet} for subnet in subnets), *subnet_mappings]:
                subnet_id = item["SubnetId"]
                if subnet_id in enabled and pinned(item) != kept.get(subnet_id, {}):
                    raise ELBClientError(
                        "InvalidConfigurationRequest",
                        f"subnet {subnet_id} is enabled with {kept.get(subnet_id)}; SetSubnets "
                        f"must keep its configuration, not {pinned(item)}",
                    )
        result = original_set(backend, arn, subnets, subnet_mappings)
        if balancer is not None:
            setattr(
                balancer,
                KEPT_MAPPINGS,
                {
                    **{subnet: {} for subnet in subnets},
                    **{item["SubnetId"]: pinned(item) for item in subnet_mappings},
                },
            )
        return result

    def availability_zones(balancer: FakeLoadBalancer) -> list[AvailabilityZone]:
        zones = []
        for subnet in balancer.subnets:
            zone = AvailabilityZone(subnet)
            if balancer.type == "network":
                kept = getattr(balancer, KEPT_MAPPINGS, {}).get(subnet.id, {})
                # moto's serializer renders the attribute as LoadBalancerAddresses.
                setattr(  # noqa: B010 - moto's attribute, not in its type
                    zone,
                    "load_balancer_addresses",
                    [load_balancer_address(balancer, subnet.id, kept)],
                )
            zones.append(zone)
        return zones

    with (
        mock.patch.object(ELBv2Backend, "create_load_balancer", create_load_balancer),
        mock.patch.object(ELBv2Backend, "set_subnets", set_subnets),
        mock.patch.object(FakeLoadBalancer, "availability_zones", property(availability_zones)),
    ):
        yield


def pinned(mapping: Mapping[str, Any]) -> dict[str, str]:
    return {name: str(mapping[name]) for name in _PINNED_FIELDS if mapping.get(name)}


def load_balancer_address(
    balancer: FakeLoadBalancer, subnet_id: str, mapping: Mapping[str, str]
) -> dict[str, str]:
    if "AllocationId" in mapping:
        account, region = balancer.arn.split(":")[4], balancer.arn.split(":")[3]
        [address] = ec2_backends[account][region].address_by_allocation([mapping["AllocationId"]])
        return {
            "IpAddress": address.public_ip,
            "AllocationId": mapping["AllocationId"],
            **{k: v for k, v in mapping.items() if k != "AllocationId"},
        }
    assigned = int(hashlib.sha256(subnet_id.encode()).hexdigest()[:2], 16)
    return {"IpAddress": f"203.0.113.{assigned}", **mapping}


class _UnpacedBucket:
    def take(self) -> float:
        return 0.0


@contextlib.contextmanager
def toolkit_without_waits() -> Iterator[None]:
    """No client-side pacing of Lambda calls (15 requests/s), no backoff sleeps (the
    toolkit's and botocore's): the calls and retries stay, only the waiting goes."""
    with (
        mock.patch.object(rate_limit, "_bucket", lambda operation: _UnpacedBucket()),
        mock.patch.dict(call_with_backoff.__kwdefaults__ or {}, {"sleep": lambda seconds: None}),
        mock.patch.object(ExponentialBackoff, "delay_amount", lambda self, context: 0.0),
    ):
        yield


@contextlib.contextmanager
def shared_botocore_loader() -> Iterator[None]:
    """Every AwsClients session shares one loader of botocore's service models: a new
    session then costs milliseconds instead of ~0.2 s (a run creates several)."""
    loader = botocore.session.get_session().get_component("data_loader")

    class Boto3WithSharedLoader:
        @staticmethod
        def Session(**kwargs: Any) -> boto3.Session:  # noqa: N802 - boto3's name
            core = botocore.session.Session()
            core.register_component("data_loader", loader)
            return boto3.Session(botocore_session=core, **kwargs)

    with mock.patch.object(chaos.aws.clients, "boto3", Boto3WithSharedLoader):
        yield


@contextlib.contextmanager
def clients_reused() -> Iterator[None]:
    """One client per service and target for the whole process: a run creates a dozen (the
    journal's, fresh ones for its restore), at tens of ms each. The calls stay the same."""
    original = AwsClients.client
    cache: dict[tuple[str, str | None, str | None, str], Any] = {}
    lock = threading.Lock()

    def client(clients: AwsClients, service: str) -> Any:
        key = (clients.region, clients.endpoint_url, clients.profile, service)
        with lock:
            if key not in cache:
                cache[key] = original(clients, service)
            return cache[key]

    with mock.patch.object(AwsClients, "client", client):
        yield


@contextlib.contextmanager
def hooked_toolkit(*, reuse_clients: bool = False) -> Iterator[AwsCallHooks]:
    """The toolkit's AWS calls hooked (crash, record, throttle), without waits, against a moto
    that keeps NLB subnet mappings: everything a crash or property test needs in its process.
    With `reuse_clients`, every AwsClients hands out the same (hooked) client per service."""
    hooks = AwsCallHooks()
    with (
        nlb_subnet_mappings_kept(),
        toolkit_without_waits(),
        shared_botocore_loader(),
        hooks.installed(),
        clients_reused() if reuse_clients else contextlib.nullcontext(),
    ):
        yield hooks


def resource_label(aws: FakeAws, world: World, resource: str) -> str:
    """A name for a resource that is the same in every world: the world's own, or, for what
    a run created, what it is for (a network ACL association by its subnet, the run's ACL)."""
    if resource in world.names:
        return world.names[resource]
    if resource.startswith("aclassoc-"):
        for acl in aws.client("ec2").describe_network_acls()["NetworkAcls"]:
            for association in acl.get("Associations") or []:
                if association["NetworkAclAssociationId"] == resource:
                    return f"association-{world.name(association['SubnetId'])}"
    if resource.startswith("acl-"):
        return "run-acl"  # not the world's: one a run created
    return resource


@contextlib.contextmanager
def world_of(aws: FakeAws, parts: frozenset[WorldPart], hooks: AwsCallHooks) -> Iterator[World]:
    """A fresh moto holding a new world (capacity settled), named for the hooks' labels."""
    reset_moto(aws)
    with placement_follows() as controller:
        world = build_world(aws, parts)
        controller.settle()
        hooks.label = functools.partial(resource_label, aws, world)
        yield world
