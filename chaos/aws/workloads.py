"""Where workloads run: the subnets of Lambda functions, ECS services, ASGs and load balancers.

Each kind has a `Placement` that reads a workload's subnets and the settings that go with
them, writes them back (Lambda: waiting until the update is accepted; how capacity then moves
is chaos.aws.capacity's business) and manages the run's lock tag on it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from botocore.exceptions import ClientError

from chaos.aws import lambda_functions as functions
from chaos.aws.clients import error_code
from chaos.aws.retry import call_with_backoff

if TYPE_CHECKING:
    from chaos.aws.clients import AwsClients

WorkloadKind = Literal["lambda", "ecs", "asg", "elb"]


@dataclass
class Workload:
    """One workload and the subnets it may place capacity in, in the service's order."""

    kind: WorkloadKind
    ref: str  # what `Placement.get` accepts back: name, cluster/service, ARN
    name: str
    arn: str
    subnet_ids: list[str]
    tags: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)  # kind-specific, kept on writes

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.name}"


class Placement(ABC):
    kind: ClassVar[WorkloadKind]
    noun: ClassVar[str]
    #: Settings read fresh on every write, never restored from a snapshot.
    volatile_settings: ClassVar[tuple[str, ...]] = ()

    def snapshot_settings(self, workload: Workload) -> dict[str, Any]:
        """The settings a restore writes back with the original subnets."""
        return {
            key: value
            for key, value in workload.settings.items()
            if key not in self.volatile_settings
        }

    def with_settings(self, current: Workload, snapshot: dict[str, Any]) -> Workload:
        """`current` carrying the snapshot's settings (its volatile ones kept)."""
        volatile = {
            key: current.settings[key] for key in self.volatile_settings if key in current.settings
        }
        return replace(current, settings={**snapshot, **volatile})

    def drift_signature(self, workload: Workload) -> dict[str, Any]:
        """Besides the subnets, what someone else may change that a restore must not undo."""
        return {}

    @abstractmethod
    def get(self, clients: AwsClients, ref: str) -> Workload | None:
        """The workload, or None if it does not exist."""

    @abstractmethod
    def list_all(
        self, clients: AwsClients, *, with_tags: bool, unplaced: bool = False
    ) -> list[Workload]:
        """Every workload of this kind in the region that is placed in subnets; `unplaced`:
        also ECS services placed otherwise (on container instances), for a tag selection to
        refuse them rather than leave them out unsaid."""

    @abstractmethod
    def set_subnets(self, clients: AwsClients, workload: Workload, subnet_ids: list[str]) -> None:
        """Place the workload in exactly `subnet_ids` and wait until the service took it."""

    @abstractmethod
    def tag(self, clients: AwsClients, workload: Workload, key: str, value: str) -> None: ...

    @abstractmethod
    def untag(self, clients: AwsClients, workload: Workload, key: str) -> None: ...


# -- Lambda ---------------------------------------------------------------------------


