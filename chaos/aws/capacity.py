"""A workload's capacity per AZ ID, and waiting (bounded) until it has converged.

Changing a workload's subnets moves nothing at once: ECS replaces the service's tasks by a
rolling deployment, Auto Scaling rebalances the group (launch before terminate), Lambda
and ELB update their configuration. An `az-loss` pin is in force only once nothing is
left in the lost AZ ID, and a restore is done only once capacity is back where it was.

Counted per AZ ID (never per AZ name: names map to different zones in every account):

- ECS service: RUNNING tasks, by their ENI's AZ; steady with one deployment (COMPLETED),
  as many running as desired and no task starting or stopping;
- Auto Scaling group: InService instances; steady with as many as desired and none
  Pending, Terminating, ...;
- Lambda (VPC): its subnets; steady at `LastUpdateStatus: Successful`;
- load balancer: its enabled subnets; steady at `State: active`.

ECS task and Auto Scaling instance states: "Amazon ECS task lifecycle"
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle.html), "Amazon
EC2 Auto Scaling instance lifecycle" (https://docs.aws.amazon.com/autoscaling/ec2/userguide/
ec2-auto-scaling-lifecycle.html); a stopped task stays listed for a while
(`desiredStatus` STOPPED, "ListTasks", https://docs.aws.amazon.com/AmazonECS/latest/
APIReference/API_ListTasks.html), hence both listings.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chaos.aws import lambda_functions as functions
from chaos.aws.retry import call_with_backoff
from chaos.aws.workloads import (
    awsvpc_of,
    describe_load_balancer,
    ecs_rollback,
    split_ecs_ref,
    zone_identifier_subnets,
)
from chaos.clock import utc_now

if TYPE_CHECKING:
    from chaos.aws.clients import AwsClients
    from chaos.az.mapping import AzMapping

#: Polls start fast (a sandbox drains in seconds) and slow down to this (AWS takes minutes).
POLL_FIRST_S = 0.5
POLL_MAX_S = 5.0
POLL_GROWTH = 1.5
DESCRIBE_TASKS_BATCH = 100  # DescribeTasks takes up to 100 tasks
#: Auto Scaling lifecycle states of instances that no longer hold capacity anywhere.
GONE_INSTANCE_STATES = ("Terminated", "Detached")
STEADY_INSTANCE_STATES = ("InService", "Standby")


@dataclass(frozen=True)
class Capacity:
    """One reading of a workload's capacity."""

    unit: str  # what `per_az` counts: running tasks, InService instances, subnets
    per_az: dict[str, int]  # AZ ID -> units in service there
    occupied: dict[str, int]  # AZ ID -> anything still placed there (starting, draining)
    steady: bool  # no deployment, rebalancing or update in flight
    state: str  # for messages: "1 deployment COMPLETED, 3/3 running"
    blocked: str | None = None  # it will not converge by waiting (a failed update)
    #: The subnets it places capacity in now (an ECS service rolling back: the rollback
    #: deployment's too), and why ECS rolled it back, when something says it did or may have
    #: (chaos.aws.workloads.ecs_rollback).
    placed_in: frozenset[str] = frozenset()
    rollback: str | None = None

    def summary(self) -> str:
        counts = ", ".join(f"{az_id}: {count}" for az_id, count in sorted(self.per_az.items()))
        return f"{self.unit} per AZ ID {{{counts}}} ({self.state})"


@dataclass
class AzIds:
    """AZ names -> AZ IDs through the account's mapping; subnets -> AZ IDs through EC2."""

    clients: AwsClients
    mapping: AzMapping
    _subnets: dict[str, str] = field(default_factory=dict)

    def of_zone(self, az_name: str | None, subnet_id: str | None = None) -> str:
        found = self.mapping.id_of(az_name) if az_name else None
        if found:
            return found
        if subnet_id:
            return self.of_subnets([subnet_id]).get(subnet_id, "unknown")
        return "unknown"

    def of_subnets(self, subnet_ids: Iterable[str]) -> dict[str, str]:
        missing = sorted({item for item in subnet_ids if item not in self._subnets})
        if missing:
            pages = (
                self.clients.client("ec2")
                .get_paginator("describe_subnets")
                .paginate(SubnetIds=missing)
            )
            for page in pages:
                for subnet in page["Subnets"]:
                    az_id = subnet.get("AvailabilityZoneId") or self.mapping.id_of(
                        str(subnet.get("AvailabilityZone", ""))
                    )
                    self._subnets[subnet["SubnetId"]] = str(az_id or "unknown")
        return {item: self._subnets.get(item, "unknown") for item in subnet_ids}


# -- readers ---------------------------------------------------------------------------


def read_capacity(clients: AwsClients, kind: str, ref: str, az_ids: AzIds) -> Capacity | None:
    """The workload's capacity now; None when it no longer exists."""
    return READERS[kind](clients, ref, az_ids)


