"""az-loss through the CLI on moto: plan output, refusals (exit 2, nothing changed), a full run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos.cli import main
from tests.integration.conftest import ACCOUNT_ID, REGION
from tests.integration.test_az_loss import (
    LOCK,
    LOST,
    ORDER,
    World,
    acl_of,
    client,
    create_target,
    inject,
    placement_of,
    run_acls,
    spec,
)


def az_experiment(tmp_path: Path, targets: str, *, az_id: str = LOST, mode: str = "pin") -> Path:
    path = tmp_path / "az.yaml"
    path.write_text(
        "version: 1\nkind: experiment\nname: az-check\n"
        f'target: {{region: {REGION}, account_id: "{ACCOUNT_ID}"}}\n'
        "phases: {baseline: 0s, fault: 100ms, recovery: 0s}\n"
        "max_duration: 1m\n"
        "faults:\n"
        "  - type: az-loss\n"
        f"    az_id: {az_id}\n"
        f"    mode: {mode}\n"
        f"    targets: {targets}\n"
    )
    return path


def state(world: World) -> str:
    """Everything az-loss may touch: placements, tags, ACL associations."""
    snapshot = {
        "orders": placement_of("lambda", "orders"),
        "acls": {subnet: acl_of(subnet) for subnet in world.subnet_by_az.values()},
        "subnet_tags": client("ec2").describe_subnets(SubnetIds=list(world.subnet_by_az.values()))[
            "Subnets"
        ],
    }
    return json.dumps(snapshot, sort_keys=True, default=str)


def refused(world: World, path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    before = state(world)
    code = main(["run", str(path), "--yes"])
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert state(world) == before, "a refused run must change nothing"
    return lines[0]


@pytest.fixture
def world(aws: None) -> Iterator[World]:
    from tests.integration.test_az_loss import build_world, capacity_follows_subnets

    with capacity_follows_subnets():
        built = build_world()
        create_target(built, "lambda", "orders", built.subnets(*ORDER))
        yield built


class TestAzRefusals:
    def test_unknown_az_id_shows_the_mapping(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        line = refused(
            world, az_experiment(tmp_path, "{lambda: [orders]}", az_id="use1-az9"), capsys
        )
        assert "az_id use1-az9 is not an available AZ of us-east-1" in line
        assert "use1-az1=us-east-1b" in line

    def test_az_name_is_refused_by_the_model(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        line = refused(
            world, az_experiment(tmp_path, "{lambda: [orders]}", az_id="us-east-1b"), capsys
        )
        assert "not an AZ name" in line and "az-map" in line

    def test_single_az_target_is_refused(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        create_target(world, "asg", "lonely", world.subnets(LOST))
        line = refused(
            world,
            az_experiment(tmp_path, "{lambda: [orders], autoscaling_groups: [lonely]}"),
            capsys,
        )
        assert "asg:lonely" in line and "single-AZ risk" in line

    def test_single_az_target_is_refused_in_blackhole_mode(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        create_target(world, "lambda", "lonely", world.subnets(LOST))
        line = refused(
            world, az_experiment(tmp_path, "{lambda: [orders, lonely]}", mode="blackhole"), capsys
        )
        assert "lambda:lonely" in line and "single-AZ risk" in line

    def test_target_locked_by_another_run(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        create_target(world, "ecs", "web", world.subnets(*ORDER), {LOCK: "other-run-7"})
        line = refused(
            world, az_experiment(tmp_path, "{lambda: [orders], ecs_services: [shop/web]}"), capsys
        )
        assert "ecs:shop/web: locked by run other-run-7" in line

    def test_subnet_locked_by_another_run_in_blackhole_mode(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        client("ec2").create_tags(
            Resources=[world.subnet_by_az[LOST]], Tags=[{"Key": LOCK, "Value": "other-run-8"}]
        )
        line = refused(
            world, az_experiment(tmp_path, "{lambda: [orders]}", mode="blackhole"), capsys
        )
        assert f"subnet {world.subnet_by_az[LOST]}: locked by run other-run-8" in line

    def test_unknown_target(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        line = refused(
            world,
            az_experiment(tmp_path, "{lambda: [orders], ecs_services: [shop/missing]}"),
            capsys,
        )
        assert "ECS service 'shop/missing' does not exist" in line

    @pytest.mark.parametrize("process", ["AZRebalance", "Launch", "Terminate"])
    def test_group_whose_instances_would_not_leave_the_az_is_refused(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], process: str
    ) -> None:
        create_target(world, "asg", "workers", world.subnets(*ORDER))
        client("autoscaling").suspend_processes(
            AutoScalingGroupName="workers", ScalingProcesses=[process, "AlarmNotification"]
        )
        line = refused(world, az_experiment(tmp_path, "{autoscaling_groups: [workers]}"), capsys)
        assert line == (
            f"gameday: asg:workers: its {process} process is suspended: Auto Scaling would not "
            "move its instances out of the lost AZ (AZRebalance launches in the AZs it keeps, "
            "then terminates); resume it or leave the group out of the targets: refusing"
        )
        assert placement_of("asg", "workers") == (world.subnets(*ORDER), {})

    def test_group_with_a_warm_pool_is_refused(
        self, world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        create_target(world, "asg", "workers", world.subnets(*ORDER), {"app": "shop"})
        client("autoscaling").put_warm_pool(AutoScalingGroupName="workers", MinSize=1)
        line = refused(world, az_experiment(tmp_path, "{tags: {app: shop}}"), capsys)
        assert line.startswith("gameday: asg:workers: it has a warm pool (PoolState Stopped): ")
        assert "neither moves out of the lost AZ nor counts" in line
        assert placement_of("asg", "workers") == (world.subnets(*ORDER), {"app": "shop"})

    @pytest.mark.parametrize(
        ("network_mode", "mode", "targets"),
        [
            ("bridge", "pin", "{ecs_services: [shop/web]}"),
            ("host", "blackhole", "{ecs_services: [shop/web]}"),
            (None, "pin", "{tags: {app: shop}}"),
        ],
    )
    def test_service_placed_by_container_instance_is_refused_not_skipped(
        self,
        world: World,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        network_mode: str | None,
        mode: str,
        targets: str,
    ) -> None:
        ec2_service("web", network_mode, {"app": "shop"})
        line = refused(world, az_experiment(tmp_path, targets, mode=mode), capsys)
        # None: the task definition names no mode, which moto describes as bridge (the
        # default on Linux).
        named = f"the {network_mode or 'bridge'} network mode"
        assert line.startswith(f"gameday: ecs:shop/web: its tasks use {named}, ")
        assert line.endswith(
            "placed by container instance, not by subnet: no subnet can be taken from it and "
            "its tasks in use1-az1 (us-east-1b) would keep running; target the Auto Scaling "
            "group of its container instances instead: refusing"
        )
        assert LOCK not in placement_of("ecs", "shop/web")[1]


def ec2_service(
    name: str, network_mode: str | None, tags: dict[str, str], launch_type: str = "EC2"
) -> None:
    """An ECS service on container instances, its tasks in `network_mode`."""
    ecs = client("ecs")
    ecs.create_cluster(clusterName="shop")
    ecs.register_task_definition(
        family=name,
        requiresCompatibilities=[launch_type],
        containerDefinitions=[{"name": "web", "image": "web:1", "memory": 128}],
        **({"networkMode": network_mode} if network_mode else {}),
    )
    ecs.create_service(
        cluster="shop",
        serviceName=name,
        taskDefinition=name,
        desiredCount=2,
        launchType=launch_type,
        tags=[{"key": key, "value": value} for key, value in tags.items()],
    )


def test_plan_lists_removed_subnets_with_az_ids_and_names(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_target(world, "lambda", "elsewhere", world.subnets("use1-az2", "use1-az3"))
    before = state(world)
    path = az_experiment(tmp_path, "{lambda: [orders, elsewhere]}")
    assert main(["plan", str(path)]) == 0
    output = capsys.readouterr().out
    lost = world.subnet_by_az[LOST]
    assert f"remove subnet {lost} (app-use1-az1) in use1-az1 (us-east-1b)" in output
    assert "az-loss on lambda:orders" in output
    assert "! lambda:elsewhere has no subnet in use1-az1 (us-east-1b)" in output
    assert state(world) == before


def test_a_service_on_external_instances_is_skipped_it_runs_in_no_az(
    world: World, tmp_path: Path
) -> None:
    ec2_service("web", "bridge", {})

    def on_external_instances(parsed: dict[str, Any], **_: Any) -> None:
        """ECS Anywhere's launch type, which moto does not take."""
        for service in parsed.get("services", []):
            service["launchType"] = "EXTERNAL"

    client("ecs").meta.events.register("after-call.ecs.DescribeServices", on_external_instances)
    try:
        journal, [change] = inject(tmp_path, spec({"ecs_services": ["shop/web"]}))
    finally:
        client("ecs").meta.events.unregister(
            "after-call.ecs.DescribeServices", on_external_instances
        )
    assert change.warnings == [
        "ecs:shop/web runs on external instances (ECS Anywhere), in no AZ: nothing to "
        "simulate, skipped"
    ]
    assert journal.entries == []


