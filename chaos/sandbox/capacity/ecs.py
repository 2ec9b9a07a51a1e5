"""The ECS service scheduler moto lacks: tasks of awsvpc services, and rolling deployments.

For each service with an awsvpc network configuration, :class:`EcsScheduler` keeps
``desiredCount`` tasks of its primary deployment, spread over the Availability Zones of the
deployment's subnets (:func:`chaos.sandbox.capacity.az_spread.spread`). A new network configuration
or task definition, or ``forceNewDeployment``, makes a new deployment, rolled out as ECS's
rolling update does with its defaults ("Deploy Amazon ECS services by replacing tasks",
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-type-ecs.html:
``maximumPercent`` 200, so "the scheduler can start four new tasks before stopping four
old tasks"; ``minimumHealthyPercent`` 100, so the old ones run until then): the new tasks
start (PROVISIONING, then RUNNING), then the old ones drain (DEACTIVATING) for the drain
time and stop (STOPPED); the deployment's ``rolloutState`` goes from IN_PROGRESS to
COMPLETED once it is the only one left. Task states as in "Amazon ECS task lifecycle"
(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-lifecycle.html).

``describe_tasks`` shows each task's ``availabilityZone``, ``lastStatus`` /
``desiredStatus``, and its ENI attachment's ``subnetId``. moto advances a task's state on
every ``describe_tasks`` (its "manual" state transition); the sandbox freezes that, states
move only here. ``list_tasks`` filters by ``serviceName`` and lists the tasks whose desired
status is RUNNING unless asked otherwise ("The default status filter is RUNNING",
https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_ListTasks.html).
"""

from __future__ import annotations

import copy
import json
import logging
import random
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from moto.ec2.models import ec2_backends
from moto.ec2.models.elastic_network_interfaces import NetworkInterface
from moto.ecs.models import Task, ecs_backends
from moto.moto_api import state_manager

from chaos.sandbox.capacity.az_spread import MoveTiming, Slot, spread, surplus_and_deficit

log = logging.getLogger(__name__)

SERVICE_GROUP_PREFIX = "service:"
STARTING_STATES = ("PROVISIONING", "PENDING", "ACTIVATING")
# The ENI attachment's and the containers' status for a task's lastStatus.
ATTACHMENT_STATUS = {
    "PROVISIONING": "PRECREATED",
    "RUNNING": "ATTACHED",
    "DEACTIVATING": "ATTACHED",
    "STOPPED": "DELETED",
}
CONTAINER_STATUS = {
    "PROVISIONING": "PENDING",
    "RUNNING": "RUNNING",
    "DEACTIVATING": "RUNNING",
    "STOPPED": "STOPPED",
}
_ids = random.Random()


@dataclass
class Deployment:
    """One deployment of a service, as the scheduler rolls it."""

    id: str
    task_definition: str
    network: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    completed: bool = False

    @property
    def signature(self) -> str:
        return deployment_signature(self.task_definition, self.network)

    @property
    def subnet_ids(self) -> list[str]:
        return list(awsvpc_of(self.network).get("subnets") or [])


def deployment_signature(task_definition: str | None, network: dict[str, Any]) -> str:
    return json.dumps([task_definition, network], sort_keys=True, default=str)


def awsvpc_of(network: dict[str, Any] | None) -> dict[str, Any]:
    return dict((network or {}).get("awsvpcConfiguration") or {})


def subnet_of(task: Any) -> str:
    for attachment in task.attachments:
        for detail in attachment.get("details") or []:
            if detail.get("name") == "subnetId":
                return str(detail["value"])
    return ""


def eni_of(task: Any) -> str | None:
    for attachment in task.attachments:
        for detail in attachment.get("details") or []:
            if detail.get("name") == "networkInterfaceId":
                return str(detail["value"])
    return None


def set_task_status(task: Any, last_status: str) -> None:
    task.last_status = last_status
    for attachment in task.attachments:
        attachment["status"] = ATTACHMENT_STATUS[last_status]
    for container in task.containers:
        container.last_status = CONTAINER_STATUS[last_status]