class LambdaPlacement(Placement):
    kind = "lambda"
    noun = "Lambda function"

    def get(self, clients: AwsClients, ref: str) -> Workload | None:
        try:
            config = functions.get_configuration(clients, ref)
        except functions.FunctionNotFound:
            return None
        return self._workload(config, functions.list_tags(clients, config["FunctionArn"]))

    def list_all(
        self, clients: AwsClients, *, with_tags: bool, unplaced: bool = False
    ) -> list[Workload]:
        workloads = []
        for page in clients.lambda_.get_paginator("list_functions").paginate():
            for config in page["Functions"]:
                if not (config.get("VpcConfig") or {}).get("SubnetIds"):
                    continue
                arn = config["FunctionArn"]
                tags = functions.list_tags(clients, arn) if with_tags else {}
                workloads.append(self._workload(dict(config), tags))
        return workloads

    volatile_settings = ("revision_id",)

    def _workload(self, config: dict[str, Any], tags: dict[str, str]) -> Workload:
        vpc = config.get("VpcConfig") or {}
        settings: dict[str, Any] = {
            "security_group_ids": list(vpc.get("SecurityGroupIds") or []),
            "revision_id": config.get("RevisionId"),
        }
        if "Ipv6AllowedForDualStack" in vpc:
            settings["ipv6_allowed_for_dual_stack"] = bool(vpc["Ipv6AllowedForDualStack"])
        return Workload(
            kind=self.kind,
            ref=config["FunctionArn"],
            name=config["FunctionName"],
            arn=config["FunctionArn"],
            subnet_ids=list(vpc.get("SubnetIds") or []),
            tags=tags,
            settings=settings,
        )

    def drift_signature(self, workload: Workload) -> dict[str, Any]:
        return {
            "security_group_ids": sorted(workload.settings["security_group_ids"]),
            "ipv6_allowed_for_dual_stack": workload.settings.get(
                "ipv6_allowed_for_dual_stack", False
            ),
        }

    def set_subnets(self, clients: AwsClients, workload: Workload, subnet_ids: list[str]) -> None:
        # UpdateFunctionConfiguration replaces the whole VpcConfig: an omitted
        # Ipv6AllowedForDualStack would turn outbound IPv6 off (VpcConfig,
        # https://docs.aws.amazon.com/lambda/latest/api/API_VpcConfig.html).
        vpc_config: dict[str, Any] = {
            "SubnetIds": subnet_ids,
            "SecurityGroupIds": workload.settings["security_group_ids"],
        }
        if "ipv6_allowed_for_dual_stack" in workload.settings:
            vpc_config["Ipv6AllowedForDualStack"] = workload.settings["ipv6_allowed_for_dual_stack"]
        arguments: dict[str, Any] = {"FunctionName": workload.arn, "VpcConfig": vpc_config}
        if workload.settings.get("revision_id"):
            arguments["RevisionId"] = workload.settings["revision_id"]
        call_with_backoff(lambda: clients.lambda_.update_function_configuration(**arguments))
        functions.wait_until_updated(clients, workload.arn)

    def tag(self, clients: AwsClients, workload: Workload, key: str, value: str) -> None:
        functions.tag(clients, workload.arn, {key: value})

    def untag(self, clients: AwsClients, workload: Workload, key: str) -> None:
        functions.untag(clients, workload.arn, [key])


# -- ECS ------------------------------------------------------------------------------


