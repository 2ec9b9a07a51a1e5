"""Load dies with what drives it, whatever kills it (issue 15).

A SIGKILL runs no cleanup at all: the Locust processes must notice by themselves. The
deadlines below are the requirement (load stops within 5 s of the orchestrator, a remote
worker within 10 s of its master), checked as bounded waits.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaos.experiment.model import Load
from chaos.host import free_port
from chaos.load.driver import LoadDriver, locust_command, with_chaos_importable
from chaos.load.process_config import PROCESS_ENV, ProcessConfig
from chaos.outcome import EXIT_ORCHESTRATOR_GONE
from tests.load.local_target import LocalTarget
from tests.load.processes import gone, kill_leftovers, process_tree, still_running, stop

OWNER = Path(__file__).with_name("load_owner.py")
LOCUSTFILE = str(Path(__file__).resolve().parents[2] / "loadtests" / "orders.py")
ORCHESTRATOR_DEADLINE_S = 5.0
MASTER_DEADLINE_S = 10.0
START_TIMEOUT_S = 60.0


def wait_for_requests(target: LocalTarget, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while target.total == 0:
        assert time.monotonic() < deadline, "the load never reached the target"
        time.sleep(0.05)


def start_owner(
    url: str, run_dir: Path, workers: int, tied: bool
) -> tuple[subprocess.Popen[str], list[int]]:
    """The stand-in orchestrator, once its load runs, and the pids of its Locust processes."""
    owner = subprocess.Popen(
        [
            sys.executable,
            str(OWNER),
            url,
            str(run_dir),
            str(workers),
            *([] if tied else ["--untied"]),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert owner.stdout is not None
    ready, _, _ = select.select([owner.stdout], [], [], START_TIMEOUT_S)
    if not ready:
        stop(owner)
        pytest.fail("the load owner did not start its load in time")
    line = owner.stdout.readline()
    if not line:
        stop(owner)
        pytest.fail(f"the load owner exited: {owner.wait(timeout=10)}")
    return owner, list(json.loads(line)["locust"].values())


@pytest.mark.parametrize("workers", [0, 2], ids=["single-process", "master-and-2-workers"])
@pytest.mark.parametrize("tied", [True, False], ids=["parent-death-signal", "watchdog-alone"])
def test_locust_dies_with_the_process_that_owns_the_driver(
    tmp_path: Path, workers: int, tied: bool
) -> None:
    with LocalTarget() as target:
        owner, locust_pids = start_owner(target.url, tmp_path, workers, tied)
        try:
            assert len(locust_pids) == (1 + workers)
            wait_for_requests(target)
            owner.send_signal(signal.SIGKILL)
            owner.wait(timeout=10)
            left = still_running(locust_pids, ORCHESTRATOR_DEADLINE_S)
            assert not left, f"Locust processes {left} outlived their orchestrator"
            served = target.settled_total()
            time.sleep(1.0)
            assert target.total == served, "requests kept coming after the orchestrator died"
        finally:
            stop(owner)
            kill_leftovers(locust_pids)


def test_the_watchdog_watches_an_orchestrator_that_is_not_its_parent(tmp_path: Path) -> None:
    """The portable path: Locust started by hand with the pid of another process to watch."""
    orchestrator = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    environment = with_chaos_importable(dict(os.environ))
    environment[PROCESS_ENV] = ProcessConfig(orchestrator_pid=orchestrator.pid).to_json()
    with LocalTarget() as target:
        locust = subprocess.Popen(
            [
                *locust_command(LOCUSTFILE),
                "--headless",
                "--host",
                target.url,
                "--users",
                "2",
                "--spawn-rate",
                "20",
                "--run-time",
                "60s",
            ],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_requests(target)
            orchestrator.kill()
            orchestrator.wait(timeout=10)  # reaped: a zombie would still answer kill(pid, 0)
            assert locust.wait(timeout=ORCHESTRATOR_DEADLINE_S) == EXIT_ORCHESTRATOR_GONE
        finally:
            stop(orchestrator)
            stop(locust)


def test_a_remote_worker_whose_master_was_killed_stops(tmp_path: Path) -> None:
    load = Load(
        locustfile=LOCUSTFILE,
        users=2,
        spawn_rate=20.0,
        remote_workers=1,
        master_bind=f"127.0.0.1:{free_port()}",
        workers_timeout=30.0,
    )
    log_path = tmp_path / "remote-worker.log"
    with LocalTarget() as target, open(log_path, "wb") as log_file:
        driver = LoadDriver(load, host=target.url, run_dir=tmp_path / "run", max_run_time_s=60)
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chaos",
                "load",
                "worker",
                "--master",
                driver.master_address,
                "--trust-master-code",
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=with_chaos_importable(dict(os.environ)),
        )
        worker_pids: list[int] = []
        try:
            driver.start()
            wait_for_requests(target)
            worker_pids = process_tree(worker.pid)
            assert len(worker_pids) >= 2, "the worker command runs Locust as its child"
            driver.processes[0].process.send_signal(signal.SIGKILL)
            exit_code = worker.wait(timeout=MASTER_DEADLINE_S)
            assert not still_running(worker_pids, 1.0)
        finally:
            driver.stop()
            stop(worker)
            kill_leftovers(worker_pids)
    output = log_path.read_text(errors="replace")
    assert exit_code == 2, output
    assert f"the Locust master at {driver.master_address} stopped answering" in output
    assert all(gone(pid) for pid in worker_pids)
