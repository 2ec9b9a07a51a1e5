"""Our Locust plugin, loaded after the experiment's locustfile: ``-f theirs.py,<this file>``.

In every Locust process it
- reads the run's load plan, the ``--gameday-plan`` option (chaos.load.process_config): a
  master or single process when it starts, a worker when the master forwards it with the
  first spawn message (Locust forwards custom options to workers), before any user starts;
- derives the abusive and legit WAF clients from the locustfile's `GamedayUser` subclass
  (fixed counts, paced by chaos.load.users.paced_wait);
- aggregates `events.request` into per-second SecondRows (chaos.load.collector);
- streams finished seconds: a single process appends them to the rows file, a worker sends
  them to the master (custom message), which appends them. The driver tails that file;
- stops its process when what drives it is gone: the orchestrator (processes the driver
  started) or the master (workers: no heartbeat answer for MASTER_SILENCE_S).
It must stay importable without boto3: Locust monkey-patches everything with gevent.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from chaos.host import process_alive
from chaos.load.collector import RowCollector, with_flags
from chaos.load.process_config import (
    PLAN_ENV,
    PLAN_OPTION,
    ROWS_MESSAGE,
    STOP_ABUSIVE_MESSAGE,
    LoadPlan,
    ProcessConfig,
)
from chaos.load.response_signs import ResponseSigns
from chaos.load.users import AbusiveSwitch, ActivePlan, GamedayUser, paced_wait
from chaos.metrics.rows import SecondRow
from chaos.outcome import EXIT_MASTER_GONE, EXIT_ORCHESTRATOR_GONE

log = logging.getLogger("gameday.load")

FLUSH_INTERVAL_S = 0.25
# How long the master waits, when quitting, for every worker's last rows.
FINAL_ROWS_WAIT_S = 1.5
ORCHESTRATOR_CHECK_INTERVAL_S = 0.5
# A Locust master answers every worker heartbeat (one a second); this much silence means
# it is gone. Locust's own worker waits 60 s, too long for load that must stop with its run.
MASTER_SILENCE_S = 5.0

LOCAL = ProcessConfig.from_environment()
COLLECTOR = RowCollector(worker=f"{socket.gethostname()}-{os.getpid()}")


@events.init_command_line_parser.add_listener
def _add_plan_option(parser: Any, **_: Any) -> None:
    parser.add_argument(
        PLAN_OPTION,
        env_var=PLAN_ENV,
        default=None,
        include_in_web_ui=False,
        help="the run's load plan as JSON (set by gameday; Locust forwards it to the workers)",
    )


@events.request.add_listener
def _on_request(
    request_type: str,
    name: str,
    response_time: float,
    response: Any = None,
    context: dict[str, Any] | None = None,
    exception: Any = None,
    start_time: Any = None,
    url: Any = None,
    response_length: Any = None,
    **_: Any,
) -> None:
    # Runs for every request, in the process that sends the load: keep it this small.
    # Every argument Locust passes is named, so `_` stays an empty dict (a quarter faster).
    status = getattr(response, "status_code", 0) or 0
    if status >= 400:  # only errors can be blocks or injected responses: look closer
        status = with_flags(status, RESPONSES.flags(status, response))
    COLLECTOR.record(
        int(time.time()),
        context.get("gameday") if context else None,
        request_type,
        name,
        status,
        response_time or 0,
    )


RESPONSES = ResponseSigns()


@events.init.add_listener
def _on_init(environment: Any, runner: Any = None, **_: Any) -> None:
    if isinstance(runner, MasterRunner):
        _init_master(runner)
    elif isinstance(runner, WorkerRunner):
        _init_worker(runner)
    elif runner is not None:
        _init_single(environment)
    if LOCAL.orchestrator_pid:
        gevent.spawn(_exit_when_orchestrator_gone, LOCAL.orchestrator_pid)


# --------------------------------------------------------------------------- the plan


def _plan_option(environment: Any) -> LoadPlan:
    return LoadPlan.from_json(getattr(environment.parsed_options, "gameday_plan", None))


def _apply_plan(environment: Any, plan: LoadPlan) -> None:
    """Make `plan` this process's: WAF clients join the user classes, blocks get counted."""
    ActivePlan.plan = plan
    RESPONSES.configure(plan)
    present = {user_class.__name__ for user_class in environment.user_classes}
    environment.user_classes.extend(
        user_class for user_class in _waf_client_classes(plan) if user_class.__name__ not in present
    )