class EcsServicePlacement(Placement):
    kind = "ecs"
    noun = "ECS service"

    def get(self, clients: AwsClients, ref: str) -> Workload | None:
        cluster, service = split_ecs_ref(ref)
        try:
            response = clients.client("ecs").describe_services(
                cluster=cluster, services=[service], include=["TAGS"]
            )
        except ClientError as error:
            if error_code(error) == "ClusterNotFoundException":
                return None
            raise
        services = [item for item in response["services"] if item.get("status") != "INACTIVE"]
        return self._workload(cluster, services[0]) if services else None

    def list_all(
        self, clients: AwsClients, *, with_tags: bool, unplaced: bool = False
    ) -> list[Workload]:
        ecs = clients.client("ecs")
        workloads: list[Workload] = []
        for cluster_arn in paginated(ecs, "list_clusters", "clusterArns"):
            cluster = cluster_arn.rsplit("/", 1)[-1]
            arns = paginated(ecs, "list_services", "serviceArns", cluster=cluster_arn)
            for start in range(0, len(arns), 10):
                response = ecs.describe_services(
                    cluster=cluster_arn, services=arns[start : start + 10], include=["TAGS"]
                )
                workloads.extend(
                    self._workload(cluster, item)
                    for item in response["services"]
                    if item.get("status") != "INACTIVE"
                    and (unplaced or awsvpc_of(item).get("subnets"))
                )
        return workloads

    def _workload(self, cluster: str, service: dict[str, Any]) -> Workload:
        awsvpc = awsvpc_of(service)
        name = f"{cluster}/{service['serviceName']}"
        return Workload(
            kind=self.kind,
            ref=name,
            name=name,
            arn=service["serviceArn"],
            subnet_ids=list(awsvpc.get("subnets") or []),
            tags={tag["key"]: tag["value"] for tag in service.get("tags", []) or []},
            settings={
                "awsvpc": {key: value for key, value in awsvpc.items() if key != "subnets"},
                "deployment_controller": str(
                    (service.get("deploymentController") or {}).get("type") or "ECS"
                ),
                "task_definition": service.get("taskDefinition"),
                "launch_type": service.get("launchType"),
            },
        )

    #: What tells the plan how a service is placed; never sent back with its subnets.
    volatile_settings = ("task_definition", "launch_type")

    def drift_signature(self, workload: Workload) -> dict[str, Any]:
        awsvpc = dict(workload.settings.get("awsvpc", {}))
        awsvpc["securityGroups"] = sorted(awsvpc.get("securityGroups") or [])
        return awsvpc

    def set_subnets(self, clients: AwsClients, workload: Workload, subnet_ids: list[str]) -> None:
        cluster, service = split_ecs_ref(workload.ref)
        # The whole awsvpcConfiguration is replaced on update: send back what we did not change.
        awsvpc = dict(workload.settings.get("awsvpc", {}), subnets=subnet_ids)
        call_with_backoff(
            lambda: clients.client("ecs").update_service(
                cluster=cluster,
                service=service,
                forceNewDeployment=True,
                networkConfiguration={"awsvpcConfiguration": awsvpc},
            )
        )

    def tag(self, clients: AwsClients, workload: Workload, key: str, value: str) -> None:
        call_with_backoff(
            lambda: clients.client("ecs").tag_resource(
                resourceArn=workload.arn, tags=[{"key": key, "value": value}]
            )
        )

    def untag(self, clients: AwsClients, workload: Workload, key: str) -> None:
        call_with_backoff(
            lambda: clients.client("ecs").untag_resource(resourceArn=workload.arn, tagKeys=[key])
        )


def split_ecs_ref(ref: str) -> tuple[str, str]:
    """`cluster/service` or a long-format service ARN -> (cluster, service)."""
    path = ref.split(":service/", 1)[1] if ":service/" in ref else ref
    cluster, _, service = path.partition("/")
    return cluster, service


