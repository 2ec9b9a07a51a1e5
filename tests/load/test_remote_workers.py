"""Load from many machines: `gameday load worker` processes join a run's master.

"Machines" are loopback addresses: the master binds 127.0.0.1, the workers connect from
127.0.0.2 and 127.0.0.3 (zmq's ``tcp://SOURCE:0;HOST:PORT`` connect syntax, passed through
--master); one brings its own locustfile, the other receives the master's. Neither is
given the load plan: it comes from the master.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import psutil
import pytest

from chaos.cli import build_parser, main
from chaos.cli.commands.experiment import _with_load_master_bind
from chaos.errors import ConfigurationError, InputError
from chaos.experiment import load_experiment
from chaos.experiment.model import Load
from chaos.host import free_port
from chaos.load.driver import LoadDriver, with_chaos_importable
from chaos.load.remote_worker import worker_command
from chaos.metrics.rows import SecondRow
from tests.load.local_target import LocalTarget
from tests.load.processes import kill_leftovers, process_tree, still_running, stop
from tests.waf_rules import forwarded_ip_rule, waf_plan

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = str(REPO / "loadtests" / "orders.py")
EXPERIMENT_WITH_LOAD = REPO / "experiments" / "sandbox" / "az-loss.yaml"
MASTER_HOST = "127.0.0.1"
WORKER_SOURCES = ("127.0.0.2", "127.0.0.3")
EXIT_TIMEOUT_S = 30.0
# Upper bound only (a busy machine): a start missing a worker fails this long after its
# workers_timeout at most; the driver's own spawn backstop would come later (START_MARGIN_S).
MISSING_WORKER_MARGIN_S = 15.0
RULE = forwarded_ip_rule(limit=6, window_s=3)


def remote_worker(
    master: str, log: IO[bytes], locustfile: str | None = None
) -> subprocess.Popen[bytes]:
    """`gameday load worker --master MASTER [--locustfile PATH]`, as another machine runs it."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chaos",
            "load",
            "worker",
            "--master",
            master,
            *(["--locustfile", locustfile] if locustfile else ["--trust-master-code"]),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=with_chaos_importable(dict(os.environ)),
    )


def remote_load(remote_workers: int, workers_timeout: float = 60.0) -> Load:
    return Load(
        locustfile=LOCUSTFILE,
        users=2,
        spawn_rate=50.0,
        workers=0,
        remote_workers=remote_workers,
        workers_timeout=workers_timeout,
        master_bind=f"{MASTER_HOST}:{free_port(MASTER_HOST)}",
    )


def source_addresses(pid: int, master_port: int | None) -> set[str]:
    """The local addresses `pid` (a Locust worker) talks to the master from."""
    try:
        connections = psutil.Process(pid).net_connections(kind="tcp")
    except psutil.NoSuchProcess:
        return set()
    addresses = set()
    for connection in connections:
        if connection.raddr and connection.raddr.port == master_port:
            parsed = ipaddress.ip_address(connection.laddr.ip)
            mapped = parsed.ipv4_mapped if isinstance(parsed, ipaddress.IPv6Address) else None
            addresses.add(str(mapped or parsed))  # zmq's sockets may be dual-stack
    return addresses


def test_two_remote_workers_and_no_local_one(tmp_path: Path) -> None:
    load = remote_load(remote_workers=2)
    plan = waf_plan(RULE, abusive=4, legit=4, workers=load.total_workers)
    rows: list[SecondRow] = []
    pids: list[int] = []
    with (
        LocalTarget(block_after=RULE.limit, window_s=RULE.window_s) as target,
        open(tmp_path / "worker-a.log", "wb") as log_a,
        open(tmp_path / "worker-b.log", "wb") as log_b,
    ):
        driver = LoadDriver(
            load,
            host=target.url,
            run_dir=tmp_path / "run",
            max_run_time_s=5,
            waf_plan=plan,
            on_row=rows.append,
        )
        machine_a, machine_b = (f"{source}:0;{driver.master_address}" for source in WORKER_SOURCES)
        workers = [
            remote_worker(machine_a, log_a, locustfile=LOCUSTFILE),
            remote_worker(machine_b, log_b),
        ]
        try:
            driver.start()
            pids = [locust.process.pid for locust in driver.processes]
            locust_workers = [process_tree(worker.pid)[1:] for worker in workers]
            sources = [
                {ip for pid in tree for ip in source_addresses(pid, driver.master_port)}
                for tree in locust_workers
            ]
            pids += [pid for worker in workers for pid in process_tree(worker.pid)]
            assert driver.wait(timeout_s=EXIT_TIMEOUT_S), "the master did not end on its own"
            exit_codes = [worker.wait(timeout=EXIT_TIMEOUT_S) for worker in workers]
            left = still_running(pids, 5.0)
        finally:
            driver.stop()
            for worker in workers:
                stop(worker)
            kill_leftovers(pids)
        served = target.total
    assert exit_codes == [0, 0], [
        (tmp_path / log).read_text() for log in ("worker-a.log", "worker-b.log")
    ]
    assert not left, f"processes {left} outlived the run"
    assert sources == [{source} for source in WORKER_SOURCES]  # each from its own "machine"
    assert served > 0 and sum(row.requests for row in rows) == served
    # rows from both workers, labelled with the Locust process that measured them
    labels = {row.worker for row in rows}
    assert {label.rsplit("-", 1)[-1] for label in labels if label} == {
        str(pid) for tree in locust_workers for pid in tree
    }
    # WAF identities (normal users get one too): every client its own, sent by one worker
    senders: dict[tuple[str, str | None], set[str | None]] = {}
    for row in rows:
        senders.setdefault((row.traffic, row.identity), set()).add(row.worker)
    assert (
        sorted(traffic for traffic, _ in senders)
        == ["abusive"] * 4 + ["legit"] * 4 + ["normal"] * load.users
    )
    assert all(len(workers) == 1 for workers in senders.values()), senders


