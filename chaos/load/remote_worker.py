"""`gameday load worker`: a Locust worker for a running experiment, on any machine.

The machine needs chaos-gameday (our plugin and the `GamedayUser` base class) and the
locustfile: a local copy with ``--locustfile``, or, only with ``--trust-master-code``, the
master's own, which Locust sends on request (``locust -f -``) and this worker then imports,
that is *executes*: the channel is unauthenticated, so whoever can reach the worker's master
address (or impersonate it) runs Python on this machine. Everything else comes from the
master over Locust's channel:
the run's load plan (how many workers, the WAF clients, their identities) is the custom
option ``--gameday-plan`` that Locust forwards with the first spawn message, and the worker
index Locust assigns on connect keeps WAF identities distinct across every worker of the
run. The worker sends its rows to the master and exits when the master ends the run, or
when the master stops answering (chaos.load.locust_plugin.MASTER_SILENCE_S).

Never imports Locust: the worker is a child process that dies with this one.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from chaos.errors import ConfigurationError, InputError
from chaos.load.driver import locust_command, with_chaos_importable, worker_args
from chaos.load.process_config import PLAN_ENV, PROCESS_ENV
from chaos.load.processes import TiedProcesses
from chaos.outcome import EXIT_MASTER_GONE

# Locust's worker quits cleanly (telling the master) on SIGTERM only.
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
STOP_GRACE_S = 10.0


def parse_master(master: str) -> tuple[str, int]:
    """``HOST:PORT`` of a Locust master; raises InputError."""
    host, _, port = master.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"--master must be HOST:PORT, e.g. 10.0.0.5:5557, not {master!r}")
    return host, int(port)


TRUST_REQUIRED = (
    "--locustfile F is required: the worker runs a local copy of the experiment's "
    "locustfile (or pass --trust-master-code to run the master's: Python sent over Locust's "
    "unauthenticated channel and executed by this worker)"
)


def worker_command(
    master: str, locustfile: Path | None = None, *, trust_master_code: bool = False
) -> list[str]:
    """The Locust worker command line for the master at `master` (HOST:PORT); raises
    InputError without a locustfile unless the master's code is trusted."""
    host, port = parse_master(master)
    if locustfile is None:
        if not trust_master_code:
            raise InputError(TRUST_REQUIRED)
        files = [sys.executable, "-m", "locust", "-f", "-"]  # the master's locustfiles
    elif not locustfile.is_file():
        raise InputError(f"--locustfile: {locustfile} does not exist")
    else:
        files = locust_command(locustfile.resolve())
    return files + worker_args(host, port)


def run_worker(
    master: str, locustfile: Path | None = None, *, trust_master_code: bool = False
) -> int:
    """Run one Locust worker until the master ends the run; its exit code.

    Raises ConfigurationError when the worker stopped because the master was gone.
    """
    command = worker_command(master, locustfile, trust_master_code=trust_master_code)
    with tempfile.TemporaryDirectory(prefix="gameday-load-worker-") as scratch:
        environment = with_chaos_importable(dict(os.environ))
        for local_only in (PLAN_ENV, PROCESS_ENV):  # the plan comes from the master
            environment.pop(local_only, None)
        # `-f -` writes the master's locustfiles into the temp dir: one per worker, so that
        # several workers on one machine never read a file another is writing.
        environment["TMPDIR"] = scratch
        tied = TiedProcesses()
        try:
            process = tied.start(command, env=environment, output=None)
            exit_code = _wait_forwarding_signals(process)
        finally:
            tied.close()
    if exit_code == EXIT_MASTER_GONE:
        raise ConfigurationError(
            f"load worker: the Locust master at {master} stopped answering; this worker stopped"
        )
    return exit_code


def _wait_forwarding_signals(process: subprocess.Popen[bytes]) -> int:
    """Wait for the worker; SIGTERM, SIGHUP (a container or terminal going away) and Ctrl-C
    stop it as SIGTERM, bounded by STOP_GRACE_S."""

    def stop(_signum: int, _frame: FrameType | None) -> None:
        process.send_signal(signal.SIGTERM)

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = (
        {signum: signal.signal(signum, stop) for signum in _STOP_SIGNALS} if in_main_thread else {}
    )
    try:
        # Unbounded on purpose: the master decides when the run (and this worker) ends.
        return process.wait()
    except KeyboardInterrupt:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait(timeout=STOP_GRACE_S)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
