"""az-loss pin on a sandbox with AWS realism: capacity drains out of the lost AZ ID and back.

The sandbox (its own GAMEDAY_HOME, `aws` realism, time scale 0.1, a seed) moves the ECS
service orders/web's tasks and the Auto Scaling group web-asg's instances over a drain
time when their subnets change. The real CLI runs in subprocesses.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos.aws import AwsClients
from chaos.clock import epoch_seconds
from chaos.sandbox.process import control
from tests.e2e.conftest import (
    gameday,
    gameday_ok,
    running_sandbox,
    wait_for,
    write_experiment,
)

pytestmark = pytest.mark.e2e

LOST = "use1-az1"
TIME_SCALE = 0.1
DRAIN_S = 40.0  # scaled: tasks and instances drain for 4 s
SCALED_DRAIN_S = DRAIN_S * TIME_SCALE
SANDBOX_ENV = {
    "GAMEDAY_SANDBOX_REALISM": "aws",
    "GAMEDAY_SANDBOX_TIME_SCALE": str(TIME_SCALE),
    "GAMEDAY_SANDBOX_SEED": "14",
    "GAMEDAY_SANDBOX_DRAIN_S": str(DRAIN_S),
}
FAULT = (
    f"  - type: az-loss\n    az_id: {LOST}\n    mode: pin\n    converge_timeout: 2m\n"
    "    targets: {ecs_services: [orders/web], autoscaling_groups: [web-asg]}\n"
)
ECS_ARN_PART = ":service/orders/web"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A sandbox with AWS realism in its own GAMEDAY_HOME, for this module."""
    with running_sandbox(tmp_path_factory.mktemp("az-convergence-home"), SANDBOX_ENV) as home:
        yield home


@pytest.fixture
def clients(home: Path) -> AwsClients:
    state = control.read_state()
    assert state is not None and state.realism == "aws"
    return state.clients()


# -- what the sandbox shows, read through its AWS API ----------------------------------


def az_ids(clients: AwsClients) -> dict[str, str]:
    zones = clients.client("ec2").describe_availability_zones()["AvailabilityZones"]
    return {zone["ZoneName"]: zone["ZoneId"] for zone in zones}


def tasks(clients: AwsClients) -> list[dict[str, Any]]:
    ecs = clients.client("ecs")
    arns = [
        arn
        for desired in ("RUNNING", "STOPPED")
        for arn in ecs.list_tasks(cluster="orders", serviceName="web", desiredStatus=desired)[
            "taskArns"
        ]
    ]
    described = ecs.describe_tasks(cluster="orders", tasks=arns)["tasks"] if arns else []
    return [task for task in described if task["lastStatus"] != "STOPPED"]


def instances(clients: AwsClients) -> list[dict[str, Any]]:
    [group] = clients.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["web-asg"]
    )["AutoScalingGroups"]
    return list(group["Instances"])


def placement(clients: AwsClients) -> dict[str, Any]:
    """Subnets, and where capacity runs per AZ ID (what is not yet settled, separately)."""
    names = az_ids(clients)
    service = clients.client("ecs").describe_services(cluster="orders", services=["web"])[
        "services"
    ][0]
    [group] = clients.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=["web-asg"]
    )["AutoScalingGroups"]
    current_tasks, current_instances = tasks(clients), instances(clients)
    return {
        "ecs_subnets": service["networkConfiguration"]["awsvpcConfiguration"]["subnets"],
        "asg_subnets": group["VPCZoneIdentifier"],
        "running_tasks": dict(
            Counter(
                names[task["availabilityZone"]]
                for task in current_tasks
                if task["lastStatus"] == "RUNNING" and task["desiredStatus"] == "RUNNING"
            )
        ),
        "in_service": dict(
            Counter(
                names[item["AvailabilityZone"]]
                for item in current_instances
                if item["LifecycleState"] == "InService"
            )
        ),
        "unsettled": sorted(
            [
                task["lastStatus"]
                for task in current_tasks
                if (task["lastStatus"], task["desiredStatus"]) != ("RUNNING", "RUNNING")
            ]
            + [
                item["LifecycleState"]
                for item in current_instances
                if item["LifecycleState"] != "InService"
            ]
        ),
    }


def draining(clients: AwsClients) -> bool:
    return bool(placement(clients)["unsettled"])


def journal_of(home: Path) -> dict[str, Any] | None:
    for path in (home / "runs").glob("*/journal.json"):
        journal = json.loads(path.read_text())
        if journal["status"] == "running":
            return dict(journal)
    return None


def pinned_entries(home: Path) -> list[dict[str, Any]]:
    journal = journal_of(home)
    entries = journal["entries"] if journal else []
    return [entry for entry in entries if entry["status"] == "applied"]


