"""A sandbox run whose load comes only from two `gameday load worker` processes on other
loopback addresses (issue "Long and large game days", acceptance 4), and the same workers
stopping by themselves when the run they load for is SIGKILLed (issue 15, acceptance 3).

"Machines" are loopback addresses: the run's Locust master listens on 127.0.0.1, one
worker connects from 127.0.0.2 and the other from 127.0.0.3 (zmq's
``tcp://SOURCE:0;HOST:PORT`` connect syntax, which `gameday load worker --master` passes
through to Locust).
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from chaos.aws import AwsClients
from chaos.host import free_port
from chaos.journal import Journal
from tests.e2e.conftest import applied_journal, function_state, gameday, gameday_ok, wait_for

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
MASTER_HOST = "127.0.0.1"
WORKER_SOURCES = ("127.0.0.2", "127.0.0.3")
PHASES = ("baseline", "fault", "recovery")
# Upper bound only (a busy CI machine): the run ends this long after its master started
# at most, far above the workers' timeout but below the driver's own spawn backstop.
MISSING_WORKER_MARGIN_S = 20.0
RUN_LOAD_WITHIN_S = 5.0  # the run's own Locust processes, after its SIGKILL
REMOTE_WORKERS_WITHIN_S = 10.0  # each remote worker, after the SIGKILL of the run


def experiment(
    directory: Path,
    name: str,
    bind: str,
    timeout: str = "60s",
    phases: str = "{baseline: 6s, fault: 6s, recovery: 6s}",
    max_duration: str = "3m",
) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(
        "version: 1\nkind: experiment\n"
        f"name: {name}\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        f"phases: {phases}\n"
        f"max_duration: {max_duration}\n"
        "faults:\n"
        "  - type: lambda-extension\n    functions: [orders]\n    latency: {ms: 50}\n"
        "load:\n"
        f"  locustfile: {REPO / 'loadtests' / 'orders.py'}\n"
        "  users: 4\n  spawn_rate: 4\n  workers: 0\n  remote_workers: 2\n"
        f'  master_bind: "{bind}"\n  workers_timeout: {timeout}\n'
        "  waf: {rule: orders-rate-limit, abusive_clients: 2, legit_clients: 4}\n"
    )
    return path


def worker(master: str, source: str, log: Path) -> subprocess.Popen[bytes]:
    """`gameday load worker` as another machine (`source`) runs it, with its locustfile."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chaos",
            "load",
            "worker",
            "--master",
            f"{source}:0;{master}",
            "--locustfile",
            str(REPO / "loadtests" / "orders.py"),
        ],
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )


