"""az-loss pin reverted during the fault (an ECS deployment circuit breaker rolling back): the
fault fails as reverted, and the restore writes nothing the rollback already put back.

moto with the sandbox's ECS scheduler (tasks follow the subnets within the API call); moto
keeps no deployment circuit breaker nor a FAILED deployment: a botocore Stubber shows those.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chaos.aws import AwsClients
from chaos.aws.capacity import AzIds, ecs_capacity
from chaos.az.mapping import load_az_mapping
from chaos.faults.az_loss import kind as az_loss_kind
from chaos.faults.az_loss.restore import reverted
from chaos.result.assemble import _fault_effect, fault_entries
from chaos.run.restore import restore_journal
from tests.integration.conftest import REGION
from tests.integration.test_az_loss import (
    LOST,
    ORDER,
    World,
    aws_clients,
    build_world,
    capacity_follows_subnets,
    client,
    create_target,
    inject,
    placement_of,
    spec,
)


@pytest.fixture
def world(aws: None) -> Iterator[World]:
    with capacity_follows_subnets():
        yield build_world()


def tasks_in_lost_az() -> int:
    ecs = client("ecs")
    arns = ecs.list_tasks(cluster="shop", serviceName="web")["taskArns"]
    tasks = ecs.describe_tasks(cluster="shop", tasks=arns)["tasks"] if arns else []
    subnets = client("ec2").describe_subnets()["Subnets"]
    lost = {item["AvailabilityZone"] for item in subnets if item["AvailabilityZoneId"] == LOST}
    return sum(1 for task in tasks if task["availabilityZone"] in lost)


def roll_back(world: World) -> None:
    """What ECS does when the run's deployment fails with the circuit breaker's rollback on:
    a new deployment of the last completed one, with the network configuration it had."""
    awsvpc = {
        "subnets": world.subnets(*ORDER),
        "securityGroups": [world.security_group_id],
        "assignPublicIp": "DISABLED",
    }
    client("ecs").update_service(
        cluster="shop",
        service="web",
        forceNewDeployment=True,
        networkConfiguration={"awsvpcConfiguration": awsvpc},
    )


def primary_deployment() -> str:
    [service] = client("ecs").describe_services(cluster="shop", services=["web"])["services"]
    return next(item["id"] for item in service["deployments"] if item["status"] == "PRIMARY")


def test_a_rollback_during_the_fault_fails_it_as_reverted_and_the_restore_writes_nothing(
    world: World, tmp_path: Path
) -> None:
    service = create_target(world, "ecs", "web", world.subnets(*ORDER))
    journal, _ = inject(tmp_path, spec({"ecs_services": [service]}))
    [entry] = journal.entries
    assert entry.evidence["converged"] is True and tasks_in_lost_az() == 0
    roll_back(world)
    assert tasks_in_lost_az() > 0
    rolled_back = primary_deployment()

    report = restore_journal(journal, aws_clients())

    assert (report.restored, report.drifted, report.failed) == (1, 0, 0)
    assert primary_deployment() == rolled_back, "the restore deployed again over the rollback"
    assert placement_of("ecs", service)[0] == world.subnets(*ORDER)
    [entry] = journal.entries
    lost = world.subnet_by_az[LOST]
    reason = (
        f"subnet(s) {lost} of the lost AZ ID back in its placement "
        "(put back by someone or something else)"
    )
    assert entry.evidence["reverted"] == reason
    assert entry.detail == f"reverted during the fault ({reason}): nothing written"
    assert _fault_effect("az-loss", fault_entries(journal.entries)) == (
        0,
        f"reverted: ecs:{service}: {reason}",
    )


def test_a_rollback_while_the_pin_converges_ends_the_wait_and_is_journaled(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = create_target(world, "ecs", "web", world.subnets(*ORDER))
    reads: list[str] = []
    read_capacity = az_loss_kind.read_capacity

    def rolled_back_once_pinned(clients: AwsClients, kind: str, ref: str, az_ids: Any) -> Any:
        reads.append(ref)
        if len(reads) == 2:  # the first read after the pin (the first is `before`)
            roll_back(world)
        return read_capacity(clients, kind, ref, az_ids)

    monkeypatch.setattr(az_loss_kind, "read_capacity", rolled_back_once_pinned)
    fault_spec = spec({"ecs_services": [service]}).model_copy(update={"converge_timeout": 3.0})
    journal, _ = inject(tmp_path, fault_spec)
    [entry] = journal.entries
    lost = world.subnet_by_az[LOST]
    reason = (
        f"subnet(s) {lost} of the lost AZ ID back in its placement "
        "(put back by someone or something else)"
    )
    assert len(reads) == 2, "the wait went on after the revert"
    assert entry.evidence["converged"] is False and entry.evidence["reverted"] == reason
    assert entry.detail == f"reverted: {reason}; the fault phase ran anyway"
    restore_journal(journal, aws_clients())
    assert journal.entries[0].status == "restored"


def rolling_back_service(world: World, *, failed: bool) -> dict[str, Any]:
    """DescribeServices of shop/web pinned to az2/az3 by the run, as ECS shows it."""
    pinned = world.subnets("use1-az3", "use1-az2")
    deployments: list[dict[str, Any]] = [
        {
            "id": "ecs-svc/rollback",
            "status": "PRIMARY",
            "rolloutState": "IN_PROGRESS",
            "networkConfiguration": {"awsvpcConfiguration": {"subnets": world.subnets(*ORDER)}},
        },
    ]
    if failed:
        deployments.append(
            {
                "id": "ecs-svc/pinned",
                "status": "ACTIVE",
                "rolloutState": "FAILED",
                "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start.",
                "networkConfiguration": {"awsvpcConfiguration": {"subnets": pinned}},
            }
        )
    return {
        "services": [
            {
                "serviceName": "web",
                "serviceArn": f"arn:aws:ecs:{REGION}:123456789012:service/shop/web",
                "status": "ACTIVE",
                "desiredCount": 0,
                "networkConfiguration": {"awsvpcConfiguration": {"subnets": pinned}},
                "deploymentConfiguration": {
                    "deploymentCircuitBreaker": {"enable": True, "rollback": True}
                },
                "deployments": deployments,
            }
        ]
    }


@pytest.mark.parametrize("failed", [True, False])
def test_a_circuit_breaker_rollback_is_named_as_such(world: World, failed: bool) -> None:
    clients = AwsClients(region=REGION)
    ecs = clients._cache["ecs"] = boto3.client("ecs", region_name=REGION)
    stub = Stubber(ecs)
    stub.add_response("describe_services", rolling_back_service(world, failed=failed))
    for _ in ("RUNNING", "STOPPED"):
        stub.add_response("list_tasks", {"taskArns": []})
    stub.activate()

    capacity = ecs_capacity(clients, "shop/web", AzIds(clients, load_az_mapping(clients)))

    stub.assert_no_pending_responses()
    lost = world.subnet_by_az[LOST]
    if failed:
        # Under way: the service still names the run's subnets, the rollback deployment not.
        assert reverted(capacity, [lost]) == (
            f"subnet(s) {lost} of the lost AZ ID back in its placement (ECS is rolling back "
            "its FAILED deployment ecs-svc/pinned: ECS deployment circuit breaker: tasks "
            "failed to start.)"
        )
    else:
        assert reverted(capacity, [lost]) is None  # the pin holds
        assert capacity is not None and capacity.rollback == (
            "its deployment circuit breaker rolls a failed deployment back to the last "
            "completed one"
        )