def test_plan_blackhole_names_the_acl_change(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = az_experiment(tmp_path, "{lambda: [orders]}", mode="blackhole")
    assert main(["plan", str(path)]) == 0
    output = capsys.readouterr().out
    lost = world.subnet_by_az[LOST]
    assert f"az-loss on vpc:{world.vpc_id}" in output
    assert f"associate it with subnet {lost} (app-use1-az1) in use1-az1" in output
    assert f"instead of {acl_of(lost)}" in output
    assert run_acls("any") == []


@pytest.mark.parametrize("mode", ["pin", "blackhole"])
def test_full_run_restores_everything(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    create_target(world, "asg", "workers", world.subnets(*ORDER))
    before = state(world)
    before_asg = placement_of("asg", "workers")
    path = az_experiment(tmp_path, "{lambda: [orders], autoscaling_groups: [workers]}", mode=mode)
    assert main(["run", str(path), "--yes", "--report-dir", str(tmp_path / "report")]) == 0
    output = capsys.readouterr().out
    result = json.loads((tmp_path / "report" / "result.json").read_text())
    statuses = {fault["target"]: fault["restore_status"] for fault in result["faults"]}
    assert statuses and set(statuses.values()) == {"restored"}, statuses
    if mode == "pin":
        assert set(statuses) == {"lambda:orders", "asg:workers"}
        assert all(fault["injected_at"] for fault in result["faults"])
    else:
        assert any(target.startswith("subnet:") for target in statuses)
    assert "restored" in output
    # a blackhole cuts the AZ ID's network, it does not move capacity: the reports say so
    said, unsaid = (
        ("AZ loss", "AZ network loss") if mode == "pin" else ("AZ network loss", "AZ loss")
    )
    for report in ("report.md", "report.html", "junit.xml"):
        text = (tmp_path / "report" / report).read_text()
        assert said in text and unsaid not in text, report
    assert run_acls(result["run_id"]) == [], "the run's ACL must be deleted"
    assert state(world) == before
    assert placement_of("asg", "workers") == before_asg