def tree(pid: int) -> list[int]:
    try:
        parent = psutil.Process(pid)
        return [pid, *(child.pid for child in parent.children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def locust_master_of(run: subprocess.Popen[str]) -> int | None:
    """The pid of the run's own Locust master (a descendant of `gameday run`), once started."""
    for pid in tree(run.pid)[1:]:
        try:
            command = psutil.Process(pid).cmdline()
        except psutil.NoSuchProcess:
            continue
        if "locust" in command and "--master" in command:
            return pid
    return None


def source_addresses(pid: int, master_port: int) -> set[str]:
    """The local addresses `pid` (a Locust worker) talks to the master from."""
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.NoSuchProcess:
        return set()
    return {
        ipv4(connection.laddr.ip)
        for connection in connections
        if connection.raddr and connection.raddr.port == master_port
    }


def ipv4(address: str) -> str:
    """127.0.0.2 for ::ffff:127.0.0.2 (zmq's sockets may be dual-stack)."""
    parsed = ipaddress.ip_address(address)
    mapped = parsed.ipv4_mapped if isinstance(parsed, ipaddress.IPv6Address) else None
    return str(mapped or parsed)


def connected(workers: list[subprocess.Popen[bytes]], port: int) -> dict[int, set[str]] | None:
    """Each worker's Locust process and the addresses it talks to the master from, once
    every worker is connected."""
    found = {
        pid: addresses
        for process in workers
        for pid in tree(process.pid)[1:]
        if (addresses := source_addresses(pid, port))
    }
    return found if len(found) == len(workers) else None


def stop(*processes: subprocess.Popen[Any]) -> None:
    for process in processes:
        if process.poll() is None:
            process.kill()


def alive(pids: list[int]) -> list[int]:
    left = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                left.append(pid)
        except psutil.NoSuchProcess:
            pass
    return left


def wait_gone(pids: list[int], within_s: float = 15.0) -> list[int]:
    return alive_at(pids, time.monotonic() + within_s)


def alive_at(pids: list[int], deadline: float) -> list[int]:
    """The pids still running at `deadline` (time.monotonic()), or none once all are gone."""
    while time.monotonic() < deadline and alive(pids):
        time.sleep(0.1)
    return alive(pids)


def rows_of(home: Path, run_id: str) -> Iterator[dict[str, object]]:
    with open(home / "runs" / run_id / "load-rows.jsonl", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def requests_by_worker(home: Path, run_id: str) -> dict[str, int]:
    """Requests per Locust worker so far, from the run's live rows."""
    counts: dict[str, int] = {}
    if not (home / "runs" / run_id / "load-rows.jsonl").exists():
        return counts
    try:
        for row in rows_of(home, run_id):
            if row.get("worker"):
                worker_label = str(row["worker"])
                counts[worker_label] = counts.get(worker_label, 0) + int(
                    str(row.get("requests") or 0)
                )
    except ValueError:
        pass  # the line being written: counted at the next look
    return counts


def unchanged_target(clients: AwsClients) -> dict[str, object]:
    """What a run could change: the function's layers, environment and tags (its lock),
    and the janitor schedules."""
    arn = clients.lambda_.get_function(FunctionName="orders")["Configuration"]["FunctionArn"]
    schedules = clients.client("scheduler").list_schedules().get("Schedules", [])
    return {
        "function": function_state(clients),
        "tags": clients.lambda_.list_tags(Resource=arn).get("Tags", {}),
        "schedules": sorted(schedule["Name"] for schedule in schedules),
    }


@pytest.mark.timeout(300)
def test_remote_workers_carry_the_load_of_every_phase(sandbox_home: Path, tmp_path: Path) -> None:
    port = free_port(MASTER_HOST)
    master = f"{MASTER_HOST}:{port}"
    path = experiment(tmp_path, "remote-load", master)
    run = gameday(
        sandbox_home,
        "run",
        "--sandbox",
        str(path),
        "--yes",
        "--report-dir",
        str(tmp_path / "reports"),
    )
    workers = [
        worker(master, source, tmp_path / f"worker-{source}.log") for source in WORKER_SOURCES
    ]
    pids: list[int] = []
    try:
        master_pid = wait_for(
            lambda: locust_master_of(run), timeout=120, what="the run's Locust master", process=run
        )
        sources = wait_for(
            lambda: connected(workers, port),
            timeout=120,
            what="both workers connected",
            process=run,
        )
        pids = [*tree(master_pid), *(pid for w in workers for pid in tree(w.pid))]
        stdout, stderr = run.communicate(timeout=180)
        exit_codes = [process.wait(timeout=30) for process in workers]
    finally:
        stop(run, *workers)
    assert run.returncode == 0, stdout + stderr
    assert exit_codes == [0, 0]
    # each worker talked to the master from its own "machine"
    assert sorted(ip for addresses in sources.values() for ip in addresses) == list(
        WORKER_SOURCES
    ), sources
    result = json.loads((tmp_path / "reports" / "result.json").read_text())
    per_worker = result["load"]["workers"]
    labels = [entry["worker"] for entry in per_worker]
    # labelled host-PID by the Locust worker that measured them: exactly our two workers
    assert sorted(int(label.rsplit("-", 1)[-1]) for label in labels) == sorted(sources)
    for entry in per_worker:
        for phase in PHASES:
            assert entry["requests_by_phase"][phase] > 0, (phase, entry)
    for phase in PHASES:
        assert result["phases"][phase]["requests"] > 0, phase
    # WAF identities: every identity sent by one worker only, each worker its own
    senders: dict[str, set[str]] = {}
    for row in rows_of(sandbox_home, result["run_id"]):
        if row["identity"] is not None:
            senders.setdefault(str(row["identity"]), set()).add(str(row["worker"]))
    shared = {identity: who for identity, who in senders.items() if len(who) > 1}
    assert not shared, f"identities sent by both workers: {shared}"
    by_worker: dict[str, set[str]] = {}
    for identity, who in senders.items():
        by_worker.setdefault(next(iter(who)), set()).add(identity)
    assert sorted(by_worker) == sorted(labels), by_worker
    assert all(len(identities) >= 3 for identities in by_worker.values()), by_worker
    waf_clients = {client["identity"] for client in result["waf"]["clients"]}
    assert waf_clients <= set(senders) and len(waf_clients) == 2  # the abusive ones
    # no process left: the run's Locust master, both workers and their Locust processes
    assert master_pid in pids and len(pids) >= 5, pids
    assert not wait_gone(pids), f"processes left behind: {alive(pids)}"


@pytest.mark.timeout(180)
def test_a_missing_remote_worker_fails_the_start_in_one_line(
    sandbox_home: Path, sandbox_clients: AwsClients, tmp_path: Path
) -> None:
    before = unchanged_target(sandbox_clients)
    port = free_port(MASTER_HOST)
    master = f"{MASTER_HOST}:{port}"
    timeout_s = 6.0
    path = experiment(tmp_path, "one-worker-missing", master, timeout=f"{timeout_s:g}s")
    run = gameday(sandbox_home, "run", "--sandbox", str(path), "--yes")
    lone = worker(master, WORKER_SOURCES[0], tmp_path / "worker.log")
    pids: list[int] = []
    try:
        master_pid = wait_for(
            lambda: locust_master_of(run), timeout=120, what="the run's Locust master", process=run
        )
        master_started = time.monotonic()
        pids = [*tree(master_pid), *tree(lone.pid)]
        stdout, stderr = run.communicate(timeout=120)
        failed_after_s = time.monotonic() - master_started
        lone_exit = lone.wait(timeout=30)
    finally:
        stop(run, lone)
    errors = [line for line in stderr.splitlines() if line.startswith("gameday:")]
    assert run.returncode == 2 and len(errors) == 1, stdout + stderr
    assert f"1 of 2 Locust workers connected within {timeout_s:g}s" in errors[0]
    assert "gameday load worker --master" in errors[0] and "--locustfile" in errors[0]
    assert failed_after_s < timeout_s + MISSING_WORKER_MARGIN_S, failed_after_s
    assert lone_exit == 0  # the worker that came is told to quit
    assert not wait_gone(pids), f"processes left behind: {alive(pids)}"
    assert unchanged_target(sandbox_clients) == before
    journals = [Journal.load(path) for path in (sandbox_home / "runs").glob("*/journal.json")]
    assert journals and not [journal.run_id for journal in journals if journal.unfinished]
    assert all(
        not journal.entries
        for journal in journals
        if journal.experiment_name == "one-worker-missing"
    )


@pytest.mark.timeout(300)
def test_remote_workers_stop_when_the_run_they_load_for_is_sigkilled(
    sandbox_home: Path, sandbox_clients: AwsClients, tmp_path: Path
) -> None:
    before = function_state(sandbox_clients)
    port = free_port(MASTER_HOST)
    master = f"{MASTER_HOST}:{port}"
    path = experiment(
        tmp_path,
        "killed-with-remote-load",
        master,
        phases="{baseline: 2s, fault: 10m, recovery: 0s}",
        max_duration="15m",
    )
    run = gameday(sandbox_home, "run", "--sandbox", str(path), "--yes")
    workers = [
        worker(master, source, tmp_path / f"worker-{source}.log") for source in WORKER_SOURCES
    ]
    try:
        master_pid = wait_for(
            lambda: locust_master_of(run), timeout=120, what="the run's Locust master", process=run
        )
        wait_for(
            lambda: connected(workers, port),
            timeout=120,
            what="both remote workers connected",
            process=run,
        )
        journal = wait_for(
            lambda: applied_journal(sandbox_home),
            timeout=120,
            what="the fault applied",
            process=run,
        )
        wait_for(
            lambda: (
                len(
                    [
                        count
                        for count in requests_by_worker(sandbox_home, journal["run_id"]).values()
                        if count > 0
                    ]
                )
                == len(workers)
            ),
            timeout=60,
            what="load from both remote workers",
            process=run,
        )
        run_load = tree(master_pid)
        remote = [pid for process in workers for pid in tree(process.pid)]
        assert len(remote) >= 2 * len(workers), "each worker command runs Locust as its child"

        killed_at = time.monotonic()
        run.send_signal(signal.SIGKILL)
        run.communicate(timeout=30)
        left_of_run = alive_at(run_load, killed_at + RUN_LOAD_WITHIN_S)
        left_remote = alive_at(remote, killed_at + REMOTE_WORKERS_WITHIN_S)
        exit_codes = [process.poll() for process in workers]
    finally:
        processes: list[subprocess.Popen[Any]] = [run, *workers]
        for process in processes:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
    logs = {
        source: (tmp_path / f"worker-{source}.log").read_text(errors="replace")
        for source in WORKER_SOURCES
    }
    assert run.returncode == -signal.SIGKILL
    assert not left_of_run, (
        f"the run's Locust processes {left_of_run} outlived it by {RUN_LOAD_WITHIN_S:g} s"
    )
    assert not left_remote, (
        f"remote workers {left_remote} still running "
        f"{REMOTE_WORKERS_WITHIN_S:g} s after the run was killed\n{logs}"
    )
    assert exit_codes == [2, 2], logs  # stopped by themselves, not ended by the master
    for source, log in logs.items():
        assert f"the Locust master at {source}:0;{master} stopped answering" in log, log

    rollback = gameday_ok(sandbox_home, "rollback", "--all")
    assert rollback.returncode == 0, rollback.stdout + rollback.stderr
    assert function_state(sandbox_clients) == before
