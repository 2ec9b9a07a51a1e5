"""Nothing is left behind: SIGKILL + `gameday rollback`, SIGINT, concurrent edits."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import psutil
import pytest

from chaos.aws import AwsClients
from tests.e2e.conftest import (
    REPO,
    function_state,
    gameday,
    gameday_ok,
    wait_for,
    wait_until_applied,
    write_experiment,
)

# Every crash, signal and refusal here also holds when the sandbox is as slow and imprecise
# as AWS (updates in progress for seconds, 409s, throttled control plane).
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("sandbox_home", ["fast", "aws"], indirect=True),
]


def lock_tags(clients: AwsClients) -> dict[str, str]:
    arn = clients.lambda_.get_function_configuration(FunctionName="orders")["FunctionArn"]
    return {
        k: v
        for k, v in clients.lambda_.list_tags(Resource=arn)["Tags"].items()
        if k.startswith("gameday:")
    }


def test_sigkill_then_rollback_restores_byte_for_byte(
    sandbox_home: Path, sandbox_clients: AwsClients, tmp_path: Path
) -> None:
    before = function_state(sandbox_clients)
    experiment = write_experiment(tmp_path, "killed-run", fault="10m")
    process = gameday(sandbox_home, "run", "--sandbox", str(experiment), "--yes")
    try:
        journal = wait_until_applied(sandbox_home, process)
        during = function_state(sandbox_clients)
        assert "gameday-chaos" in during and during != before
        assert lock_tags(sandbox_clients) == {"gameday:run-id": journal["run_id"]}
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert function_state(sandbox_clients) == during, "SIGKILL must not have restored anything"

    status = gameday_ok(sandbox_home, "status")
    assert journal["run_id"] in status.stdout and "locked:" in status.stdout

    rollback = gameday_ok(sandbox_home, "rollback", "--all")
    assert rollback.returncode == 0, rollback.stderr
    assert "restored 1" in rollback.stdout
    assert function_state(sandbox_clients) == before
    assert lock_tags(sandbox_clients) == {}

    again = gameday_ok(sandbox_home, "rollback", "--all")
    assert again.returncode == 0 and "nothing to roll back" in again.stdout
    assert function_state(sandbox_clients) == before
    assert "no unfinished runs" in gameday_ok(sandbox_home, "status").stdout


@pytest.mark.parametrize(
    "signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"]
)
def test_signal_restores_without_rollback_and_exits_3(
    sandbox_home: Path, sandbox_clients: AwsClients, tmp_path: Path, signum: signal.Signals
) -> None:
    before = function_state(sandbox_clients)
    experiment = write_experiment(tmp_path, f"signalled-{signum.name.lower()}", fault="10m")
    process = gameday(sandbox_home, "run", "--sandbox", str(experiment), "--yes")
    try:
        wait_until_applied(sandbox_home, process)
        assert function_state(sandbox_clients) != before
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 3, stderr
    assert f"aborted (signal {signum.name})" in stdout
    assert function_state(sandbox_clients) == before
    result_path = Path(stdout.split("result: ", 1)[1].strip())
    result = json.loads(result_path.read_text())
    assert result["outcome"] == "aborted"
    assert [fault["restore_status"] for fault in result["faults"]] == ["restored"]
    assert "no unfinished runs" in gameday_ok(sandbox_home, "status").stdout


def test_concurrent_edit_survives_restore_and_is_reported_drifted(
    sandbox_home: Path, sandbox_clients: AwsClients, tmp_path: Path
) -> None:
    experiment = write_experiment(tmp_path, "drift-run", fault="8s")
    process = gameday(sandbox_home, "run", "--sandbox", str(experiment), "--yes")
    wait_until_applied(sandbox_home, process)
    lambda_ = sandbox_clients.lambda_
    config = lambda_.get_function_configuration(FunctionName="orders")
    variables = dict(config["Environment"]["Variables"], ADDED_BY_SOMEONE_ELSE="yes")
    lambda_.update_function_configuration(
        FunctionName="orders", Environment={"Variables": variables}
    )
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    after = lambda_.get_function_configuration(FunctionName="orders")
    environment = after["Environment"]["Variables"]
    assert environment.get("ADDED_BY_SOMEONE_ELSE") == "yes"
    assert "GAMEDAY_CHAOS_CONFIG" not in environment
    assert "AWS_LAMBDA_EXEC_WRAPPER" not in environment
    assert not any("gameday-chaos" in layer["Arn"] for layer in after.get("Layers", []))
    result_path = Path(stdout.split("result: ", 1)[1].strip())
    fault = json.loads(result_path.read_text())["faults"][0]
    assert fault["restore_status"] == "drifted"
    assert "ADDED_BY_SOMEONE_ELSE" in fault["detail"]
    assert "yes" not in fault["detail"].replace("ADDED_BY_SOMEONE_ELSE", "")


def test_attached_config_is_the_extension_schema_with_an_expiry(
    sandbox_home: Path, sandbox_clients: AwsClients, tmp_path: Path
) -> None:
    import time

    from gameday_chaos import config as extension_config

    experiment = write_experiment(tmp_path, "schema-run", fault="10m")
    process = gameday(sandbox_home, "run", "--sandbox", str(experiment), "--yes")
    try:
        journal = wait_until_applied(sandbox_home, process)
        environment = sandbox_clients.lambda_.get_function_configuration(FunctionName="orders")[
            "Environment"
        ]["Variables"]
        parsed = extension_config.parse_config(environment[extension_config.CONFIG_ENV_KEY])
        assert environment[extension_config.EXEC_WRAPPER_ENV_KEY] == extension_config.WRAPPER_PATH
        assert parsed.run_id == journal["run_id"]
        assert parsed.faults().keys() == {"latency", "error"}
        # max_duration (30m) + 5 min margin: the fault expires on its own after that.
        assert 30 * 60 < parsed.expires_at - time.time() <= 35 * 60 + 5
        assert parsed.active(time.time()) and not parsed.active(parsed.expires_at + 1)
    finally:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    assert process.returncode == 3


def network_state(clients: AwsClients) -> str:
    """The orders function's subnets and every subnet's network ACL association."""
    config = clients.lambda_.get_function_configuration(FunctionName="orders")
    ec2 = clients.client("ec2")
    associations = sorted(
        (association["SubnetId"], acl["NetworkAclId"])
        for acl in ec2.describe_network_acls()["NetworkAcls"]
        for association in acl["Associations"]
    )
    acl_ids = sorted(acl["NetworkAclId"] for acl in ec2.describe_network_acls()["NetworkAcls"])
    return json.dumps(
        {"subnets": config["VpcConfig"]["SubnetIds"], "associations": associations, "acls": acl_ids}
    )


@pytest.mark.parametrize("mode", ["pin", "blackhole"])
def test_az_loss_sigkill_then_rollback_restores_the_network(
    sandbox_home: Path, sandbox_clients: AwsClients, tmp_path: Path, mode: str
) -> None:
    before = network_state(sandbox_clients)
    fault_block = (
        f"  - type: az-loss\n    az_id: use1-az1\n    mode: {mode}\n"
        "    targets: {lambda: [orders]}\n"
    )
    experiment = write_experiment(
        tmp_path, f"az-{mode}-killed", fault="10m", fault_block=fault_block
    )
    process = gameday(sandbox_home, "run", "--sandbox", str(experiment), "--yes")
    try:
        wait_until_applied(sandbox_home, process)
        assert network_state(sandbox_clients) != before
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=30)
    rollback = gameday_ok(sandbox_home, "rollback", "--all")
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert network_state(sandbox_clients) == before
    assert "nothing to roll back" in gameday_ok(sandbox_home, "rollback", "--all").stdout


def locust_processes_of(run_dir_marker: str) -> list[psutil.Process]:
    """Live Locust processes started for one run (their command line names its rows file)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            command = " ".join(process.info["cmdline"] or [])
            if "locust" not in command:
                continue
            # stdout goes to the run's own locust-<role>.log
            opened = " ".join(item.path for item in process.open_files())
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if run_dir_marker in command or run_dir_marker in opened:
            found.append(process)
    return found