def awsvpc_of(service: Mapping[str, Any]) -> dict[str, Any]:
    """The awsvpcConfiguration of a service, or of one of its deployments."""
    return dict((service.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {})


def task_network_mode(clients: AwsClients, task_definition: str) -> str | None:
    """The task definition's network mode; None when it names none (then bridge on Linux,
    <default> on Windows: "networkMode", https://docs.aws.amazon.com/AmazonECS/latest/
    developerguide/task_definition_parameters.html#network_mode)."""
    described = call_with_backoff(
        lambda: clients.client("ecs").describe_task_definition(taskDefinition=task_definition)
    )
    mode = described["taskDefinition"].get("networkMode")
    return str(mode) if mode else None


def ecs_rollback(service: Mapping[str, Any]) -> tuple[list[str], str | None]:
    """The subnets of a deployment ECS rolls back to, while it does, and why ECS rolls (or
    may have rolled) the service back: None when nothing says it would.

    With the deployment circuit breaker's rollback on, a deployment that fails (its
    `rolloutState` FAILED) is rolled back "to the last deployment that completed
    successfully" (DeploymentCircuitBreaker, https://docs.aws.amazon.com/AmazonECS/latest/
    APIReference/API_DeploymentCircuitBreaker.html; "How the Amazon ECS deployment circuit
    breaker detects failures", https://docs.aws.amazon.com/AmazonECS/latest/developerguide/
    deployment-circuit-breaker.html): a new PRIMARY deployment with that deployment's
    network configuration, the failed one ACTIVE until its tasks are gone (Deployment,
    https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_Deployment.html).
    """
    deployments = list(service.get("deployments") or [])
    failed = [
        item
        for item in deployments
        if item.get("rolloutState") == "FAILED" and item.get("status") != "PRIMARY"
    ]
    if failed:
        primary: Mapping[str, Any] = next(
            (item for item in deployments if item.get("status") == "PRIMARY"), {}
        )
        reason = failed[0].get("rolloutStateReason") or "no reason given"
        return (
            list(awsvpc_of(primary).get("subnets") or []),
            f"ECS is rolling back its FAILED deployment {failed[0].get('id')}: {reason}",
        )
    breaker = (service.get("deploymentConfiguration") or {}).get("deploymentCircuitBreaker") or {}
    if breaker.get("enable") and breaker.get("rollback"):
        return [], (
            "its deployment circuit breaker rolls a failed deployment back to the last "
            "completed one"
        )
    return [], None


def has_long_service_arn(service_arn: str) -> bool:
    """`...:service/CLUSTER/SERVICE` (the new format); the old `...:service/SERVICE` cannot be
    tagged ("In order to tag a service that has the following ARN format, you need to migrate
    the service to the long ARN", https://docs.aws.amazon.com/AmazonECS/latest/APIReference/
    API_TagResource.html)."""
    return "/" in service_arn.partition(":service/")[2]


# -- Auto Scaling ---------------------------------------------------------------------


class AutoScalingGroupPlacement(Placement):
    kind = "asg"
    noun = "Auto Scaling group"

    def get(self, clients: AwsClients, ref: str) -> Workload | None:
        groups = clients.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[ref]
        )["AutoScalingGroups"]
        return self._workload(groups[0]) if groups else None

    def list_all(
        self, clients: AwsClients, *, with_tags: bool, unplaced: bool = False
    ) -> list[Workload]:
        groups = paginated(
            clients.client("autoscaling"), "describe_auto_scaling_groups", "AutoScalingGroups"
        )
        return [self._workload(group) for group in groups if group.get("VPCZoneIdentifier")]

    #: What tells the plan whether the group can move; never written back.
    volatile_settings = ("suspended_processes",)

    def _workload(self, group: dict[str, Any]) -> Workload:
        name = group["AutoScalingGroupName"]
        return Workload(
            kind=self.kind,
            ref=name,
            name=name,
            arn=group.get("AutoScalingGroupARN", name),
            subnet_ids=zone_identifier_subnets(group),
            tags={tag["Key"]: tag["Value"] for tag in group.get("Tags", []) or []},
            settings={
                "suspended_processes": [
                    str(item["ProcessName"]) for item in group.get("SuspendedProcesses") or []
                ]
            },
        )

    def set_subnets(self, clients: AwsClients, workload: Workload, subnet_ids: list[str]) -> None:
        call_with_backoff(
            lambda: clients.client("autoscaling").update_auto_scaling_group(
                AutoScalingGroupName=workload.name, VPCZoneIdentifier=",".join(subnet_ids)
            )
        )

    def tag(self, clients: AwsClients, workload: Workload, key: str, value: str) -> None:
        call_with_backoff(
            lambda: clients.client("autoscaling").create_or_update_tags(
                Tags=[
                    {
                        "ResourceId": workload.name,
                        "ResourceType": "auto-scaling-group",
                        "Key": key,
                        "Value": value,
                        "PropagateAtLaunch": False,
                    }
                ]
            )
        )

    def untag(self, clients: AwsClients, workload: Workload, key: str) -> None:
        call_with_backoff(
            lambda: clients.client("autoscaling").delete_tags(
                Tags=[
                    {"ResourceId": workload.name, "ResourceType": "auto-scaling-group", "Key": key}
                ]
            )
        )


def zone_identifier_subnets(group: Mapping[str, Any]) -> list[str]:
    """The subnets of an Auto Scaling group's VPCZoneIdentifier, in its order."""
    zone_identifier = str(group.get("VPCZoneIdentifier") or "")
    return [item.strip() for item in zone_identifier.split(",") if item.strip()]