def ecs_capacity(clients: AwsClients, ref: str, az_ids: AzIds) -> Capacity | None:
    cluster, name = split_ecs_ref(ref)
    described = call_with_backoff(
        lambda: clients.client("ecs").describe_services(cluster=cluster, services=[name])
    )
    services = [item for item in described["services"] if item.get("status") != "INACTIVE"]
    if not services:
        return None
    service = services[0]
    tasks = [
        task
        for task in service_tasks(clients, cluster, name)
        if task.get("lastStatus") != "STOPPED"
    ]
    running = [
        task
        for task in tasks
        if task.get("lastStatus") == "RUNNING" and task.get("desiredStatus") == "RUNNING"
    ]
    desired = int(service.get("desiredCount") or 0)
    deployments = list(service.get("deployments") or [])
    rollouts = [str(item.get("rolloutState") or "") for item in deployments]
    primary = next(
        (
            str(item.get("rolloutState") or "")
            for item in deployments
            if item.get("status") == "PRIMARY"
        ),
        "",
    )
    steady = (
        len(deployments) <= 1
        and all(state in ("", "COMPLETED") for state in rollouts)
        and len(running) == desired
        and len(tasks) == len(running)
    )
    state = (
        f"{len(deployments)} deployment(s), primary {primary or 'without rollout state'}; "
        f"{len(running)}/{desired} running, {len(tasks) - len(running)} starting or "
        "stopping"
    )

    def zone(task: Mapping[str, Any]) -> str:
        return az_ids.of_zone(task.get("availabilityZone"), eni_subnet(task))

    rolling_back_to, rollback = ecs_rollback(service)
    return Capacity(
        unit="running tasks",
        per_az=count_by(running, zone),
        occupied=count_by(tasks, zone),
        steady=steady,
        state=state,
        blocked="its deployment FAILED" if primary == "FAILED" else None,
        placed_in=frozenset([*(awsvpc_of(service).get("subnets") or []), *rolling_back_to]),
        rollback=rollback,
    )


def service_tasks(clients: AwsClients, cluster: str, service: str) -> list[dict[str, Any]]:
    """Every task of the service that is running or stopping (and recently stopped ones)."""
    ecs = clients.client("ecs")
    arns: list[str] = []
    for desired in ("RUNNING", "STOPPED"):
        pages = ecs.get_paginator("list_tasks").paginate(
            cluster=cluster, serviceName=service, desiredStatus=desired
        )
        arns += [arn for page in pages for arn in page["taskArns"]]
    return [
        task
        for start in range(0, len(arns), DESCRIBE_TASKS_BATCH)
        for task in describe_tasks(clients, cluster, arns[start : start + DESCRIBE_TASKS_BATCH])
    ]


def describe_tasks(clients: AwsClients, cluster: str, arns: list[str]) -> list[dict[str, Any]]:
    response = call_with_backoff(
        lambda: clients.client("ecs").describe_tasks(cluster=cluster, tasks=arns)
    )
    return list(response["tasks"])


def eni_subnet(task: Mapping[str, Any]) -> str | None:
    for attachment in task.get("attachments") or []:
        for detail in attachment.get("details") or []:
            if detail.get("name") == "subnetId":
                return str(detail.get("value"))
    return None


def asg_capacity(clients: AwsClients, ref: str, az_ids: AzIds) -> Capacity | None:
    groups = call_with_backoff(
        lambda: clients.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[ref]
        )
    )["AutoScalingGroups"]
    if not groups:
        return None
    group = groups[0]
    instances = [
        item
        for item in group.get("Instances") or []
        if item.get("LifecycleState") not in GONE_INSTANCE_STATES
    ]
    in_service = [item for item in instances if item.get("LifecycleState") == "InService"]
    moving = Counter(
        str(item.get("LifecycleState"))
        for item in instances
        if item.get("LifecycleState") not in STEADY_INSTANCE_STATES
    )
    desired = int(group.get("DesiredCapacity") or 0)
    steady = not moving and len(instances) == desired
    state = ", ".join(
        [
            f"{len(in_service)}/{desired} InService",
            *(f"{count} {name}" for name, count in sorted(moving.items())),
        ]
    )

    def zone(item: Mapping[str, Any]) -> str:
        return az_ids.of_zone(item.get("AvailabilityZone"))

    return Capacity(
        unit="InService instances",
        per_az=count_by(in_service, zone),
        occupied=count_by(instances, zone),
        steady=steady,
        state=state,
        placed_in=frozenset(zone_identifier_subnets(group)),
    )


