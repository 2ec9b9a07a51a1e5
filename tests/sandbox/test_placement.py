"""ECS tasks and Auto Scaling instances follow their subnets as on AWS (in-process moto)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from moto import mock_aws
from moto.moto_api import state_manager

from chaos.aws import AwsClients
from chaos.errors import ConfigurationError
from chaos.sandbox.capacity.az_spread import MoveTiming, Slot, drain_seconds, spread
from chaos.sandbox.capacity.placement import PlacementController
from chaos.sandbox.demo.seed import (
    AUTO_SCALING_GROUP_NAME,
    ECS_CLUSTER_NAME,
    ECS_SERVICE_NAME,
    REGION,
    seed,
)
from chaos.sandbox.realism import Realism
from tests.fake_clock import FakeClock

DRAIN_S = 20.0
ACCOUNT = "123456789012"


@dataclass
class World:
    clients: AwsClients
    controller: PlacementController
    clock: FakeClock
    subnets: dict[str, str]  # AZ ID -> subnet id
    zone_names: dict[str, str]  # subnet id -> AZ name

    def tick(self, seconds: float = 0.25) -> None:
        self.clock.now += seconds
        self.controller.reconcile()

    # -- ECS ------------------------------------------------------------------------------

    def ecs(self) -> Any:
        return self.clients.client("ecs")

    def service(self) -> dict[str, Any]:
        return dict(
            self.ecs().describe_services(cluster=ECS_CLUSTER_NAME, services=[ECS_SERVICE_NAME])[
                "services"
            ][0]
        )

    def tasks(self, desired: str = "RUNNING") -> list[dict[str, Any]]:
        arns = self.ecs().list_tasks(
            cluster=ECS_CLUSTER_NAME, serviceName=ECS_SERVICE_NAME, desiredStatus=desired
        )["taskArns"]
        if not arns:
            return []
        return list(self.ecs().describe_tasks(cluster=ECS_CLUSTER_NAME, tasks=arns)["tasks"])

    def running_task_zones(self) -> Counter[str]:
        return Counter(
            task["availabilityZone"] for task in self.tasks() if task["lastStatus"] == "RUNNING"
        )

    def set_service_subnets(self, subnet_ids: list[str]) -> dict[str, Any]:
        awsvpc = self.service()["networkConfiguration"]["awsvpcConfiguration"]
        return dict(
            self.ecs().update_service(
                cluster=ECS_CLUSTER_NAME,
                service=ECS_SERVICE_NAME,
                forceNewDeployment=True,
                networkConfiguration={"awsvpcConfiguration": {**awsvpc, "subnets": subnet_ids}},
            )["service"]
        )

    # -- Auto Scaling -----------------------------------------------------------------------

    def instances(self) -> list[dict[str, Any]]:
        group = self.clients.client("autoscaling").describe_auto_scaling_groups(
            AutoScalingGroupNames=[AUTO_SCALING_GROUP_NAME]
        )["AutoScalingGroups"][0]
        return list(group["Instances"])

    def in_service_zones(self) -> Counter[str]:
        return Counter(
            instance["AvailabilityZone"]
            for instance in self.instances()
            if instance["LifecycleState"] == "InService"
        )

    def set_group_subnets(self, subnet_ids: list[str]) -> None:
        self.clients.client("autoscaling").update_auto_scaling_group(
            AutoScalingGroupName=AUTO_SCALING_GROUP_NAME, VPCZoneIdentifier=",".join(subnet_ids)
        )


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        clients = AwsClients(region=REGION)
        seeded = seed(clients)
        clock = FakeClock()
        controller = PlacementController.for_sandbox(REGION, ACCOUNT, Realism(mode="aws"), DRAIN_S)
        controller.clock = clock
        controller.follow_api_changes()
        controller.settle()
        described = clients.client("ec2").describe_subnets(
            SubnetIds=list(seeded.subnet_ids_by_az_id.values())
        )["Subnets"]
        try:
            yield World(
                clients,
                controller,
                clock,
                dict(seeded.subnet_ids_by_az_id),
                {subnet["SubnetId"]: subnet["AvailabilityZone"] for subnet in described},
            )
        finally:
            state_manager.unset_transition("ecs::task")


def test_spread_is_even_over_zones_and_keeps_units_where_they_are() -> None:
    slots = [Slot("a1", "az-a"), Slot("b1", "az-b"), Slot("a2", "az-a")]
    assert spread(3, slots, {}) == {"a1": 1, "a2": 1, "b1": 1}
    two_zones = [Slot("a", "az-a"), Slot("b", "az-b")]
    assert spread(3, two_zones, {}) == {"a": 2, "b": 1}
    assert spread(3, two_zones, {"b": 2}) == {"a": 1, "b": 2}, "the extra unit stays put"
    assert spread(4, slots, {}) == {"a1": 1, "a2": 1, "b1": 2}
    assert spread(2, [], {}) == {}


def test_drain_setting_and_timing_per_realism() -> None:
    assert drain_seconds({}) == 20 and drain_seconds({"GAMEDAY_SANDBOX_DRAIN_S": "5"}) == 5
    with pytest.raises(ConfigurationError):
        drain_seconds({"GAMEDAY_SANDBOX_DRAIN_S": "soon"})
    assert MoveTiming.for_realism(Realism(mode="aws", time_scale=0.5)) == MoveTiming(10, False)
    assert MoveTiming.for_realism(Realism()) == MoveTiming(0, True)


def test_seeded_service_runs_one_task_per_az_with_eni_details(world: World) -> None:
    tasks = world.tasks()
    assert len(tasks) == 3 and world.running_task_zones() == Counter(world.zone_names.values())
    for task in tasks:
        [attachment] = task["attachments"]
        details = {d["name"]: d["value"] for d in attachment["details"]}
        assert world.zone_names[details["subnetId"]] == task["availabilityZone"]
        assert attachment["status"] == "ATTACHED" and task["group"] == "service:web"
    service = world.service()
    assert (service["runningCount"], service["pendingCount"]) == (3, 0)
    [deployment] = service["deployments"]
    assert deployment["rolloutState"] == "COMPLETED"


def test_seeded_group_has_one_instance_per_az(world: World) -> None:
    assert world.in_service_zones() == Counter(world.zone_names.values())
    assert len(world.instances()) == 3


def test_ecs_tasks_leave_a_removed_subnet_only_after_the_drain_and_come_back(world: World) -> None:
    lost = world.subnets["use1-az1"]
    lost_zone = world.zone_names[lost]
    remaining = [subnet for subnet in world.subnets.values() if subnet != lost]
    updated = world.set_service_subnets(remaining)
    primary, old = updated["deployments"]
    assert primary["rolloutState"] == "IN_PROGRESS" and old["status"] == "ACTIVE"
    assert primary["pendingCount"] == 3, "the new tasks are starting"
    assert world.running_task_zones()[lost_zone] == 1, "the old task still serves"

    world.tick()  # the new tasks run; the old ones start draining
    assert sum(world.running_task_zones().values()) == 3
    draining = world.tasks(desired="STOPPED")
    assert len(draining) == 3 and {t["lastStatus"] for t in draining} == {"DEACTIVATING"}
    assert world.service()["deployments"][0]["rolloutState"] == "IN_PROGRESS"

    world.tick(DRAIN_S - 0.5)
    assert {t["lastStatus"] for t in world.tasks(desired="STOPPED")} == {"DEACTIVATING"}
    world.tick(0.5)
    stopped = world.tasks(desired="STOPPED")
    assert {t["lastStatus"] for t in stopped} == {"STOPPED"}
    assert all((t["stoppedAt"] - t["stoppingAt"]).total_seconds() == DRAIN_S for t in stopped)
    zones = world.running_task_zones()
    assert lost_zone not in zones and sorted(zones.values()) == [1, 2]
    service = world.service()
    [deployment] = service["deployments"]
    assert deployment["rolloutState"] == "COMPLETED" and service["runningCount"] == 3

    world.set_service_subnets(list(world.subnets.values()))
    world.tick()
    world.tick(DRAIN_S)
    assert world.running_task_zones() == Counter(world.zone_names.values())


def test_asg_launches_the_replacement_before_the_old_instance_drains(world: World) -> None:
    lost = world.subnets["use1-az2"]
    lost_zone = world.zone_names[lost]
    world.set_group_subnets([subnet for subnet in world.subnets.values() if subnet != lost])
    states = Counter(
        (i["AvailabilityZone"] == lost_zone, i["LifecycleState"]) for i in world.instances()
    )
    assert states == {(True, "InService"): 1, (False, "InService"): 2, (False, "Pending"): 1}

    world.tick()
    lost_states = [
        i["LifecycleState"] for i in world.instances() if i["AvailabilityZone"] == lost_zone
    ]
    assert lost_states == ["Terminating"]
    assert sum(world.in_service_zones().values()) == 3

    world.tick(DRAIN_S - 0.5)
    assert [
        i["LifecycleState"] for i in world.instances() if i["AvailabilityZone"] == lost_zone
    ] == ["Terminating"]
    world.tick(0.5)
    zones = world.in_service_zones()
    assert lost_zone not in zones and sorted(zones.values()) == [1, 2]
    assert len(world.instances()) == 3

    world.set_group_subnets(list(world.subnets.values()))
    world.tick()
    world.tick(DRAIN_S)
    assert world.in_service_zones() == Counter(world.zone_names.values())
    assert len(world.instances()) == 3


def test_fast_realism_moves_within_the_api_call(world: World) -> None:
    world.controller.timing = MoveTiming.for_realism(Realism())
    lost = world.subnets["use1-az3"]
    remaining = [subnet for subnet in world.subnets.values() if subnet != lost]
    updated = world.set_service_subnets(remaining)
    [deployment] = updated["deployments"]
    assert deployment["rolloutState"] == "COMPLETED" and updated["runningCount"] == 3
    world.set_group_subnets(remaining)
    assert world.zone_names[lost] not in world.running_task_zones()
    assert world.zone_names[lost] not in world.in_service_zones()
    assert len(world.instances()) == 3


def test_scaling_a_group_places_new_instances_evenly(world: World) -> None:
    world.clients.client("autoscaling").set_desired_capacity(
        AutoScalingGroupName=AUTO_SCALING_GROUP_NAME, DesiredCapacity=6
    )
    assert sorted(world.in_service_zones().values()) == [2, 2, 2]


def test_a_stopped_task_is_replaced_in_its_zone(world: World) -> None:
    [victim, *_] = world.tasks()
    world.ecs().stop_task(cluster=ECS_CLUSTER_NAME, task=victim["taskArn"])
    world.tick()
    world.tick()
    assert world.running_task_zones() == Counter(world.zone_names.values())