def warm_pool_of(clients: AwsClients, group_name: str) -> dict[str, Any] | None:
    """The group's warm pool configuration (DescribeWarmPool); None when it has none."""
    described = call_with_backoff(
        lambda: clients.client("autoscaling").describe_warm_pool(AutoScalingGroupName=group_name)
    )
    configuration = described.get("WarmPoolConfiguration")
    return dict(configuration) if configuration else None


# -- Elastic Load Balancing v2 --------------------------------------------------------


class LoadBalancerPlacement(Placement):
    kind = "elb"
    noun = "load balancer"

    def get(self, clients: AwsClients, ref: str) -> Workload | None:
        balancer = describe_load_balancer(clients, ref)
        if balancer is None:
            return None
        return self._workloads(clients, [balancer], with_tags=True)[0]

    def list_all(
        self, clients: AwsClients, *, with_tags: bool, unplaced: bool = False
    ) -> list[Workload]:
        balancers = paginated(clients.client("elbv2"), "describe_load_balancers", "LoadBalancers")
        placed = [item for item in balancers if item.get("AvailabilityZones")]
        return self._workloads(clients, placed, with_tags=with_tags)

    def _workloads(
        self, clients: AwsClients, balancers: list[dict[str, Any]], *, with_tags: bool
    ) -> list[Workload]:
        tags = (
            load_balancer_tags(clients, [item["LoadBalancerArn"] for item in balancers])
            if with_tags
            else {}
        )
        return [
            Workload(
                kind=self.kind,
                ref=item["LoadBalancerArn"],
                name=item["LoadBalancerName"],
                arn=item["LoadBalancerArn"],
                subnet_ids=[
                    zone["SubnetId"]
                    for zone in item.get("AvailabilityZones", [])
                    if zone.get("SubnetId")
                ],
                tags=tags.get(item["LoadBalancerArn"], {}),
                settings={
                    "type": item.get("Type", "application"),
                    "subnet_mappings": subnet_mappings_of(item),
                },
            )
            for item in balancers
        ]

    def set_subnets(self, clients: AwsClients, workload: Workload, subnet_ids: list[str]) -> None:
        # The given subnets "replace the previously enabled subnets" (SetSubnets,
        # https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/
        # API_SetSubnets.html), for a Network Load Balancer too: its Availability Zones "can
        # [be enabled or disabled] at any time" ("Update the Availability Zones for your
        # Network Load Balancer", https://docs.aws.amazon.com/elasticloadbalancing/latest/
        # network/availability-zones.html). That page adds: no subnet can be removed while
        # the NLB has an active VPC endpoint association, a removal can take up to 3
        # minutes, and a subnet added back gets a new network interface. So a restore sends
        # subnet mappings, not bare subnets: an NLB's Elastic IPs and chosen private / IPv6
        # addresses come back only through them (SubnetMapping, .../API_SubnetMapping.html);
        # an address AWS assigned itself is not kept.
        known = workload.settings.get("subnet_mappings") or {}
        mappings = [
            dict(known.get(subnet_id) or {"SubnetId": subnet_id}) for subnet_id in subnet_ids
        ]
        call_with_backoff(
            lambda: clients.client("elbv2").set_subnets(
                LoadBalancerArn=workload.arn, SubnetMappings=mappings
            )
        )

    def tag(self, clients: AwsClients, workload: Workload, key: str, value: str) -> None:
        call_with_backoff(
            lambda: clients.client("elbv2").add_tags(
                ResourceArns=[workload.arn], Tags=[{"Key": key, "Value": value}]
            )
        )

    def untag(self, clients: AwsClients, workload: Workload, key: str) -> None:
        call_with_backoff(
            lambda: clients.client("elbv2").remove_tags(ResourceArns=[workload.arn], TagKeys=[key])
        )


#: LoadBalancerAddress field -> SubnetMapping field (the fields a SubnetMapping can pin).
_PINNED_ADDRESS_FIELDS = {
    "AllocationId": "AllocationId",
    "PrivateIPv4Address": "PrivateIPv4Address",
    "IPv6Address": "IPv6Address",
}


