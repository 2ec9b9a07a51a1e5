"""Issue 20, acceptance 4: two writers.

A real run (the CLI, driving the sandbox as an AWS account) is paused with SIGSTOP once its
fault is applied, and kept paused past the run's deadline (start + max_duration +
expiry_margin) and past the janitor's heartbeat floor (60 s without a heartbeat). The
janitor takes the journal over and restores the run. Resumed (SIGCONT), the runner finds
the janitor's revision where it meant to write its own: it writes nothing more to AWS (the
function, the schedules and the S3 journal stay as the janitor left them), exits 4, and
says in one line that the janitor took over.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaos.aws import AwsClients
from chaos.clock import epoch_seconds
from chaos.janitor import HEARTBEAT_FLOOR_S
from tests.e2e.conftest import function_state, wait_for
from tests.e2e.test_janitor import fault_applied, latest_journal, runner_env, schedule_names

pytestmark = pytest.mark.e2e


def revision_keys(clients: AwsClients, run_id: str) -> list[str]:
    return sorted(
        item["Key"]
        for item in clients.client("s3")
        .list_object_versions(Bucket="gameday-journal", Prefix=f"runs/{run_id}/")
        .get("Versions", [])
    )


def test_a_paused_runner_finds_the_janitor_and_changes_nothing_more(
    sandbox_home: Path, sandbox_clients: AwsClients, tmp_path: Path
) -> None:
    clients = sandbox_clients
    before = function_state(clients)
    workdir = tmp_path / "paused"
    workdir.mkdir()
    experiment = workdir / "paused.yaml"
    experiment.write_text(
        "version: 1\nkind: experiment\nname: paused-runner\n"
        'target: {region: us-east-1, account_id: "123456789012"}\n'
        "phases: {baseline: 0s, fault: 30s, recovery: 0s}\n"
        "max_duration: 60s\nexpiry_margin: 10s\n"
        "faults:\n  - type: lambda-extension\n    functions: [orders]\n"
        "    latency: {ms: 100}\n"
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
            timeout=90,
            what="the fault to be applied",
            process=process,
        )
        os.kill(process.pid, signal.SIGSTOP)
        run_id = str(journal["run_id"])
        assert function_state(clients) != before

        def janitor_done() -> dict[str, object] | None:
            found = latest_journal(clients, run_id)
            return found if found and found.get("finished_by") == "janitor" else None

        closed = wait_for(janitor_done, timeout=240, what="the janitor to take the run over")
        assert function_state(clients) == before
        deadline = epoch_seconds(str(closed["deadline_at"]))
        last_beat = epoch_seconds(str(closed["heartbeat_at"]))
        # Paused past the deadline and past the heartbeat floor, both.
        wait_for(
            lambda: time.time() > max(deadline, last_beat + HEARTBEAT_FLOOR_S) + 1,
            timeout=120,
            what="the heartbeat floor to pass",
        )
        keys, schedules = revision_keys(clients, run_id), schedule_names(clients)

        os.kill(process.pid, signal.SIGCONT)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGCONT)
            process.kill()
            process.communicate(timeout=30)

    assert process.returncode == 4, out + err
    # Progress goes to stderr as "[  12.3s] ..." lines; besides them, one line: the reason.
    lines = [line for line in err.strip().splitlines() if not line.startswith("[")]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"gameday: run {run_id}: the janitor took over its journal "), lines[
        0
    ]
    assert "Traceback" not in err and "WARNING" not in err
    assert function_state(clients) == before, "the runner restored nothing over the janitor"
    assert revision_keys(clients, run_id) == keys, "no revision of the runner's in S3"
    assert schedule_names(clients) == schedules == [], "no schedule moved or created"
    final = latest_journal(clients, run_id)
    assert final is not None and str(final["writer"]).startswith("janitor:")
