"""SIGKILL of `gameday run` itself while remote `gameday load worker` processes carry its
load: nothing of the run goes on sending (issue 15, acceptance 3).

A SIGKILL runs no cleanup at all: the run's Locust master must die with it (parent-death
signal, watchdog), and each remote worker, on another "machine", must notice that its
master stopped answering and stop. Bounds, from the moment of the kill: the run's own
Locust processes within 5 s, the remote workers (the `gameday load worker` process and its
Locust child) within 10 s. Then `gameday rollback --all` restores what the run left.

"Machines" are loopback addresses: the run's master listens on 127.0.0.1, the workers
connect from 127.0.0.2 and 127.0.0.3.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from chaos.aws import AwsClients
from chaos.host import free_port
from tests.e2e.conftest import applied_journal, function_state, gameday, gameday_ok, wait_for

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
MASTER_HOST = "127.0.0.1"
WORKER_SOURCES = ("127.0.0.2", "127.0.0.3")
RUN_LOAD_WITHIN_S = 5.0  # the run's own Locust processes, after its SIGKILL
REMOTE_WORKERS_WITHIN_S = 10.0  # each remote worker, after the SIGKILL of the run


def experiment(directory: Path, bind: str) -> Path:
    """Load from two remote workers only, a fault phase far longer than the test."""
    path = directory / "killed-with-remote-load.yaml"
    path.write_text(
        "version: 1\nkind: experiment\nname: killed-with-remote-load\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        "phases: {baseline: 2s, fault: 10m, recovery: 0s}\n"
        "max_duration: 15m\n"
        "faults:\n"
        "  - type: lambda-extension\n    functions: [orders]\n    latency: {ms: 20}\n"
        "load:\n"
        f"  locustfile: {REPO / 'loadtests' / 'orders.py'}\n"
        "  users: 4\n  spawn_rate: 4\n  workers: 0\n  remote_workers: 2\n"
        f"  master_bind: \"{bind}\"\n  workers_timeout: 60s\n")
    return path


def remote_worker(master: str, source: str, log: Path) -> subprocess.Popen[bytes]:
    """`gameday load worker` as another machine (`source`) runs it."""
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "chaos", "load", "worker", "--master",
             f"{source}:0;{master}"],
            cwd=REPO, env=dict(os.environ, PYTHONUNBUFFERED="1"), stdout=output,
            stderr=subprocess.STDOUT)


def tree(pid: int) -> list[int]:
    try:
        return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def running(pids: list[int]) -> list[int]:
    """The pids still running something (a zombie runs nothing)."""
    left = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            pass
    return left


def running_at(pids: list[int], deadline: float) -> list[int]:
    """The pids still running at `deadline` (time.monotonic()), or none once all are gone."""
    while running(pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return running(pids)


def locust_master_of(run: subprocess.Popen[str]) -> int | None:
    for pid in tree(run.pid)[1:]:
        try:
            command = psutil.Process(pid).cmdline()
        except psutil.NoSuchProcess:
            continue
        if "locust" in command and "--master" in command:
            return pid
    return None


def talking_to_master(pid: int, master_port: int) -> bool:
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.NoSuchProcess:
        return False
    return any(connection.raddr and connection.raddr.port == master_port
               for connection in connections)


def locust_workers(workers: list[subprocess.Popen[bytes]], port: int) -> list[int] | None:
    """Each remote worker's Locust process, once every one talks to the master."""
    found = [pid for worker in workers for pid in tree(worker.pid)[1:]
             if talking_to_master(pid, port)]
    return found if len(found) == len(workers) else None


def requests_by_worker(home: Path, run_id: str) -> dict[str, int]:
    """Requests per Locust worker so far, from the run's live rows."""
    path = home / "runs" / run_id / "load-rows.jsonl"
    counts: dict[str, int] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row: dict[str, Any] = json.loads(line)
            except ValueError:
                continue  # a line being written
            if row.get("worker"):
                counts[str(row["worker"])] = counts.get(str(row["worker"]), 0) + int(
                    row.get("requests") or 0)
    return counts


@pytest.mark.timeout(300)
def test_remote_workers_stop_when_the_run_they_load_for_is_sigkilled(
    sandbox_home: Path, sandbox_clients: AwsClients, tmp_path: Path
) -> None:
    before = function_state(sandbox_clients)
    port = free_port(MASTER_HOST)
    master = f"{MASTER_HOST}:{port}"
    run = gameday(sandbox_home, "run", "--sandbox", str(experiment(tmp_path, master)), "--yes")
    workers = [remote_worker(master, source, tmp_path / f"worker-{source}.log")
               for source in WORKER_SOURCES]
    try:
        master_pid = wait_for(lambda: locust_master_of(run), timeout=120,
                              what="the run's Locust master", process=run)
        wait_for(lambda: locust_workers(workers, port), timeout=120,
                 what="both remote workers connected", process=run)
        journal = wait_for(lambda: applied_journal(sandbox_home), timeout=120,
                           what="the fault applied", process=run)
        wait_for(lambda: len([count for count in requests_by_worker(
            sandbox_home, journal["run_id"]).values() if count > 0]) == len(workers),
            timeout=60, what="load from both remote workers", process=run)
        run_load = tree(master_pid)
        remote = [pid for worker in workers for pid in tree(worker.pid)]
        assert len(remote) >= 2 * len(workers), "each worker command runs Locust as its child"

        killed_at = time.monotonic()
        run.send_signal(signal.SIGKILL)
        run.communicate(timeout=30)
        left_of_run = running_at(run_load, killed_at + RUN_LOAD_WITHIN_S)
        left_remote = running_at(remote, killed_at + REMOTE_WORKERS_WITHIN_S)
        exit_codes = [worker.poll() for worker in workers]
    finally:
        processes: list[subprocess.Popen[Any]] = [run, *workers]
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
    logs = {source: (tmp_path / f"worker-{source}.log").read_text(errors="replace")
            for source in WORKER_SOURCES}
    assert run.returncode == -signal.SIGKILL
    assert not left_of_run, f"the run's Locust processes {left_of_run} outlived it by " \
        f"{RUN_LOAD_WITHIN_S:g} s"
    assert not left_remote, f"remote workers {left_remote} still running " \
        f"{REMOTE_WORKERS_WITHIN_S:g} s after the run was killed\n{logs}"
    assert exit_codes == [2, 2], logs  # stopped by themselves, not ended by the master
    for source, log in logs.items():
        assert f"the Locust master at {source}:0;{master} stopped answering" in log, log

    rollback = gameday_ok(sandbox_home, "rollback", "--all")
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert function_state(sandbox_clients) == before
