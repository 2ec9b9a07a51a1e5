"""Lambda as slow as AWS (sandbox `--realism aws`, unscaled): honest windows, and dozens
of functions in force together (issue "Real Lambda targets", acceptance 6 and 7)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos.aws import AwsClients
from chaos.clock import epoch_seconds
from chaos.sandbox.demo.seed import orders_function_zip
from chaos.sandbox.process import control
from tests.e2e.conftest import gameday_ok, running_sandbox

pytestmark = pytest.mark.e2e

# Updates stay InProgress 2-5 s, as in AWS: not scaled, the numbers are the point here.
UNSCALED_AWS = {
    "GAMEDAY_SANDBOX_REALISM": "aws",
    "GAMEDAY_SANDBOX_TIME_SCALE": "1",
    "GAMEDAY_SANDBOX_SEED": "13",
}
BULK = 40


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with running_sandbox(tmp_path_factory.mktemp("realism-lambda-home"), UNSCALED_AWS) as home:
        yield home


@pytest.fixture(scope="module")
def clients(home: Path) -> AwsClients:
    state = control.read_state()
    assert state is not None and state.realism == "aws"
    return state.clients()


def run(
    home: Path,
    directory: Path,
    name: str,
    functions: str,
    phases: str = "{baseline: 0s, fault: 5s, recovery: 0s}",
) -> dict[str, Any]:
    path = directory / f"{name}.yaml"
    path.write_text(
        "version: 1\nkind: experiment\n"
        f"name: {name}\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        f"phases: {phases}\nmax_duration: 5m\n"
        f"faults:\n  - type: lambda-extension\n    functions: {functions}\n"
        "    latency: {ms: 100}\n"
    )
    done = gameday_ok(
        home,
        "run",
        "--sandbox",
        str(path),
        "--yes",
        "--report-dir",
        str(directory / name),
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return dict(json.loads((directory / name / "result.json").read_text()))


def test_apply_takes_aws_time_and_the_fault_phase_counts_from_effective_at(
    home: Path, clients: AwsClients, tmp_path: Path
) -> None:
    result = run(home, tmp_path, "realism-window", "[orders]")
    (fault,) = result["faults"]
    assert fault["apply_s"] > 2.0, fault
    assert fault["restore_s"] > 2.0, fault
    phase = result["phases"]["fault"]
    assert epoch_seconds(phase["measured_from"]) == pytest.approx(
        epoch_seconds(fault["effective_at"]), abs=0.01
    )
    assert epoch_seconds(phase["measured_from"]) > epoch_seconds(phase["started_at"]) + 2.0
    assert result["transition"]["seconds"] >= 2


@pytest.fixture
def bulk(clients: AwsClients) -> Iterator[list[str]]:
    """40 Python functions tagged team=bulk."""
    lambda_ = clients.lambda_
    role = lambda_.get_function_configuration(FunctionName="orders")["Role"]
    names = [f"bulk-{index:02d}" for index in range(BULK)]
    for name in names:
        lambda_.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": orders_function_zip()},
            Tags={"team": "bulk"},
        )
    try:
        yield names
    finally:
        for name in names:
            lambda_.delete_function(FunctionName=name)


@pytest.mark.timeout(400)
def test_forty_functions_are_in_force_and_restored_together(
    home: Path, clients: AwsClients, bulk: list[str], tmp_path: Path
) -> None:
    result = run(home, tmp_path, "realism-bulk", "{tags: {team: bulk}}")
    faults = result["faults"]
    assert len(faults) == BULK and {f["restore_status"] for f in faults} == {"restored"}
    # Together, not one after another: measured as overlap within this run (the sum of the
    # per-function times over the span they took), never as a wall time on a shared machine.
    timing = result["fault_timing"]
    applying = sum(fault["apply_s"] for fault in faults)
    print(f"in force: spread {timing['effective_spread_s']:.1f}s, apply sum {applying:.1f}s")
    assert timing["effective_spread_s"] * 4 <= applying
    restore_started = min(
        epoch_seconds(fault["restored_at"]) - fault["restore_s"] for fault in faults
    )
    last_restored = max(epoch_seconds(fault["restored_at"]) for fault in faults)
    restoring = sum(fault["restore_s"] for fault in faults)
    print(f"restored in {last_restored - restore_started:.1f}s, restore sum {restoring:.1f}s")
    assert (last_restored - restore_started) * 4 <= restoring
    for name in bulk:
        config = clients.lambda_.get_function_configuration(FunctionName=name)
        assert not config.get("Layers") and "AWS_LAMBDA_EXEC_WRAPPER" not in (
            config.get("Environment") or {}
        ).get("Variables", {})