def test_a_missing_worker_fails_the_start_with_one_line(tmp_path: Path) -> None:
    load = remote_load(remote_workers=2, workers_timeout=3.0)
    pids: list[int] = []
    with LocalTarget() as target, open(tmp_path / "worker.log", "wb") as log:
        driver = LoadDriver(load, host=target.url, run_dir=tmp_path / "run", max_run_time_s=30)
        worker = remote_worker(f"{WORKER_SOURCES[0]}:0;{driver.master_address}", log)
        try:
            started = time.monotonic()
            with pytest.raises(ConfigurationError) as raised:
                driver.start()
            failed_after_s = time.monotonic() - started
            pids = [locust.process.pid for locust in driver.processes] + process_tree(worker.pid)
            exit_code = worker.wait(timeout=EXIT_TIMEOUT_S)
            left = still_running(pids, 5.0)
        finally:
            driver.stop()
            stop(worker)
            kill_leftovers(pids)
        served = target.total
    message = str(raised.value)
    address = re.escape(driver.master_address)
    assert re.fullmatch(
        rf"load: 1 of 2 Locust workers connected within 3s \(master {address}\); start the "
        rf"missing ones with: gameday load worker --master {address} --locustfile "
        rf"{re.escape(shlex.quote(LOCUSTFILE))} \(their copy of it\)",
        message,
    ), message
    assert failed_after_s < load.workers_timeout + MISSING_WORKER_MARGIN_S, failed_after_s
    assert exit_code == 0  # the worker that came is told to quit
    assert not left, f"processes {left} outlived the failed start"
    assert served == 0  # no load was sent
    assert not (tmp_path / "run" / "load-rows.jsonl").read_bytes()


def test_worker_command_takes_the_masters_locustfile_only_when_trusted(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--locustfile F is required.*--trust-master-code"):
        worker_command("10.0.0.5:5557")
    assert worker_command("10.0.0.5:5557", trust_master_code=True)[3:5] == ["-f", "-"]
    given = worker_command("10.0.0.5:5557", Path(LOCUSTFILE))
    assert given[given.index("-f") + 1].startswith(f"{LOCUSTFILE},")
    assert given[-6:-2] == ["--master-host", "10.0.0.5", "--master-port", "5557"]
    with pytest.raises(InputError, match="HOST:PORT"):
        worker_command("10.0.0.5")
    with pytest.raises(InputError, match="does not exist"):
        worker_command("10.0.0.5:5557", tmp_path / "missing.py")


def test_load_worker_without_a_locustfile_refuses_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Nothing is started: the master's code would be executed, sent over an unauthenticated
    channel."""
    assert main(["load", "worker", "--master", "127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--locustfile F is required" in err, err
    assert "executed by this worker" in err


def test_run_option_load_master_bind_overrides_the_experiment() -> None:
    arguments = build_parser().parse_args(
        ["run", "experiment.yaml", "--load-master-bind", "0.0.0.0:5557"]
    )
    assert arguments.load_master_bind == "0.0.0.0:5557"
    experiment = load_experiment(EXPERIMENT_WITH_LOAD)
    assert experiment.load is not None
    overridden = _with_load_master_bind(experiment, "0.0.0.0:5557")
    assert overridden.load is not None and overridden.load.master_bind == "0.0.0.0:5557"
    assert overridden.load.model_dump(exclude={"master_bind"}) == experiment.load.model_dump(
        exclude={"master_bind"}
    )
    with pytest.raises(InputError, match="--load-master-bind: .*HOST:PORT"):
        _with_load_master_bind(experiment, "nowhere")
