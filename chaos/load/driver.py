"""The load driver: Locust in its own processes, per-second rows streamed back live.

The orchestrator never imports Locust (gevent monkey-patching breaks boto3, threads and
signals): `LoadDriver` starts ``python -m locust`` processes — one headless process when
the run has no workers, else a headless master plus `load.workers` local workers, the
master also waiting for `load.remote_workers` `gameday load worker` processes — and tails
the rows file the master (or the single process) appends to. Every process it starts dies
with the orchestrator (chaos.load.processes). See docs/load.md.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import chaos
from chaos.errors import ConfigurationError, InputError
from chaos.host import free_port
from chaos.load.process_config import PLAN_ENV, PROCESS_ENV, LoadPlan, ProcessConfig
from chaos.load.processes import TiedProcesses
from chaos.metrics.rows import SecondRow

if TYPE_CHECKING:
    from chaos.experiment.model import Load
    from chaos.load.waf_traffic import WafTrafficPlan

log = logging.getLogger(__name__)

PLUGIN_PATH = Path(__file__).with_name("locust_plugin.py")
ROWS_FILE = "load-rows.jsonl"
DEFAULT_MASTER_HOST = "127.0.0.1"
# Bind addresses that mean "every interface": local workers connect through loopback.
_WILDCARD_HOSTS = {"*", "0.0.0.0", "[::]"}
TAIL_INTERVAL_S = 0.2
# Time for Locust to start (imports, workers connecting) on top of the ramp-up.
START_MARGIN_S = 20.0


@dataclass(frozen=True)
class LocustProcess:
    role: str  # standalone | master | worker-<n>
    process: subprocess.Popen[bytes]
    log_path: Path


def resolve_locustfile(locustfile: str, experiment_path: Path | None = None) -> Path:
    """``load.locustfile`` relative to the cwd, else to the experiment file's folder."""
    candidates = [Path(locustfile)]
    if experiment_path is not None and not Path(locustfile).is_absolute():
        candidates.append(experiment_path.parent / locustfile)
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    where = " or ".join(str(candidate) for candidate in candidates)
    raise InputError(f"load.locustfile: {where} does not exist")