def moment(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc)


class EcsScheduler:
    """Places and rolls the tasks of every awsvpc service in moto's ECS backend."""

    def __init__(self, ecs: Any, ec2: Any) -> None:
        self.ecs = ecs
        self.ec2 = ec2
        self._deployments: dict[str, list[Deployment]] = {}  # service ARN -> primary first
        self._drain_until: dict[str, float] = {}  # task ARN -> when it stops

    @classmethod
    def of(cls, region: str, account_id: str) -> EcsScheduler:
        # Never let moto move a task on its own (its default: one state per describe_tasks).
        state_manager.set_transition(
            model_name="ecs::task", transition={"progression": "manual", "times": sys.maxsize}
        )
        # moto's Task reads its ENI's private DNS name, which moto only sets in VPCs with DNS
        # hostnames enabled; AWS leaves it empty elsewhere.
        if not hasattr(NetworkInterface, "private_dns_name"):
            NetworkInterface.private_dns_name = ""
        scheduler = cls(ecs_backends[account_id][region], ec2_backends[account_id][region])
        scheduler._list_tasks_as_aws()
        return scheduler

    def api_changes(self) -> list[tuple[Any, str]]:
        return [
            (self.ecs, "create_service"),
            (self.ecs, "update_service"),
            (self.ecs, "delete_service"),
        ]

    def _list_tasks_as_aws(self) -> None:
        original = self.ecs.list_tasks

        def list_tasks(
            cluster_str: str | None = None,
            container_instance: str | None = None,
            family: str | None = None,
            started_by: str | None = None,
            service_name: str | None = None,
            desiredStatus: str | None = None,
        ) -> list[Any]:  # noqa: N803 - moto's
            tasks = original(
                cluster_str,
                container_instance,
                family,
                started_by,
                None,
                desiredStatus or "RUNNING",
            )
            if not service_name:
                return list(tasks)
            group = SERVICE_GROUP_PREFIX + service_name.rsplit("/", 1)[-1]
            return [task for task in tasks if task.group == group]

        self.ecs.list_tasks = list_tasks

    # -- one step ------------------------------------------------------------------------

    def step(self, now: float, timing: MoveTiming) -> bool:
        changed = False
        for service in list(self.ecs.services.values()):
            if awsvpc_of(service.network_configuration).get("subnets"):
                changed = self._step_service(service, now, timing) or changed
        return changed

    def _step_service(self, service: Any, now: float, timing: MoveTiming) -> bool:
        deployments, changed = self._deployments_of(service, now)
        tasks = self._tasks_of(service)
        changed = self._finish_drains(tasks, now) or changed
        changed = self._start_launched(tasks, deployments[0], now) or changed
        changed = self._scale_primary(service, deployments[0], tasks, now, timing) or changed
        changed = self._drain_old(service, deployments, tasks, now, timing) or changed
        changed = self._retire(service, deployments, tasks) or changed
        self._publish(service, self._deployments[service.arn], self._tasks_of(service))
        return changed

    def _deployments_of(self, service: Any, now: float) -> tuple[list[Deployment], bool]:
        """The service's deployments, primary first; a new one if its configuration changed."""
        shown = service.deployments[0]["id"] if service.deployments else None
        known = self._deployments.get(service.arn)
        wanted = deployment_signature(service.task_definition, service.network_configuration)
        if known and known[0].signature == wanted and shown in (None, known[0].id):
            return known, False
        forced = known is not None and shown not in (None, known[0].id)
        deployment_id = shown if shown and (known is None or forced) else self._new_id()
        primary = Deployment(
            deployment_id,
            str(service.task_definition),
            copy.deepcopy(service.network_configuration),
            moment(now),
            moment(now),
        )
        deployments = [primary, *(known or [])]
        self._deployments[service.arn] = deployments
        return deployments, True

    @staticmethod
    def _new_id() -> str:
        return f"ecs-svc/{_ids.randrange(10**18, 10**19)}"

    def _tasks_of(self, service: Any) -> list[Any]:
        group = SERVICE_GROUP_PREFIX + service.name
        return [
            task
            for task in self.ecs.tasks.get(service.cluster_name, {}).values()
            if task.group == group
        ]

    def _finish_drains(self, tasks: list[Any], now: float) -> bool:
        done = [task for task in tasks if self._drain_until.get(task.task_arn, float("inf")) <= now]
        for task in done:
            del self._drain_until[task.task_arn]
            set_task_status(task, "STOPPED")
            task.stopped_at = moment(now)
            self._delete_eni(task)
        return bool(done)

    def _delete_eni(self, task: Any) -> None:
        eni = eni_of(task)
        if eni is None:
            return
        try:
            self.ec2.delete_network_interface(eni)
        except Exception:  # noqa: BLE001 - already gone
            log.debug("ENI %s of task %s was already gone", eni, task.task_arn)

    @staticmethod
    def _start_launched(tasks: list[Any], primary: Deployment, now: float) -> bool:
        starting = [
            task
            for task in tasks
            if task.started_by == primary.id
            and task.desired_status == "RUNNING"
            and task.last_status in STARTING_STATES
        ]
        for task in starting:
            set_task_status(task, "RUNNING")
            task.started_at = moment(now)
        return bool(starting)

    def _scale_primary(
        self, service: Any, primary: Deployment, tasks: list[Any], now: float, timing: MoveTiming
    ) -> bool:
        live = [
            task
            for task in tasks
            if task.started_by == primary.id and task.desired_status == "RUNNING"
        ]
        placed = Counter(subnet_of(task) for task in live)
        targets = spread(self._desired(service), self._slots(primary.subnet_ids), placed)
        surplus, deficit = surplus_and_deficit(targets, placed)
        for subnet_id in deficit:
            self._launch(service, primary, subnet_id, now)
        for subnet_id, count in surplus.items():
            extra = sorted(
                (task for task in live if subnet_of(task) == subnet_id),
                key=lambda task: task.last_status == "RUNNING",
            )[:count]
            for task in extra:
                self._drain(task, primary, now, timing)
        return bool(deficit or surplus)

    @staticmethod
    def _desired(service: Any) -> int:
        return int(service.desired_count or 0) if service.status == "ACTIVE" else 0

    def _slots(self, subnet_ids: list[str]) -> list[Slot]:
        slots = []
        for subnet_id in subnet_ids:
            try:
                slots.append(Slot(subnet_id, str(self.ec2.get_subnet(subnet_id).availability_zone)))
            except Exception:  # noqa: BLE001 - a deleted subnet holds no tasks
                continue
        return slots

    def _launch(self, service: Any, deployment: Deployment, subnet_id: str, now: float) -> None:
        awsvpc = awsvpc_of(deployment.network)
        network = {
            "awsvpcConfiguration": {
                **awsvpc,
                "subnets": [subnet_id],
                "securityGroups": awsvpc.get("securityGroups") or [],
            }
        }
        task: Any = Task(
            self.ecs.clusters[service.cluster_name],
            self.ecs.describe_task_definition(deployment.task_definition),
            None,
            None,
            backend=self.ecs,
            group=SERVICE_GROUP_PREFIX + service.name,
            launch_type=service.launch_type or "FARGATE",
            started_by=deployment.id,
            networking_configuration=network,
            platform_version=service.platform_version,
        )
        task.availability_zone = str(self.ec2.get_subnet(subnet_id).availability_zone)
        task.created_at = moment(now)
        set_task_status(task, "PROVISIONING")
        # Copy-on-write: moto's request threads may be iterating over these dicts.
        cluster_tasks = {**self.ecs.tasks.get(service.cluster_name, {}), task.task_arn: task}
        self.ecs.tasks = {**self.ecs.tasks, service.cluster_name: cluster_tasks}

    def _drain(self, task: Any, primary: Deployment, now: float, timing: MoveTiming) -> None:
        task.desired_status = "STOPPED"
        task.stopping_at = moment(now)
        task.stopped_reason = f"Scaling activity initiated by (deployment {primary.id})"
        set_task_status(task, "DEACTIVATING")
        self._drain_until[task.task_arn] = now + timing.drain_s

    def _drain_old(
        self,
        service: Any,
        deployments: list[Deployment],
        tasks: list[Any],
        now: float,
        timing: MoveTiming,
    ) -> bool:
        primary = deployments[0]
        running = sum(
            1
            for task in tasks
            if task.started_by == primary.id
            and task.desired_status == "RUNNING"
            and task.last_status == "RUNNING"
        )
        if running < self._desired(service):
            return False
        old_ids = {deployment.id for deployment in deployments[1:]}
        old = [
            task
            for task in tasks
            if task.started_by in old_ids and task.desired_status == "RUNNING"
        ]
        for task in old:
            self._drain(task, primary, now, timing)
        return bool(old)

    def _retire(self, service: Any, deployments: list[Deployment], tasks: list[Any]) -> bool:
        """Forget old deployments whose tasks all stopped; complete the primary after them."""
        stopped_ids = {
            deployment.id
            for deployment in deployments[1:]
            if all(
                task.last_status == "STOPPED" for task in tasks if task.started_by == deployment.id
            )
        }
        remaining = [deployment for deployment in deployments if deployment.id not in stopped_ids]
        self._deployments[service.arn] = remaining
        primary = remaining[0]
        running = sum(
            1
            for task in tasks
            if task.started_by == primary.id
            and task.last_status == "RUNNING"
            and task.desired_status == "RUNNING"
        )
        completes = (
            len(remaining) == 1 and not primary.completed and running == self._desired(service)
        )
        primary.completed = primary.completed or completes
        return bool(stopped_ids) or completes

    # -- what describe_services shows -------------------------------------------------------

    def _publish(self, service: Any, deployments: list[Deployment], tasks: list[Any]) -> None:
        views = []
        for index, deployment in enumerate(deployments):
            own = [task for task in tasks if task.started_by == deployment.id]
            running = sum(1 for task in own if task.last_status == "RUNNING")
            pending = sum(1 for task in own if task.last_status in STARTING_STATES)
            desired = (
                self._desired(service)
                if index == 0
                else sum(1 for task in own if task.desired_status == "RUNNING")
            )
            views.append(
                self._deployment_view(service, deployment, index == 0, desired, running, pending)
            )
        service.running_count = sum(view["runningCount"] for view in views)
        service.pending_count = sum(view["pendingCount"] for view in views)
        service.deployments = views

    @staticmethod
    def _deployment_view(
        service: Any,
        deployment: Deployment,
        primary: bool,
        desired: int,
        running: int,
        pending: int,
    ) -> dict[str, Any]:
        state = "COMPLETED" if deployment.completed else "IN_PROGRESS"
        return {
            "id": deployment.id,
            "status": "PRIMARY" if primary else "ACTIVE",
            "taskDefinition": deployment.task_definition,
            "desiredCount": desired,
            "pendingCount": pending,
            "runningCount": running,
            "failedTasks": 0,
            "createdAt": deployment.created_at,
            "updatedAt": deployment.updated_at,
            "launchType": service.launch_type,
            "platformVersion": service.platform_version,
            "platformFamily": "EC2" if service.launch_type == "EC2" else "FARGATE",
            "networkConfiguration": deployment.network,
            "rolloutState": state,
            "rolloutStateReason": f"ECS deployment {deployment.id} "
            f"{'completed' if deployment.completed else 'in progress'}.",
        }

    def status(self) -> list[dict[str, Any]]:
        views = []
        for service in list(self.ecs.services.values()):
            deployments = self._deployments.get(service.arn)
            if deployments is None:
                continue
            tasks = [task for task in self._tasks_of(service) if task.last_status != "STOPPED"]
            views.append(
                {
                    "service": f"{service.cluster_name}/{service.name}",
                    "deployments": [{"id": d.id, "completed": d.completed} for d in deployments],
                    "tasks": [
                        {
                            "id": task.id,
                            "az": task.availability_zone,
                            "subnet": subnet_of(task),
                            "last_status": task.last_status,
                        }
                        for task in tasks
                    ],
                }
            )
        return views
