"""A sandbox run whose load comes only from two `gameday load worker` processes on other
loopback addresses (issue "Long and large game days", acceptance 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from chaos.host import free_port
from tests.e2e.conftest import function_state, gameday

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
MASTER_HOST = "127.0.0.2"


def experiment(directory: Path, name: str, bind: str, timeout: str = "60s") -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(
        "version: 1\nkind: experiment\n"
        f"name: {name}\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        "phases: {baseline: 6s, fault: 6s, recovery: 6s}\n"
        "max_duration: 3m\n"
        "faults:\n"
        "  - type: lambda-extension\n    functions: [orders]\n    latency: {ms: 50}\n"
        "load:\n"
        f"  locustfile: {REPO / 'loadtests' / 'orders.py'}\n"
        "  users: 4\n  spawn_rate: 4\n  workers: 0\n  remote_workers: 2\n"
        f"  master_bind: \"{bind}\"\n  workers_timeout: {timeout}\n"
        "  waf: {rule: orders-rate-limit, abusive_clients: 2, legit_clients: 4}\n")
    return path


def worker(master: str, log: Path) -> subprocess.Popen[bytes]:
    """`gameday load worker` as another machine runs it (with its own locustfile)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "chaos", "load", "worker", "--master", master,
         "--locustfile", str(REPO / "loadtests" / "orders.py")],
        cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def tree(pid: int) -> list[int]:
    try:
        parent = psutil.Process(pid)
        return [pid, *(child.pid for child in parent.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


@pytest.mark.timeout(240)
def test_remote_workers_carry_the_load_of_every_phase(sandbox_home: Path,
                                                      tmp_path: Path) -> None:
    port = free_port(MASTER_HOST)
    master = f"{MASTER_HOST}:{port}"
    path = experiment(tmp_path, "remote-load", master)
    run = gameday(sandbox_home, "run", "--sandbox", str(path), "--yes", "--report-dir",
                  str(tmp_path / "reports"))
    workers = [worker(f"127.0.0.3:0;{master}", tmp_path / "worker-a.log"),
               worker(master, tmp_path / "worker-b.log")]
    pids: list[int] = []
    try:
        time.sleep(3)
        pids = [pid for process in workers for pid in tree(process.pid)]
        stdout, stderr = run.communicate(timeout=180)
        exit_codes = [process.wait(timeout=30) for process in workers]
    finally:
        for process in [run, *workers]:
            if process.poll() is None:
                process.kill()
    assert run.returncode == 0, stdout + stderr
    assert exit_codes == [0, 0]
    result = json.loads((tmp_path / "reports" / "result.json").read_text())
    per_worker = result["load"]["workers"]
    assert len(per_worker) == 2 and all(count > 0 for count in per_worker.values()), per_worker
    for name in ("baseline", "fault", "recovery"):
        assert result["phases"][name]["requests"] > 0, name
    identities = [client["identity"] for client in result["waf"]["clients"]]
    assert len(identities) == len(set(identities)) == 2
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(psutil.pid_exists(pid) for pid in pids):
        time.sleep(0.2)
    assert not [pid for pid in pids if psutil.pid_exists(pid)
                and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]


@pytest.mark.timeout(120)
def test_a_missing_remote_worker_fails_the_start_in_one_line(
    sandbox_home: Path, sandbox_clients: object, tmp_path: Path
) -> None:
    before = function_state(sandbox_clients)  # type: ignore[arg-type]
    port = free_port(MASTER_HOST)
    master = f"{MASTER_HOST}:{port}"
    path = experiment(tmp_path, "one-worker-missing", master, timeout="6s")
    run = gameday(sandbox_home, "run", "--sandbox", str(path), "--yes")
    lone = worker(master, tmp_path / "worker.log")
    try:
        stdout, stderr = run.communicate(timeout=90)
        lone.wait(timeout=30)
    finally:
        for process in (run, lone):
            if process.poll() is None:
                process.kill()
    errors = [line for line in stderr.splitlines() if line.startswith("gameday:")]
    assert run.returncode != 0 and len(errors) == 1, stdout + stderr
    assert "1 of 2 Locust workers connected" in errors[0]
    assert function_state(sandbox_clients) == before  # type: ignore[arg-type]