@pytest.mark.parametrize("workers", [0, 2], ids=["standalone", "master-and-workers"])
def test_sigkill_of_the_run_stops_its_load(
    sandbox_home: Path, sandbox_clients: AwsClients, tmp_path: Path, workers: int
) -> None:
    """`kill -9` of `gameday run`: its Locust processes are gone within 5 s."""
    name = f"killed-under-load-{workers}"
    experiment = write_experiment(
        tmp_path,
        name,
        fault="10m",
        extra=(
            "load:\n"
            f"  locustfile: {REPO / 'loadtests' / 'orders.py'}\n"
            f"  users: 4\n  spawn_rate: 4\n  workers: {workers}\n"
        ),
    )
    process = gameday(sandbox_home, "run", "--sandbox", str(experiment), "--yes")
    try:
        journal = wait_until_applied(sandbox_home, process)
        marker = journal["run_id"]
        assert wait_for(
            lambda: locust_processes_of(marker), timeout=30, what="the run's Locust processes"
        )
        process.kill()
        process.wait(timeout=10)
        killed = time.monotonic()
        wait_for(
            lambda: not locust_processes_of(marker),
            timeout=5,
            what="the run's Locust processes to stop",
        )
        print(f"load stopped {time.monotonic() - killed:.1f}s after SIGKILL")
    finally:
        if process.poll() is None:
            process.kill()
        gameday_ok(sandbox_home, "rollback", "--all", "--force")
