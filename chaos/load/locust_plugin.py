"""Our Locust plugin, loaded after the experiment's locustfile: ``-f theirs.py,<this file>``.

In every Locust process it
- derives the abusive and legit WAF clients from the locustfile's `GamedayUser` subclass
  (fixed counts, paced by chaos.load.users.paced_wait);
- aggregates `events.request` into per-second SecondRows (chaos.load.collector);
- streams finished seconds: a single process appends them to the rows file, a worker sends
  them to the master (custom message), which appends them. The driver tails that file.
It must stay importable without boto3: Locust monkey-patches everything with gevent.
"""

from __future__ import annotations

import logging
import signal
import time
from pathlib import Path
from typing import Any

import gevent
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from chaos.load.collector import RequestOutcome, RowCollector
from chaos.load.process_config import ROWS_MESSAGE, STOP_ABUSIVE_MESSAGE
from chaos.load.users import CONFIG, AbusiveSwitch, GamedayUser, paced_wait
from chaos.metrics.rows import SecondRow, Traffic

log = logging.getLogger("gameday.load")

FLUSH_INTERVAL_S = 0.25
# How long the master waits, when quitting, for every worker's last rows.
FINAL_ROWS_WAIT_S = 1.5

COLLECTOR = RowCollector(CONFIG.waf.rule.block_status if CONFIG.waf else None)


def _locustfile_user_class() -> type[GamedayUser] | None:
    pending = list(GamedayUser.__subclasses__())
    for _ in range(1000):  # bounded walk of the class tree
        if not pending:
            return None
        candidate = pending.pop(0)
        if not candidate.abstract:
            return candidate
        pending.extend(candidate.__subclasses__())
    return None


def _derive_waf_clients() -> dict[str, type[GamedayUser]]:
    waf = CONFIG.waf
    if waf is None:
        return {}
    base = _locustfile_user_class()
    if base is None:
        raise RuntimeError("load.waf needs a locustfile user class derived from "
                           "chaos.load.users.GamedayUser (see loadtests/orders.py)")
    derived: dict[str, type[GamedayUser]] = {}
    for traffic, count, rps in (("abusive", waf.abusive_clients, waf.abusive_rps),
                                ("legit", waf.legit_clients, waf.legit_rps)):
        if count <= 0:  # fixed_count 0 would mean "by weight" to Locust
            continue
        name = f"{base.__name__}{traffic.capitalize()}"
        derived[name] = type(name, (base,), {
            "fixed_count": count, "gameday_traffic": traffic, "gameday_rps": rps,
            "wait_time": paced_wait, "__module__": __name__,
        })
    return derived


# Locust collects the User classes found in this module's globals.
globals().update(_derive_waf_clients())


class RowSink:
    """Appends JSON rows to the rows file (master or single process)."""

    def __init__(self, path: str | None) -> None:
        self._file = open(path, "a", encoding="utf-8") if path else None  # noqa: SIM115

    def write_lines(self, lines: list[str]) -> None:
        if self._file is None or not lines:
            return
        self._file.write("".join(f"{line}\n" for line in lines))
        self._file.flush()


@events.request.add_listener
def _on_request(request_type: str, name: str, response_time: float, response: Any = None,
                context: dict[str, Any] | None = None, **_: Any) -> None:
    gameday = (context or {}).get("gameday")
    user_class, traffic, identity = gameday if gameday else ("-", "normal", None)
    kind: Traffic = "abusive" if traffic == "abusive" else "legit" if traffic == "legit" \
        else "normal"
    status = int(getattr(response, "status_code", 0) or 0) if response is not None else 0
    outcome = RequestOutcome(user_class, f"{request_type} {name}", kind, identity, status,
                             float(response_time or 0.0))
    COLLECTOR.record(outcome, time.time())


@events.init.add_listener
def _on_init(environment: Any, runner: Any = None, **_: Any) -> None:
    if isinstance(runner, MasterRunner):
        _init_master(runner, RowSink(CONFIG.rows_path))
    elif isinstance(runner, WorkerRunner):
        _init_worker(runner)
    elif runner is not None:
        _init_single(environment, RowSink(CONFIG.rows_path))


def _mark_spawned(**_: Any) -> None:
    if CONFIG.spawned_path:
        Path(CONFIG.spawned_path).write_text(f"{time.time()}\n", encoding="utf-8")


def _init_single(environment: Any, sink: RowSink) -> None:
    def flush_forever() -> None:
        while True:
            gevent.sleep(FLUSH_INTERVAL_S)
            sink.write_lines([row.to_json() for row in COLLECTOR.take_finished(time.time())])

    gevent.spawn(flush_forever)
    environment.events.test_stop.add_listener(
        lambda **_: sink.write_lines([row.to_json() for row in COLLECTOR.take_all()]))
    environment.events.spawning_complete.add_listener(_mark_spawned)
    gevent.signal_handler(signal.SIGUSR1, _stop_abusive)


def _stop_abusive(*_: Any, **__: Any) -> None:
    AbusiveSwitch.stopped = True


def _init_worker(runner: WorkerRunner) -> None:
    def send(rows: list[SecondRow], final: bool) -> None:
        if rows or final:
            runner.send_message(ROWS_MESSAGE, {"rows": [row.to_json() for row in rows],
                                               "final": final})

    def flush_forever() -> None:
        while True:
            gevent.sleep(FLUSH_INTERVAL_S)
            send(COLLECTOR.take_finished(time.time()), final=False)

    gevent.spawn(flush_forever)
    runner.environment.events.test_stop.add_listener(
        lambda **_: send(COLLECTOR.take_all(), final=True))
    runner.register_message(STOP_ABUSIVE_MESSAGE, _stop_abusive)


def _init_master(runner: MasterRunner, sink: RowSink) -> None:
    finished_workers: set[str] = set()

    def on_rows(environment: Any, msg: Any, **_: Any) -> None:
        sink.write_lines(list(msg.data.get("rows", [])))
        if msg.data.get("final"):
            finished_workers.add(msg.node_id)

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
    runner.quit = quit_after_final_rows  # type: ignore[method-assign]
    runner.environment.events.spawning_complete.add_listener(_mark_spawned)
    gevent.signal_handler(signal.SIGUSR1, stop_abusive)


def _message(kind: str, client_id: str) -> Any:
    from locust.rpc import Message

    return Message(kind, None, client_id)
