"""What an az-loss refuses before any change: targets that cannot be pinned out of an AZ ID.

Each check raises PreflightRefused with one line naming the target, why and what to do;
they run at plan time and again right before each change (the target may have changed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chaos.aws.workloads import (
    Workload,
    active_endpoint_connections,
    has_long_service_arn,
    warm_pool_of,
)
from chaos.errors import PreflightRefused

if TYPE_CHECKING:
    from chaos.aws import AwsClients

__all__ = ["REBALANCING_PROCESSES", "refuse_unmovable"]


def refuse_unmovable(clients: AwsClients, workload: Workload) -> None:
    """Every refusal below, in order."""
    refuse_unchangeable(workload)
    refuse_endpoint_service_backend(clients, workload)
    refuse_unmovable_group(clients, workload)


def refuse_unchangeable(workload: Workload) -> None:
    """Targets whose subnets cannot be removed: a Gateway Load Balancer; ECS services whose
    subnets UpdateService cannot change, or that cannot carry the lock."""
    if workload.kind == "elb" and workload.settings.get("type") == "gateway":
        # "[Gateway Load Balancers] You can specify subnets from one or more Availability
        # Zones. You must include all subnets that were enabled previously, with their
        # existing configurations, plus any additional subnets" (SetSubnets, https://docs.
        # aws.amazon.com/elasticloadbalancing/latest/APIReference/API_SetSubnets.html):
        # SetSubnets only adds to a GWLB; removing the lost AZ's subnet would fail mid-run.
        raise PreflightRefused(
            f"{workload.label}: a Gateway Load Balancer's subnets can only be added to, never "
            "removed (SetSubnets): it cannot be pinned out of an AZ ID; use mode: blackhole "
            "or leave it out of the targets"
        )
    if workload.kind != "ecs":
        return
    controller = workload.settings.get("deployment_controller", "ECS")
    if controller != "ECS":
        # "For services using the blue/green (CODE_DEPLOY) deployment controller, only the
        # desired count, ... can be updated"; EXTERNAL: only the desired count, ... (UpdateService,
        # https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_UpdateService.html).
        raise PreflightRefused(
            f"{workload.label}: its deployment controller is {controller}; UpdateService cannot "
            "change its subnets (that takes a new CodeDeploy deployment or task set): refusing"
        )
    if not has_long_service_arn(workload.arn):
        raise PreflightRefused(
            f"{workload.label}: its ARN {workload.arn} is in the old format, which cannot be "
            "tagged with the run's lock; migrate it to the long ARN format (opt in to the new "
            "ARN and resource ID format, then recreate the service): refusing"
        )


#: Auto Scaling processes without which a group's instances do not leave the AZs it no
#: longer has: AZRebalance launches in the remaining AZs, then terminates; with Launch
#: suspended it "stops rebalancing the group", with Terminate suspended it "can launch new
#: instances without terminating the old ones" ("How suspended processes affect other
#: processes", https://docs.aws.amazon.com/autoscaling/ec2/userguide/understand-how-
#: suspending-processes-affects-other-processes.html; "Considerations for suspending
#: processes": a group whose Availability Zones change meanwhile stays unbalanced,
#: .../suspend-resume-considerations.html).
REBALANCING_PROCESSES = ("AZRebalance", "Launch", "Terminate")


def refuse_unmovable_group(clients: AwsClients, workload: Workload) -> None:
    """An Auto Scaling group that would keep its instances in the lost AZ: a rebalancing
    process suspended, or a warm pool, whose pre-initialized instances a scale-out draws on
    ("Whenever your application needs to scale out, the Auto Scaling group can draw on the
    warm pool", PutWarmPool, https://docs.aws.amazon.com/autoscaling/ec2/APIReference/
    API_PutWarmPool.html) and which a pin neither moves nor counts."""
    if workload.kind != "asg":
        return
    suspended = [
        process
        for process in REBALANCING_PROCESSES
        if process in workload.settings.get("suspended_processes", [])
    ]
    if suspended:
        raise PreflightRefused(
            f"{workload.label}: its {' and '.join(suspended)} process"
            f"{'es are' if len(suspended) > 1 else ' is'} suspended: Auto Scaling would not "
            "move its instances out of the lost AZ (AZRebalance launches in the AZs it keeps, "
            f"then terminates); resume {'them' if len(suspended) > 1 else 'it'} or leave "
            "the group out of the targets: refusing"
        )
    warm_pool = warm_pool_of(clients, workload.name)
    if warm_pool is not None:
        raise PreflightRefused(
            f"{workload.label}: it has a warm pool (PoolState {warm_pool.get('PoolState')}): "
            "a scale-out draws on its pre-initialized instances, which removing subnets "
            "neither moves out of the lost AZ nor counts; delete the warm pool or leave the "
            "group out of the targets: refusing"
        )


def refuse_endpoint_service_backend(clients: AwsClients, workload: Workload) -> None:
    """A Network Load Balancer behind a PrivateLink endpoint service with connected endpoints:
    "You can't remove a subnet if the Network Load Balancer has an active Amazon VPC
    endpoint association" ("Update the Availability Zones for your Network Load Balancer",
    https://docs.aws.amazon.com/elasticloadbalancing/latest/network/availability-zones.html):
    SetSubnets would fail mid-run; refuse before anything changes."""
    if workload.kind != "elb" or workload.settings.get("type") != "network":
        return
    connected = active_endpoint_connections(clients, workload.arn)
    if connected:
        raise PreflightRefused(
            f"{workload.label}: it serves a VPC endpoint service with {len(connected)} active "
            f"endpoint connection(s) ({', '.join(connected[:3])}"
            f"{', ...' if len(connected) > 3 else ''}); ELB cannot remove its subnets while "
            "they are connected: refusing"
        )
