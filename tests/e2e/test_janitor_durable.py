"""Issue 20, acceptance 3: a durable janitor.

On a sandbox whose ECS tasks take 45 s to drain when their subnets change (``--realism aws``,
GAMEDAY_SANDBOX_DRAIN_S=45, no time scaling), a run pins ECS service ``orders/web`` with a
``converge_timeout`` of 10 s and is SIGKILLed with its directory. At its deadline the
janitor puts the subnets back, waits its 10 s for capacity, and does not get it: instead of
dropping the entry it journals and creates a follow-up schedule of its own and closes its
invocation (``rollback_incomplete``, by janitor). The sandbox fires the follow-up; the second
invocation finds capacity back and closes the run ``rolled_back``.

Then a run whose janitor was deleted after it armed: Scheduler cannot deliver its schedule,
the event goes to the janitor's dead-letter queue, and `gameday status` from another
directory shows it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos.aws import AwsClients
from chaos.sandbox.process import control
from tests.e2e.conftest import running_sandbox, wait_for
from tests.e2e.test_janitor import fault_applied, latest_journal, runner_env, schedule_names

pytestmark = pytest.mark.e2e

SLOW_DRAIN = {
    "GAMEDAY_SANDBOX_REALISM": "aws",
    "GAMEDAY_SANDBOX_TIME_SCALE": "1",
    "GAMEDAY_SANDBOX_SEED": "7",
    "GAMEDAY_SANDBOX_DRAIN_S": "45",
}
PIN = (
    "  - type: az-loss\n    az_id: use1-az1\n    mode: pin\n    converge_timeout: 10s\n"
    "    targets: {ecs_services: [orders/web]}\n"
)
LAYER = "  - type: lambda-extension\n    functions: [orders]\n    latency: {ms: 100}\n"


@pytest.fixture(scope="module")
def sandbox_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("sandbox-home-slow-drain")
    with running_sandbox(home, SLOW_DRAIN):
        yield home


@pytest.fixture
def clients(sandbox_home: Path) -> AwsClients:
    state = control.read_state()
    assert state is not None
    return state.clients()


def run_and_kill(workdir: Path, name: str, fault: str, phase: str, max_duration: str) -> str:
    workdir.mkdir()
    experiment = workdir / f"{name}.yaml"
    experiment.write_text(
        "version: 1\nkind: experiment\n"
        f"name: {name}\n"
        'target: {region: us-east-1, account_id: "123456789012"}\n'
        f"phases: {{baseline: 0s, fault: {phase}, recovery: 0s}}\n"
        f"max_duration: {max_duration}\nexpiry_margin: 10s\n"
        f"faults:\n{fault}"
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "chaos", "run", str(experiment), "--yes"],
        cwd=workdir,
        env=runner_env(workdir / ".gameday"),
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        journal = wait_for(
            lambda: fault_applied(workdir / ".gameday"),
            timeout=120,
            what=f"the {name} fault to be applied",
            process=process,
        )
    finally:
        process.kill()
        process.communicate(timeout=30)
    shutil.rmtree(workdir)
    return str(journal["run_id"])


def ecs_subnets(clients: AwsClients) -> list[str]:
    [service] = clients.client("ecs").describe_services(cluster="orders", services=["web"])[
        "services"
    ]
    return sorted(service["networkConfiguration"]["awsvpcConfiguration"]["subnets"])


def test_a_restore_that_outlasts_its_wait_is_finished_by_a_follow_up_it_scheduled(
    clients: AwsClients, tmp_path: Path
) -> None:
    before = ecs_subnets(clients)
    run_id = run_and_kill(tmp_path / "doomed", "slow-restore", PIN, "30s", "60s")
    assert ecs_subnets(clients) != before
    seen: list[dict[str, Any]] = []

    def closed() -> dict[str, Any] | None:
        journal = latest_journal(clients, run_id)
        if journal is not None:
            seen.append(journal)
        return journal if journal and journal.get("status") == "rolled_back" else None

    journal = wait_for(closed, timeout=400, what=f"the janitor to finish run {run_id}")

    assert ecs_subnets(clients) == before
    assert journal["finished_by"] == "janitor"
    # The first invocation: placement restored, capacity not back in 10 s, a follow-up.
    assert any(
        item["status"] == "rollback_incomplete" and item["finished_by"] == "janitor"
        for item in seen
    ), "the first invocation closed with entries left"
    [pin] = [entry for entry in journal["entries"] if entry["fault_type"] == "az-loss"]
    assert pin["status"] == "restored" and pin["evidence"]["restore_converged"] is True
    [follow_up] = [
        entry
        for entry in journal["entries"]
        if entry["fault_type"] == "janitor-schedule" and entry["intended"].get("follow_up")
    ]
    assert follow_up["intended"]["follow_up"] == 1 and follow_up["status"] == "restored"
    assert follow_up["journaled_at"] < follow_up["injected_at"], "journaled, then created"
    assert schedule_names(clients) == []


def test_a_dropped_invocation_is_visible_in_status(clients: AwsClients, tmp_path: Path) -> None:
    run_id = run_and_kill(tmp_path / "doomed", "no-janitor-left", LAYER, "10s", "40s")
    clients.lambda_.delete_function(FunctionName="gameday-janitor")  # someone removed it
    elsewhere = tmp_path / "another-machine"
    elsewhere.mkdir()
    env = runner_env(elsewhere / ".gameday")

    def status() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chaos", "status"],
            cwd=elsewhere,
            env=env,
            text=True,
            capture_output=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )

    shown = wait_for(
        lambda: (lambda done: done if "dropped" in done.stdout else None)(status()),
        timeout=120,
        what="the dropped invocation in gameday status",
    )

    lines = shown.stdout.splitlines()
    assert lines[0] == (
        "janitor dead-letter queue gameday-janitor-dead-letters: 1 janitor "
        "invocation(s) dropped (they restored nothing; see docs/janitor.md)"
    )
    assert lines[1].startswith(
        f"  run {run_id}: Scheduler could not invoke the janitor "
        "(ResourceNotFoundException, NonRetryableError after 0 retries)"
    )
    assert any(line.startswith(f"run {run_id} ") for line in lines), "and the run, unfinished"
    rollback = subprocess.run(
        [sys.executable, "-m", "chaos", "rollback", "--all"],
        cwd=elsewhere,
        env=env,
        text=True,
        capture_output=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