def _waf_client_classes(plan: LoadPlan) -> list[type[GamedayUser]]:
    waf = plan.waf
    if waf is None:
        return []
    base = _locustfile_user_class()
    if base is None:
        log.error(
            "load.waf needs a locustfile user class derived from "
            "chaos.load.users.GamedayUser (see loadtests/orders.py)"
        )
        raise SystemExit(1)
    derived = []
    for traffic, count, rps in (
        ("abusive", waf.abusive_clients, waf.abusive_rps),
        ("legit", waf.legit_clients, waf.legit_rps),
    ):
        if count <= 0:  # fixed_count 0 would mean "by weight" to Locust
            continue
        name = f"{base.__name__}{traffic.capitalize()}"
        derived.append(
            type(
                name,
                (base,),
                {
                    "fixed_count": count,
                    "gameday_traffic": traffic,
                    "gameday_rps": rps,
                    "wait_time": paced_wait,
                    "__module__": __name__,
                },
            )
        )
    return derived


def _locustfile_user_class() -> type[GamedayUser] | None:
    pending = list(GamedayUser.__subclasses__())
    for _ in range(1000):  # bounded walk of the class tree
        if not pending:
            return None
        candidate = pending.pop(0)
        if not candidate.abstract and candidate.__module__ != __name__:
            return candidate
        pending.extend(candidate.__subclasses__())
    return None


# --------------------------------------------------------------------------- roles


class RowSink:
    """Appends JSON rows to the rows file (master or single process)."""

    def __init__(self, path: str | None) -> None:
        self._file = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115

    def write_lines(self, lines: list[str]) -> None:
        if self._file is None or not lines:
            return
        self._file.write("".join(f"{line}\n" for line in lines))
        self._file.flush()


def _flush_forever(send: Callable[[list[SecondRow]], None]) -> None:
    while True:
        gevent.sleep(FLUSH_INTERVAL_S)
        send(COLLECTOR.take_finished(time.time()))


def _mark_spawned(**_: Any) -> None:
    if LOCAL.spawned_path:
        Path(LOCAL.spawned_path).write_text(f"{time.time()}\n", encoding="utf-8")


def _stop_abusive(*_: Any, **__: Any) -> None:
    AbusiveSwitch.stopped = True


def _init_single(environment: Any) -> None:
    _apply_plan(environment, _plan_option(environment))
    sink = RowSink(LOCAL.rows_path)

    def write(rows: list[SecondRow]) -> None:
        sink.write_lines([row.to_json() for row in rows])

    gevent.spawn(_flush_forever, write)
    environment.events.test_stop.add_listener(lambda **_: write(COLLECTOR.take_all()))
    environment.events.spawning_complete.add_listener(_mark_spawned)
    gevent.signal_handler(signal.SIGUSR1, _stop_abusive)


def _init_worker(runner: WorkerRunner) -> None:
    def send(rows: list[SecondRow], final: bool) -> None:
        if rows or final:
            runner.send_message(
                ROWS_MESSAGE, {"rows": [row.to_json() for row in rows], "final": final}
            )

    events_ = runner.environment.events
    # The master's spawn message has just brought its options (the plan) and no user
    # runs yet: test_start fires in between.
    events_.test_start.add_listener(
        lambda environment, **_: _apply_plan(environment, _plan_option(environment))
    )
    gevent.spawn(_flush_forever, lambda rows: send(rows, final=False))
    events_.test_stop.add_listener(lambda **_: send(COLLECTOR.take_all(), final=True))
    runner.register_message(STOP_ABUSIVE_MESSAGE, _stop_abusive)
    gevent.spawn(_exit_when_master_silent, runner)


