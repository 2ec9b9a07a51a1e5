"""Where workloads run: the subnets of Lambda functions, ECS services, ASGs and load balancers.

Each kind has a `Placement` that reads a workload's subnets, writes them back (waiting
until the service accepted the change) and manages the run's lock tag on it.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from botocore.exceptions import ClientError

from chaos.aws import lambda_functions as functions
from chaos.aws.clients import error_code
from chaos.aws.retry import call_with_backoff

if TYPE_CHECKING:
    from chaos.aws.clients import AwsClients

log = logging.getLogger(__name__)

WorkloadKind = Literal["lambda", "ecs", "asg", "elb"]

#: How long a pin or restore waits for an ECS service to settle; never fails the run.
ECS_STABLE_TIMEOUT_S = 120.0
ECS_POLL_INTERVAL_S = 5.0


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

    @abstractmethod
    def get(self, clients: AwsClients, ref: str) -> Workload | None:
        """The workload, or None if it does not exist."""

    @abstractmethod
    def list_all(self, clients: AwsClients, *, with_tags: bool) -> list[Workload]:
        """Every workload of this kind in the region that is placed in subnets."""

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

    def list_all(self, clients: AwsClients, *, with_tags: bool) -> list[Workload]:
        workloads = []
        for page in clients.lambda_.get_paginator("list_functions").paginate():
            for config in page["Functions"]:
                if not (config.get("VpcConfig") or {}).get("SubnetIds"):
                    continue
                arn = config["FunctionArn"]
                tags = functions.list_tags(clients, arn) if with_tags else {}
                workloads.append(self._workload(dict(config), tags))
        return workloads

    def _workload(self, config: dict[str, Any], tags: dict[str, str]) -> Workload:
        vpc = config.get("VpcConfig") or {}
        return Workload(
            kind=self.kind, ref=config["FunctionArn"], name=config["FunctionName"],
            arn=config["FunctionArn"], subnet_ids=list(vpc.get("SubnetIds") or []), tags=tags,
            settings={"security_group_ids": list(vpc.get("SecurityGroupIds") or []),
                      "revision_id": config.get("RevisionId")},
        )

    def set_subnets(self, clients: AwsClients, workload: Workload, subnet_ids: list[str]) -> None:
        arguments: dict[str, Any] = {
            "FunctionName": workload.arn,
            "VpcConfig": {"SubnetIds": subnet_ids,
                          "SecurityGroupIds": workload.settings["security_group_ids"]},
        }
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
                cluster=cluster, services=[service], include=["TAGS"])
        except ClientError as error:
            if error_code(error) == "ClusterNotFoundException":
                return None
            raise
        services = [item for item in response["services"] if item.get("status") != "INACTIVE"]
        return self._workload(cluster, services[0]) if services else None

    def list_all(self, clients: AwsClients, *, with_tags: bool) -> list[Workload]:
        ecs = clients.client("ecs")
        workloads: list[Workload] = []
        for cluster_arn in paginated(ecs, "list_clusters", "clusterArns"):
            cluster = cluster_arn.rsplit("/", 1)[-1]
            arns = paginated(ecs, "list_services", "serviceArns", cluster=cluster_arn)
            for start in range(0, len(arns), 10):
                response = ecs.describe_services(cluster=cluster_arn,
                                                 services=arns[start:start + 10], include=["TAGS"])
                workloads.extend(
                    self._workload(cluster, item) for item in response["services"]
                    if item.get("status") != "INACTIVE" and awsvpc_of(item).get("subnets")
                )
        return workloads

    def _workload(self, cluster: str, service: dict[str, Any]) -> Workload:
        awsvpc = awsvpc_of(service)
        name = f"{cluster}/{service['serviceName']}"
        return Workload(
            kind=self.kind, ref=name, name=name, arn=service["serviceArn"],
            subnet_ids=list(awsvpc.get("subnets") or []),
            tags={tag["key"]: tag["value"] for tag in service.get("tags", []) or []},
            settings={"awsvpc": {key: value for key, value in awsvpc.items()
                                 if key != "subnets"}},
        )

    def set_subnets(self, clients: AwsClients, workload: Workload, subnet_ids: list[str]) -> None:
        cluster, service = split_ecs_ref(workload.ref)
        # The whole awsvpcConfiguration is replaced on update: send back what we did not change.
        awsvpc = dict(workload.settings.get("awsvpc", {}), subnets=subnet_ids)
        call_with_backoff(lambda: clients.client("ecs").update_service(
            cluster=cluster, service=service, forceNewDeployment=True,
            networkConfiguration={"awsvpcConfiguration": awsvpc}))
        wait_for_ecs_service(clients, cluster, service)

    def tag(self, clients: AwsClients, workload: Workload, key: str, value: str) -> None:
        call_with_backoff(lambda: clients.client("ecs").tag_resource(
            resourceArn=workload.arn, tags=[{"key": key, "value": value}]))

    def untag(self, clients: AwsClients, workload: Workload, key: str) -> None:
        call_with_backoff(lambda: clients.client("ecs").untag_resource(
            resourceArn=workload.arn, tagKeys=[key]))


def split_ecs_ref(ref: str) -> tuple[str, str]:
    """`cluster/service` or a long-format service ARN -> (cluster, service)."""
    path = ref.split(":service/", 1)[1] if ":service/" in ref else ref
    cluster, _, service = path.partition("/")
    return cluster, service


def awsvpc_of(service: dict[str, Any]) -> dict[str, Any]:
    return dict((service.get("networkConfiguration") or {}).get("awsvpcConfiguration") or {})


def wait_for_ecs_service(clients: AwsClients, cluster: str, service: str) -> bool:
    """Poll until one deployment runs the desired count; False (logged) after the bound."""
    deadline = time.monotonic() + ECS_STABLE_TIMEOUT_S
    max_polls = int(ECS_STABLE_TIMEOUT_S / ECS_POLL_INTERVAL_S) + 1
    for _ in range(max_polls):
        described = clients.client("ecs").describe_services(cluster=cluster, services=[service])
        services = described["services"]
        if not services or ecs_service_stable(services[0]):
            return True
        if time.monotonic() + ECS_POLL_INTERVAL_S > deadline:
            break
        time.sleep(ECS_POLL_INTERVAL_S)
    log.warning("ECS service %s/%s did not settle within %.0fs; continuing", cluster, service,
                ECS_STABLE_TIMEOUT_S)
    return False


def ecs_service_stable(service: dict[str, Any]) -> bool:
    deployments = service.get("deployments", [])
    return len(deployments) == 1 and service.get("runningCount") == service.get("desiredCount")


# -- Auto Scaling ---------------------------------------------------------------------


class AutoScalingGroupPlacement(Placement):
    kind = "asg"
    noun = "Auto Scaling group"

    def get(self, clients: AwsClients, ref: str) -> Workload | None:
        groups = clients.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[ref])["AutoScalingGroups"]
        return self._workload(groups[0]) if groups else None

    def list_all(self, clients: AwsClients, *, with_tags: bool) -> list[Workload]:
        groups = paginated(clients.client("autoscaling"), "describe_auto_scaling_groups",
                           "AutoScalingGroups")
        return [self._workload(group) for group in groups if group.get("VPCZoneIdentifier")]

    def _workload(self, group: dict[str, Any]) -> Workload:
        name = group["AutoScalingGroupName"]
        zone_identifier = str(group.get("VPCZoneIdentifier") or "")
        return Workload(
            kind=self.kind, ref=name, name=name, arn=group.get("AutoScalingGroupARN", name),
            subnet_ids=[item.strip() for item in zone_identifier.split(",") if item.strip()],
            tags={tag["Key"]: tag["Value"] for tag in group.get("Tags", []) or []},
        )

    def set_subnets(self, clients: AwsClients, workload: Workload, subnet_ids: list[str]) -> None:
        call_with_backoff(lambda: clients.client("autoscaling").update_auto_scaling_group(
            AutoScalingGroupName=workload.name, VPCZoneIdentifier=",".join(subnet_ids)))

    def tag(self, clients: AwsClients, workload: Workload, key: str, value: str) -> None:
        call_with_backoff(lambda: clients.client("autoscaling").create_or_update_tags(Tags=[{
            "ResourceId": workload.name, "ResourceType": "auto-scaling-group", "Key": key,
            "Value": value, "PropagateAtLaunch": False}]))

    def untag(self, clients: AwsClients, workload: Workload, key: str) -> None:
        call_with_backoff(lambda: clients.client("autoscaling").delete_tags(Tags=[{
            "ResourceId": workload.name, "ResourceType": "auto-scaling-group", "Key": key}]))


# -- Elastic Load Balancing v2 --------------------------------------------------------


class LoadBalancerPlacement(Placement):
    kind = "elb"
    noun = "load balancer"

    def get(self, clients: AwsClients, ref: str) -> Workload | None:
        elbv2 = clients.client("elbv2")
        selector = {"LoadBalancerArns": [ref]} if ref.startswith("arn:") else {"Names": [ref]}
        try:
            balancers = elbv2.describe_load_balancers(**selector)["LoadBalancers"]
        except ClientError as error:
            if error_code(error) in ("LoadBalancerNotFound", "LoadBalancerNotFoundException"):
                return None
            raise
        if not balancers:
            return None
        return self._workloads(clients, balancers, with_tags=True)[0]

    def list_all(self, clients: AwsClients, *, with_tags: bool) -> list[Workload]:
        balancers = paginated(clients.client("elbv2"), "describe_load_balancers", "LoadBalancers")
        placed = [item for item in balancers if item.get("AvailabilityZones")]
        return self._workloads(clients, placed, with_tags=with_tags)

    def _workloads(self, clients: AwsClients, balancers: list[dict[str, Any]], *,
                   with_tags: bool) -> list[Workload]:
        tags = load_balancer_tags(clients, [item["LoadBalancerArn"] for item in balancers]) \
            if with_tags else {}
        return [
            Workload(
                kind=self.kind, ref=item["LoadBalancerArn"], name=item["LoadBalancerName"],
                arn=item["LoadBalancerArn"],
                subnet_ids=[zone["SubnetId"] for zone in item.get("AvailabilityZones", [])
                            if zone.get("SubnetId")],
                tags=tags.get(item["LoadBalancerArn"], {}),
                settings={"type": item.get("Type", "application")},
            )
            for item in balancers
        ]

    def set_subnets(self, clients: AwsClients, workload: Workload, subnet_ids: list[str]) -> None:
        call_with_backoff(lambda: clients.client("elbv2").set_subnets(
            LoadBalancerArn=workload.arn, Subnets=subnet_ids))

    def tag(self, clients: AwsClients, workload: Workload, key: str, value: str) -> None:
        call_with_backoff(lambda: clients.client("elbv2").add_tags(
            ResourceArns=[workload.arn], Tags=[{"Key": key, "Value": value}]))

    def untag(self, clients: AwsClients, workload: Workload, key: str) -> None:
        call_with_backoff(lambda: clients.client("elbv2").remove_tags(
            ResourceArns=[workload.arn], TagKeys=[key]))


def load_balancer_tags(clients: AwsClients, arns: list[str]) -> dict[str, dict[str, str]]:
    tags: dict[str, dict[str, str]] = {}
    for start in range(0, len(arns), 20):
        response = clients.client("elbv2").describe_tags(ResourceArns=arns[start:start + 20])
        for description in response["TagDescriptions"]:
            tags[description["ResourceArn"]] = {
                tag["Key"]: tag["Value"] for tag in description.get("Tags", [])}
    return tags


def paginated(client: Any, operation: str, key: str, **arguments: Any) -> list[Any]:
    return [item for page in client.get_paginator(operation).paginate(**arguments)
            for item in page[key]]


PLACEMENTS: dict[WorkloadKind, Placement] = {
    placement.kind: placement
    for placement in (LambdaPlacement(), EcsServicePlacement(), AutoScalingGroupPlacement(),
                      LoadBalancerPlacement())
}


def placement_for(kind: str) -> Placement:
    return PLACEMENTS[kind]  # type: ignore[index]


def workloads_with_tags(clients: AwsClients, tags: dict[str, str]) -> list[Workload]:
    """Every placed workload, of any kind, carrying all of `tags`."""
    return [
        workload
        for placement in PLACEMENTS.values()
        for workload in placement.list_all(clients, with_tags=True)
        if all(workload.tags.get(key) == value for key, value in tags.items())
    ]