def subnet_mappings_of(balancer: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Per subnet, the SubnetMapping that recreates its addresses (EIP, private, IPv6)."""
    mappings: dict[str, dict[str, str]] = {}
    for zone in balancer.get("AvailabilityZones", []):
        if not zone.get("SubnetId"):
            continue
        mapping = {"SubnetId": str(zone["SubnetId"])}
        for address in zone.get("LoadBalancerAddresses") or []:
            mapping.update(
                {
                    target: str(address[source])
                    for source, target in _PINNED_ADDRESS_FIELDS.items()
                    if address.get(source)
                }
            )
        prefixes = zone.get("SourceNatIpv6Prefixes") or []
        if prefixes:
            mapping["SourceNatIpv6Prefix"] = str(prefixes[0])
        mappings[mapping["SubnetId"]] = mapping
    return mappings


def load_balancer_tags(clients: AwsClients, arns: list[str]) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for start in range(0, len(arns), 20):
        response = clients.client("elbv2").describe_tags(ResourceArns=arns[start : start + 20])
        for description in response["TagDescriptions"]:
            tags[description["ResourceArn"]] = {
                tag["Key"]: tag["Value"] for tag in description.get("Tags", [])
            }
    return tags


def paginated(client: Any, operation: str, key: str, **arguments: Any) -> list[Any]:
    return [
        item for page in client.get_paginator(operation).paginate(**arguments) for item in page[key]
    ]


PLACEMENTS: dict[WorkloadKind, Placement] = {
    placement.kind: placement
    for placement in (
        LambdaPlacement(),
        EcsServicePlacement(),
        AutoScalingGroupPlacement(),
        LoadBalancerPlacement(),
    )
}


def placement_for(kind: str) -> Placement:
    return PLACEMENTS[kind]  # type: ignore[index]


def workloads_with_tags(clients: AwsClients, tags: dict[str, str]) -> list[Workload]:
    """Every placed workload, of any kind, carrying all of `tags`."""
    return [
        workload
        for placement in PLACEMENTS.values()
        for workload in placement.list_all(clients, with_tags=True, unplaced=True)
        if all(workload.tags.get(key) == value for key, value in tags.items())
    ]


#: States of a VPC endpoint connection that no longer hold its endpoint service (State,
#: https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_VpcEndpointConnection.html).
_ENDED_ENDPOINT_STATES = {"deleting", "deleted", "rejected", "failed", "expired"}


def active_endpoint_connections(clients: AwsClients, balancer_arn: str) -> list[str]:
    """The VPC endpoints connected to an endpoint service (PrivateLink) that this Network
    Load Balancer serves, as 'service vpce-…' labels; none when it serves no service."""
    ec2 = clients.client("ec2")
    services = [
        service["ServiceId"]
        for service in paginated(
            ec2, "describe_vpc_endpoint_service_configurations", "ServiceConfigurations"
        )
        if balancer_arn in (service.get("NetworkLoadBalancerArns") or [])
    ]
    if not services:
        return []
    connections = paginated(
        ec2,
        "describe_vpc_endpoint_connections",
        "VpcEndpointConnections",
        Filters=[{"Name": "service-id", "Values": services}],
    )
    return [
        f"{item.get('ServiceId')} {item.get('VpcEndpointId')}"
        for item in connections
        if str(item.get("VpcEndpointState", "")).lower() not in _ENDED_ENDPOINT_STATES
    ]


def describe_load_balancer(clients: AwsClients, ref: str) -> dict[str, Any] | None:
    """The load balancer named or ARN'd by `ref`; None when it does not exist."""
    selector = {"LoadBalancerArns": [ref]} if ref.startswith("arn:") else {"Names": [ref]}
    try:
        balancers = call_with_backoff(
            lambda: clients.client("elbv2").describe_load_balancers(**selector)
        )["LoadBalancers"]
    except ClientError as error:
        if error_code(error) in ("LoadBalancerNotFound", "LoadBalancerNotFoundException"):
            return None
        raise
    return dict(balancers[0]) if balancers else None