def _init_master(runner: MasterRunner) -> None:
    _apply_plan(runner.environment, _plan_option(runner.environment))
    sink = RowSink(LOCAL.rows_path)
    finished_workers: set[str] = set()
    connected_workers: set[str] = set()

    def on_rows(environment: Any, msg: Any, **_: Any) -> None:
        sink.write_lines(list(msg.data.get("rows", [])))
        if msg.data.get("final"):
            finished_workers.add(msg.node_id)

    def on_worker_connect(client_id: str, **_: Any) -> None:
        connected_workers.add(client_id)
        if LOCAL.connected_path:
            Path(LOCAL.connected_path).write_text(f"{len(connected_workers)}\n", encoding="utf-8")

    def stop_abusive() -> None:
        _stop_abusive()
        runner.send_message(STOP_ABUSIVE_MESSAGE)

    original_quit = runner.quit

    def quit_after_final_rows() -> None:
        # Locust's own quit waits a fixed 0.5 s for the workers' last report; wait for
        # every worker's last rows instead (bounded), so totals are exact.
        expected = {client.id for client in runner.clients.all}
        runner.stop(send_stop_to_client=False)
        for client_id in expected:
            runner.server.send_to_client(_message("quit", client_id))
        deadline = time.monotonic() + FINAL_ROWS_WAIT_S
        while not expected <= finished_workers and time.monotonic() < deadline:
            gevent.sleep(0.05)
        original_quit()

    runner.register_message(ROWS_MESSAGE, on_rows)
    runner.environment.events.worker_connect.add_listener(on_worker_connect)
    runner.quit = quit_after_final_rows  # type: ignore[method-assign]
    runner.environment.events.spawning_complete.add_listener(_mark_spawned)
    gevent.signal_handler(signal.SIGUSR1, stop_abusive)


def _message(kind: str, client_id: str) -> Any:
    from locust.rpc import Message

    return Message(kind, None, client_id)


# --------------------------------------------------------------------------- watchdogs


def _exit_when_orchestrator_gone(pid: int) -> None:
    """The portable backstop of PR_SET_PDEATHSIG (chaos.load.processes)."""
    # A killed orchestrator that nobody reaped yet still answers kill(pid, 0), but its
    # children are re-parented the moment it dies: watch the parent when it is ours.
    its_child = os.getppid() == pid
    while True:
        gevent.sleep(ORCHESTRATOR_CHECK_INTERVAL_S)
        gone = os.getppid() != pid if its_child else not process_alive(pid)
        if gone:
            _exit_now(
                f"the process that drives this load (pid {pid}) is gone", EXIT_ORCHESTRATOR_GONE
            )


def _exit_when_master_silent(runner: WorkerRunner) -> None:
    heard_at = time.monotonic()

    def on_heartbeat(**_: Any) -> None:
        nonlocal heard_at
        heard_at = time.monotonic()

    runner.environment.events.heartbeat_received.add_listener(on_heartbeat)
    while True:
        gevent.sleep(1.0)
        silent_s = time.monotonic() - heard_at
        if silent_s > MASTER_SILENCE_S:
            _exit_now(
                f"the Locust master {runner.master_host}:{runner.master_port} has not "
                f"answered for {silent_s:.0f}s",
                EXIT_MASTER_GONE,
            )


def _exit_now(reason: str, exit_code: int) -> None:
    # Nobody will read this process's rows or stats any more; what matters is that its
    # users stop sending at once, so no graceful Locust shutdown.
    log.error("%s: stopping this Locust process", reason)
    logging.shutdown()
    os._exit(exit_code)