class LoadDriver:
    """One run's Locust load: `start()`, `stop_abusive()`, `stop()`; rows arrive live."""

    def __init__(
        self,
        load: Load,
        *,
        host: str,
        run_dir: Path,
        max_run_time_s: float,
        waf_plan: WafTrafficPlan | None = None,
        on_row: Callable[[SecondRow], None] | None = None,
        experiment_path: Path | None = None,
        stop_timeout_s: float = 1.0,
    ) -> None:
        self.load = load
        self.host = host.rstrip("/")
        self.run_dir = run_dir
        self.max_run_time_s = max_run_time_s
        self.waf_plan = waf_plan
        self.on_row = on_row
        self.locustfile = resolve_locustfile(load.locustfile, experiment_path)
        self.master_bind_host, self.master_port = _master_bind(load.master_bind)
        self.stop_timeout_s = stop_timeout_s
        self.abusive_stopped_at: float | None = None
        self.started_at: float | None = None
        self.processes: list[LocustProcess] = []
        self.rows_path = run_dir / ROWS_FILE
        self._spawned_path = run_dir / "load-spawned"
        self._connected_path = run_dir / "load-workers-connected"
        self._tied = TiedProcesses()
        self._tail_stop = threading.Event()
        self._tail_thread: threading.Thread | None = None
        self._partial = b""

    # ------------------------------------------------------------------ lifecycle

    @property
    def total_users(self) -> int:
        """The locustfile's users plus the WAF clients (which come on top)."""
        waf = self.waf_plan
        return self.load.users + (waf.abusive_clients + waf.legit_clients if waf else 0)

    @property
    def master_address(self) -> str:
        """HOST:PORT the master listens on for workers (the port is known once started)."""
        return f"{self.master_bind_host}:{self.master_port}"

    def start(self, spawn_timeout_s: float | None = None) -> None:
        """Start Locust and return once every user is spawned (bounded wait).

        With workers, the master first waits up to `load.workers_timeout` for all of them;
        if some never connect, everything started is stopped and ConfigurationError says
        how many came.
        """
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.rows_path.write_bytes(b"")
        for marker in (self._spawned_path, self._connected_path):
            marker.unlink(missing_ok=True)
        environment = self._environment()
        if self.load.total_workers:
            self.master_port = self.master_port or free_port(self._probe_host())
            self.processes.append(self._spawn("master", self._master_args(), environment))
            for index in range(self.load.workers):
                self.processes.append(
                    self._spawn(f"worker-{index}", self._worker_args(), environment)
                )
        else:
            self.processes.append(self._spawn("standalone", self._standalone_args(), environment))
        self.started_at = time.time()
        self._tail_thread = threading.Thread(
            target=self._tail_forever, name="load-rows", daemon=True
        )
        self._tail_thread.start()
        self._wait_spawned(spawn_timeout_s or self._spawn_timeout_s())

    def stop_abusive(self) -> None:
        """Abusive clients stop abusing (they drop to the legit pace, to see the unblock)."""
        self.abusive_stopped_at = time.time()
        self._signal_main(signal.SIGUSR1)

    def stop(self, timeout_s: float = 2.0) -> None:
        """Stop all load: SIGTERM to the master, SIGKILL whatever is left after timeout_s."""
        deadline = time.monotonic() + timeout_s
        self._signal_main(signal.SIGTERM)
        self._wait_exit(deadline)
        for locust in self.processes:
            if locust.process.poll() is None:
                _signal_group(locust.process, signal.SIGKILL)
        for locust in self.processes:
            try:
                locust.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log.warning("locust %s (pid %s) did not exit", locust.role, locust.process.pid)
        self._finish_tail()
        self._tied.close()

    def wait(self, timeout_s: float) -> bool:
        """Wait for the load to end on its own (run time); True if it did."""
        ended = self._wait_exit(time.monotonic() + timeout_s)
        if ended:
            self.stop(timeout_s=2.0)  # the workers outlive a master that quit
        return ended

    @property
    def running(self) -> bool:
        return any(locust.process.poll() is None for locust in self.processes)

    # ------------------------------------------------------------------ processes

    def _environment(self) -> dict[str, str]:
        environment = dict(os.environ)
        environment[PLAN_ENV] = LoadPlan(
            workers=self.load.total_workers, waf=self.waf_plan
        ).to_json()
        environment[PROCESS_ENV] = ProcessConfig(
            rows_path=str(self.rows_path),
            spawned_path=str(self._spawned_path),
            connected_path=str(self._connected_path),
            orchestrator_pid=os.getpid(),
        ).to_json()
        return with_chaos_importable(environment)

    def _spawn_timeout_s(self) -> float:
        ramp_s = self.total_users / self.load.spawn_rate
        workers_s = self.load.workers_timeout if self.load.total_workers else 0.0
        return workers_s + ramp_s + START_MARGIN_S

    def _probe_host(self) -> str:
        return "0.0.0.0" if self.master_bind_host in _WILDCARD_HOSTS else self.master_bind_host

    def _local_master_host(self) -> str:
        """Where this machine's workers reach the master."""
        return (
            DEFAULT_MASTER_HOST
            if self.master_bind_host in _WILDCARD_HOSTS
            else self.master_bind_host
        )

    def _common_args(self) -> list[str]:
        return locust_command(self.locustfile)

    def _load_args(self) -> list[str]:
        return [
            "--headless",
            "--only-summary",
            "--host",
            self.host,
            "--users",
            str(self.total_users),
            "--spawn-rate",
            f"{self.load.spawn_rate:g}",
            "--run-time",
            f"{max(1, math.ceil(self.max_run_time_s))}s",
            "--stop-timeout",
            f"{self.stop_timeout_s:g}",
        ]

    def _standalone_args(self) -> list[str]:
        return self._common_args() + self._load_args()

    def _master_args(self) -> list[str]:
        return (
            self._common_args()
            + self._load_args()
            + [
                "--master",
                "--master-bind-host",
                self.master_bind_host,
                "--master-bind-port",
                str(self.master_port),
                "--expect-workers",
                str(self.load.total_workers),
                "--expect-workers-max-wait",
                str(max(1, math.ceil(self.load.workers_timeout))),
            ]
        )

    def _worker_args(self) -> list[str]:
        return self._common_args() + worker_args(self._local_master_host(), self.master_port)

    def _spawn(self, role: str, args: list[str], environment: dict[str, str]) -> LocustProcess:
        log_path = self.run_dir / f"locust-{role}.log"
        with open(log_path, "wb") as log_file:
            process = self._tied.start(args, env=environment, output=log_file)
        return LocustProcess(role, process, log_path)

    def _signal_main(self, signum: int) -> None:
        if self.processes and self.processes[0].process.poll() is None:
            self.processes[0].process.send_signal(signum)

    def _wait_exit(self, deadline: float) -> bool:
        main = self.processes[0].process if self.processes else None
        for _ in range(100_000):  # bounded: the deadline ends it long before
            if main is None or main.poll() is not None:
                break
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        for locust in self.processes[1:]:
            try:
                locust.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                return False
        return True

    def _wait_spawned(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._spawned_path.exists():
                return
            if self.processes[0].process.poll() is not None:
                self.stop()
                raise self._startup_failure()
            time.sleep(0.05)
        self.stop()
        raise ConfigurationError(
            f"locust did not spawn {self.total_users} users within "
            f"{timeout_s:.0f}s (logs in {self.run_dir})"
        )

    def _startup_failure(self) -> ConfigurationError:
        """Why the master (or single process) quit before spawning its users."""
        connected = self._connected_workers()
        if connected is not None and connected < self.load.total_workers:
            return ConfigurationError(self._missing_workers_message(connected))
        return ConfigurationError(
            f"locust exited before spawning its users: {self._log_tail(self.processes[0])}"
        )

    def _connected_workers(self) -> int | None:
        """How many workers the master saw connect; None if it never got that far."""
        try:
            return int(self._connected_path.read_text(encoding="utf-8").strip() or 0)
        except (OSError, ValueError):
            return None

    def _missing_workers_message(self, connected: int) -> str:
        load = self.load
        message = (
            f"load: {connected} of {load.total_workers} Locust workers connected within "
            f"{load.workers_timeout:g}s (master {self.master_address})"
        )
        if load.remote_workers:
            host = (
                "<this machine's address>"
                if self.master_bind_host in _WILDCARD_HOSTS
                else self.master_bind_host
            )
            # Workers run only a locustfile of their own (or, trusted, the master's code).
            message += (
                f"; start the missing ones with: gameday load worker --master "
                f"{host}:{self.master_port} --locustfile "
                f"{shlex.quote(load.locustfile)} (their copy of it)"
            )
        if load.workers:
            message += f" (local workers' logs in {self.run_dir})"
        return message

    @staticmethod
    def _log_tail(locust: LocustProcess) -> str:
        lines = locust.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
        meaningful = [line.strip() for line in lines if line.strip()]
        return meaningful[-1] if meaningful else f"no output (see {locust.log_path})"

    # ------------------------------------------------------------------ rows

    def _tail_forever(self) -> None:
        with open(self.rows_path, "rb") as rows_file:
            while not self._tail_stop.wait(TAIL_INTERVAL_S):
                self._read_rows(rows_file)
            self._read_rows(rows_file)

    def _read_rows(self, rows_file: IO[bytes]) -> None:
        data = self._partial + rows_file.read()
        *lines, self._partial = data.split(b"\n")
        for line in lines:
            if not line.strip():
                continue
            row = SecondRow.from_json(line.decode("utf-8"))
            if self.on_row is not None:
                try:
                    self.on_row(row)
                except Exception:  # noqa: BLE001 - a listener must not stop the stream
                    log.exception("on_row listener failed")

    def _finish_tail(self) -> None:
        self._tail_stop.set()
        if self._tail_thread is not None:
            self._tail_thread.join(timeout=5)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def locust_command(locustfile: Path | str) -> list[str]:
    """``python -m locust`` with the locustfile, then our plugin (it needs their user class)."""
    return [sys.executable, "-m", "locust", "-f", f"{locustfile},{PLUGIN_PATH}"]


def worker_args(master_host: str, master_port: int | None) -> list[str]:
    """The options of a Locust worker of a gameday run (local or remote)."""
    # A worker's exit code says nothing about the run (requests that failed, abusive
    # clients' expected blocks): the orchestrator gives the verdict.
    return [
        "--worker",
        "--master-host",
        master_host,
        "--master-port",
        str(master_port),
        "--exit-code-on-error",
        "0",
    ]


def with_chaos_importable(environment: dict[str, str]) -> dict[str, str]:
    """`environment` with this chaos package on PYTHONPATH: Locust processes import it."""
    source_root = str(Path(chaos.__file__).resolve().parents[1])
    path = environment.get("PYTHONPATH")
    environment["PYTHONPATH"] = f"{source_root}{os.pathsep}{path}" if path else source_root
    return environment


def _master_bind(master_bind: str | None) -> tuple[str, int | None]:
    """(host, port) of `load.master_bind` ("HOST:PORT", validated by the model)."""
    if master_bind is None:
        return DEFAULT_MASTER_HOST, None
    host, _, port = master_bind.rpartition(":")
    return host, int(port)