def placements_until_exit(
    clients: AwsClients, process: subprocess.Popen[str], bound_s: float
) -> list[tuple[float, float, dict[str, Any]]]:
    """(read started, read ended, placement) until the run exits (at most `bound_s`)."""
    samples: list[tuple[float, float, dict[str, Any]]] = []
    deadline = time.monotonic() + bound_s
    while process.poll() is None and time.monotonic() < deadline:
        started = time.time()
        seen = placement(clients)
        samples.append((started, time.time(), seen))
        time.sleep(0.3)
    return samples


def az_experiment(tmp_path: Path, name: str, fault: str) -> Path:
    return write_experiment(tmp_path, name, fault=fault, fault_block=FAULT)


# -- tests ------------------------------------------------------------------------------


def test_pin_is_effective_after_the_drain_and_restore_waits_for_capacity_back(
    home: Path, clients: AwsClients, tmp_path: Path
) -> None:
    before = placement(clients)
    assert (
        before["running_tasks"]
        == before["in_service"]
        == {"use1-az1": 1, "use1-az2": 1, "use1-az3": 1}
    )
    assert before["unsettled"] == []
    process = gameday(
        home, "run", "--sandbox", str(az_experiment(tmp_path, "az-drain", "6s")), "--yes"
    )
    try:
        # Both targets converged: the fault window is open; look at the sandbox itself.
        wait_for(
            lambda: (
                len([entry for entry in pinned_entries(home) if "during" in entry["evidence"]]) == 2
            ),
            timeout=120,
            what="both targets to converge",
            process=process,
        )
        during = placement(clients)
        samples = placements_until_exit(clients, process, bound_s=180)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, stdout + stderr
    assert during["running_tasks"].get(LOST) is None and during["in_service"].get(LOST) is None
    assert sum(during["running_tasks"].values()) == sum(during["in_service"].values()) == 3
    assert during["unsettled"] == [], "converged means drained: nothing left starting/stopping"

    result = json.loads(Path(stdout.split("result: ", 1)[1].strip()).read_text())
    # Every read taken wholly inside the fault phase's measured window: nothing in LOST.
    fault_phase = result["phases"]["fault"]
    window = (
        epoch_seconds(fault_phase["measured_from"]),
        epoch_seconds(fault_phase["measured_to"]),
    )
    inside = [
        seen for started, ended, seen in samples if window[0] <= started and ended <= window[1]
    ]
    assert len(inside) >= 3, (window, [(started, ended) for started, ended, _ in samples])
    for seen in inside:
        assert seen["running_tasks"].get(LOST) is None, seen
        assert seen["in_service"].get(LOST) is None, seen
    faults = {fault["target"]: fault for fault in result["faults"]}
    assert set(faults) == {"ecs:orders/web", "asg:web-asg"}
    for fault in faults.values():
        evidence = fault["evidence"]
        assert fault["restore_status"] == "restored", fault["detail"]
        assert evidence["before"] == evidence["after"] == before["running_tasks"]
        assert evidence["during"].get(LOST, 0) == 0 and evidence["converged"] is True
        # In force only once the old tasks / instances drained (a lower bound, by the model).
        assert fault["effective_at"] == evidence["converged_at"]
        waited = epoch_seconds(fault["effective_at"]) - epoch_seconds(fault["injected_at"])
        assert waited >= 0.9 * SCALED_DRAIN_S, (fault["target"], waited)
        assert evidence["restore_s"] >= 0.9 * SCALED_DRAIN_S
    assert result["fault_timing"]["last_effective_at"] == max(
        fault["effective_at"] for fault in faults.values()
    )
    # The run returned only once capacity was back: nothing left to settle.
    assert placement(clients) == before


def test_sigkill_during_the_drain_then_rollback_restores_the_placement_exactly(
    home: Path, clients: AwsClients, tmp_path: Path
) -> None:
    before = placement(clients)
    assert before["unsettled"] == []
    process = gameday(
        home, "run", "--sandbox", str(az_experiment(tmp_path, "az-killed", "10m")), "--yes"
    )
    try:
        wait_for(
            lambda: len(pinned_entries(home)) == 2 and draining(clients),
            timeout=120,
            what="both targets pinned and draining",
            process=process,
        )
        killed_during = placement(clients)
        entries = pinned_entries(home)
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert killed_during["unsettled"], "killed while tasks / instances were still moving"
    assert any("during" not in entry["evidence"] for entry in entries), (
        "killed before both targets converged"
    )
    assert killed_during["ecs_subnets"] != before["ecs_subnets"]

    rollback = gameday_ok(home, "rollback", "--all", timeout=300)
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert "restored 2, drifted 0" in rollback.stdout
    # Subnets in their exact order, and, once converged, the same count per AZ ID.
    assert placement(clients) == before
    service = clients.client("ecs").describe_services(
        cluster="orders", services=["web"], include=["TAGS"]
    )["services"][0]
    assert ECS_ARN_PART in service["serviceArn"]
    assert not any(tag["key"].startswith("gameday:") for tag in service.get("tags", []))
    assert "nothing to roll back" in gameday_ok(home, "rollback", "--all").stdout