def lambda_capacity(clients: AwsClients, ref: str, az_ids: AzIds) -> Capacity | None:
    try:
        config = functions.get_configuration(clients, ref)
    except functions.FunctionNotFound:
        return None
    subnet_ids = list((config.get("VpcConfig") or {}).get("SubnetIds") or [])
    zones = az_ids.of_subnets(subnet_ids)
    per_az = dict(sorted(Counter(zones[subnet_id] for subnet_id in subnet_ids).items()))
    status = str(config.get("LastUpdateStatus") or "Successful")
    blocked = None
    if status == "Failed":
        blocked = f"update failed: {config.get('LastUpdateStatusReason') or 'no reason given'}"
    return Capacity(
        unit="subnets",
        per_az=per_az,
        occupied=per_az,
        steady=status == "Successful",
        state=f"LastUpdateStatus {status}",
        blocked=blocked,
        placed_in=frozenset(subnet_ids),
    )


def elb_capacity(clients: AwsClients, ref: str, az_ids: AzIds) -> Capacity | None:
    balancer = describe_load_balancer(clients, ref)
    if balancer is None:
        return None
    zones = [zone for zone in balancer.get("AvailabilityZones") or [] if zone.get("SubnetId")]
    per_az = count_by(zones, lambda zone: az_ids.of_zone(zone.get("ZoneName"), zone["SubnetId"]))
    code = str((balancer.get("State") or {}).get("Code") or "active")
    return Capacity(
        unit="subnets",
        per_az=per_az,
        occupied=per_az,
        steady=code == "active",
        state=f"State {code}",
        blocked="the load balancer failed" if code == "failed" else None,
        placed_in=frozenset(str(zone["SubnetId"]) for zone in zones),
    )


READERS: dict[str, Callable[[AwsClients, str, AzIds], Capacity | None]] = {
    "ecs": ecs_capacity,
    "asg": asg_capacity,
    "lambda": lambda_capacity,
    "elb": elb_capacity,
}


def count_by(
    items: Iterable[Mapping[str, Any]], key: Callable[[Mapping[str, Any]], str]
) -> dict[str, int]:
    return dict(sorted(Counter(key(item) for item in items).items()))


# -- goals ----------------------------------------------------------------------------


def lost_az_empty(az_id: str) -> Callable[[Capacity], bool]:
    """Pin converged: steady, and nothing left (not even draining) in the lost AZ ID."""
    return lambda capacity: capacity.steady and not capacity.occupied.get(az_id)


def back_to(before: Mapping[str, int]) -> Callable[[Capacity], bool]:
    """Restore converged: steady, in every AZ ID that had capacity before, spread as evenly.

    ECS and Auto Scaling balance capacity over the AZs but choose themselves where an odd
    unit goes: 2/1/1 may come back as 1/2/1. So: the same AZ IDs hold capacity and, when
    the total is the same as before, the gap between the fullest and the emptiest of them
    is no wider than it was (1/1/1 must come back as 1/1/1). When someone scaled the
    workload meanwhile, the AZ IDs are what is compared.
    """
    had = {az_id for az_id, count in before.items() if count}

    def back(capacity: Capacity) -> bool:
        has = {az_id for az_id, count in capacity.per_az.items() if count}
        if not capacity.steady or not had <= has:
            return False
        if sum(capacity.per_az.values()) != sum(before.values()):
            return True
        return gap(capacity.per_az, had) <= gap(before, had)

    return back


def gap(counts: Mapping[str, int], az_ids: Iterable[str]) -> int:
    """How many more units the fullest of these AZ IDs holds than the emptiest."""
    held = [counts.get(az_id, 0) for az_id in az_ids]
    return max(held) - min(held) if held else 0


# -- waiting --------------------------------------------------------------------------


@dataclass(frozen=True)
class Convergence:
    """How a wait ended: the last reading, whether the goal was met, when and after how long."""

    capacity: Capacity | None
    converged: bool
    at: str
    waited_s: float


def wait_for(
    read: Callable[[], Capacity | None],
    goal: Callable[[Capacity], bool],
    timeout_s: float,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    stopping: Callable[[], bool] = lambda: False,
) -> Convergence:
    """Read until `goal` holds, the workload is gone or blocked, `timeout_s` passed, or
    `stopping()` (the run was asked to stop: its restore must not wait for an apply)."""
    started = clock()
    deadline = started + max(0.0, timeout_s)
    interval = POLL_FIRST_S
    capacity: Capacity | None = None
    for _ in range(int(timeout_s / POLL_FIRST_S) + 2):  # bounded even if the clock stalls
        capacity = read()
        if capacity is not None and goal(capacity):
            return Convergence(capacity, True, utc_now(), round(clock() - started, 3))
        remaining = deadline - clock()
        if capacity is None or capacity.blocked or remaining <= 0 or stopping():
            break
        sleep(min(interval, remaining))
        interval = min(POLL_MAX_S, interval * POLL_GROWTH)
    return Convergence(capacity, False, utc_now(), round(clock() - started, 3))
