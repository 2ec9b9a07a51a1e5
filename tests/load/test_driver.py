"""Real Locust runs against a local HTTP target: rows equal what the server counted."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from chaos.experiment.model import Load
from chaos.load.driver import LoadDriver
from chaos.metrics.rows import SecondRow
from tests.load.local_target import LocalTarget
from tests.reference.whole_rows import merge_rows, waf_slis
from tests.waf_rules import forwarded_ip_rule, waf_plan

LOCUSTFILE = str(Path(__file__).resolve().parents[2] / "loadtests" / "orders.py")


class RowsReceived:
    """An `on_row` listener that keeps every row and when it arrived (tail thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rows: list[SecondRow] = []
        self.arrivals: list[float] = []

    def __call__(self, row: SecondRow) -> None:
        with self._lock:
            self.rows.append(row)
            self.arrivals.append(time.time())


def run_to_end(driver: LoadDriver) -> float:
    driver.start()
    assert driver.wait(timeout_s=30), "locust did not end on its own"
    return time.time()


def assert_no_process_left(driver: LoadDriver) -> None:
    for locust in driver.processes:
        assert locust.process.poll() is not None, f"{locust.role} still running"
        with pytest.raises(ProcessLookupError):
            os.killpg(locust.process.pid, 0)


def test_single_process_rows_match_the_server_and_arrive_live(tmp_path: Path) -> None:
    received = RowsReceived()
    with LocalTarget() as target:
        # 5 s: enough requests that a POST (2 of 11 task weights) is all but certain
        # (3 s, ~19 requests under CPU contention, missed it ~2 % of runs).
        driver = LoadDriver(
            Load(locustfile=LOCUSTFILE, users=8, spawn_rate=40.0),
            host=target.url,
            run_dir=tmp_path,
            max_run_time_s=5,
            on_row=received,
        )
        ended_at = run_to_end(driver)
        served = target.total
    rows, arrivals = merge_rows(received.rows), received.arrivals
    assert served > 0
    assert sum(row.requests for row in rows) == served
    assert {row.endpoint for row in rows} >= {"GET /orders", "POST /orders"}
    assert all(row.user_class == "OrdersUser" and row.failures == 0 for row in rows)
    assert sum(row.histogram.count for row in rows) == served
    assert min(arrivals) < ended_at - 1.0, "rows only arrived at the end, not live"
    (label,) = {row.worker for row in received.rows}  # one process measured them all
    assert label and label.endswith(f"-{driver.processes[0].process.pid}")
    assert_no_process_left(driver)


def test_master_and_two_workers_merge_to_the_server_total(tmp_path: Path) -> None:
    received = RowsReceived()
    with LocalTarget() as target:
        driver = LoadDriver(
            Load(locustfile=LOCUSTFILE, users=10, spawn_rate=50.0, workers=2),
            host=target.url,
            run_dir=tmp_path,
            max_run_time_s=4,
            on_row=received,
        )
        run_to_end(driver)
        served = target.total
    assert [locust.role for locust in driver.processes] == ["master", "worker-0", "worker-1"]
    assert served > 0
    assert sum(row.requests for row in received.rows) == served
    worker_pids = {str(locust.process.pid) for locust in driver.processes[1:]}
    assert {(row.worker or "").rsplit("-", 1)[-1] for row in received.rows} == worker_pids
    for worker in ("worker-0", "worker-1"):  # both workers ran users and quit cleanly
        assert "Got quit message" in (tmp_path / f"locust-{worker}.log").read_text()
    assert_no_process_left(driver)


@pytest.mark.parametrize("workers", [0, 2])
def test_stop_ends_every_locust_process_quickly(tmp_path: Path, workers: int) -> None:
    with LocalTarget() as target:
        driver = LoadDriver(
            Load(locustfile=LOCUSTFILE, users=6, spawn_rate=60.0, workers=workers),
            host=target.url,
            run_dir=tmp_path,
            max_run_time_s=60,
        )
        driver.start()
        time.sleep(1.0)
        began = time.monotonic()
        driver.stop(timeout_s=2.0)
        took = time.monotonic() - began
        served_at_stop = target.settled_total()
        time.sleep(0.5)
        assert target.total == served_at_stop, "requests kept coming after stop()"
    print(f"stop() with workers={workers} took {took:.2f}s")
    assert took < 5.0
    assert_no_process_left(driver)


def test_a_broken_locustfile_is_one_clear_error(tmp_path: Path) -> None:
    from chaos.errors import ConfigurationError

    broken = tmp_path / "broken.py"
    broken.write_text("import no_such_module_here\n")
    driver = LoadDriver(
        Load(locustfile=str(broken), users=1, spawn_rate=1.0),
        host="http://127.0.0.1:9",
        run_dir=tmp_path / "run",
        max_run_time_s=5,
    )
    with pytest.raises(ConfigurationError, match="locust exited before spawning"):
        driver.start(spawn_timeout_s=20)
    assert_no_process_left(driver)


@pytest.mark.alone  # block and unblock are timed on the wall clock (seconds into a 3 s window)
def test_waf_clients_are_blocked_alone_and_unblocked_after_the_stop(tmp_path: Path) -> None:
    rule = forwarded_ip_rule(limit=6, window_s=3)
    plan = waf_plan(rule, abusive=2, legit=2, measure_unblock=True)
    received = RowsReceived()
    with LocalTarget(block_after=rule.limit, window_s=rule.window_s) as target:
        driver = LoadDriver(
            Load(locustfile=LOCUSTFILE, users=2, spawn_rate=50.0),
            host=target.url,
            run_dir=tmp_path,
            max_run_time_s=8,
            waf_plan=plan,
            on_row=received,
        )
        driver.start()
        time.sleep(3.5)
        driver.stop_abusive()
        assert driver.wait(timeout_s=30)
        served, blocked = target.total, dict(target.blocked_by_identity)
    rows = received.rows
    result = waf_slis(rows, rule, plan, abusive_stopped_at=driver.abusive_stopped_at)
    print({key: value for key, value in result.items() if key != "clients"})
    assert sum(row.requests for row in rows) == served
    abusive = {row.identity for row in rows if row.traffic == "abusive"}
    assert abusive == {"203.0.113.1", "203.0.113.2"}
    assert {row.identity for row in rows if row.traffic == "legit"} == {
        "198.51.100.1",
        "198.51.100.2",
    }
    assert set(blocked) == abusive  # the server blocked the abusers and nobody else
    assert result["client_blocked_requests"] == sum(blocked.values()) > 0
    assert result["legit_blocked"] == 0
    assert sum(row.failures for row in rows) == 0  # abusers' blocks are expected
    assert result["time_to_block_s"] is not None and result["time_to_block_s"] <= 2
    assert result["time_to_unblock_s"] is not None and 1 <= result["time_to_unblock_s"] <= 5


def test_only_the_rate_rules_403_is_a_block_and_injected_responses_are_counted(
    tmp_path: Path,
) -> None:
    """A 403 from an authorizer is `other_403`, never a WAF block; a response carrying the
    fault extension's marker is `injected`."""
    rule = forwarded_ip_rule(limit=6, window_s=3)
    plan = waf_plan(rule, abusive=1, legit=1)
    received = RowsReceived()
    with LocalTarget(
        block_after=rule.limit,
        window_s=rule.window_s,
        other_403_path="/health",
        injected_path="/orders",
    ) as target:
        driver = LoadDriver(
            Load(locustfile=LOCUSTFILE, users=3, spawn_rate=50.0),
            host=target.url,
            run_dir=tmp_path,
            max_run_time_s=6,
            waf_plan=plan,
            on_row=received,
        )
        driver.start()
        assert driver.wait(timeout_s=30)
        waf_blocked, other_403, injected = target.blocked, target.other_403, target.injected
    rows = received.rows
    assert other_403 > 0 and injected > 0 and waf_blocked > 0
    assert sum(row.other_403 for row in rows) == other_403
    assert sum(row.injected for row in rows) == injected
    assert sum(row.blocked for row in rows) == waf_blocked
    assert all(
        row.blocked == 0
        for row in rows
        if row.traffic != "abusive" and row.endpoint == "GET /health"
    ), "an authorizer's 403 is not a WAF block"
