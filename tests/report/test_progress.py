from __future__ import annotations

import io
import re
from types import SimpleNamespace

from chaos.metrics.histogram import RELATIVE_PRECISION
from chaos.metrics.rows import SecondRow
from chaos.run.progress import RunProgress

START = 1_700_000_000


class Clock:
    def __init__(self) -> None:
        self.now = float(START)

    def __call__(self) -> float:
        return self.now


def row(second: int, requests: int, failures: int, latency_ms: float) -> SecondRow:
    item = SecondRow(
        second=second, user_class="U", endpoint="GET /", requests=requests, failures=failures
    )
    item.histogram.record(latency_ms, requests)
    return item


def entry() -> SimpleNamespace:
    return SimpleNamespace(
        fault_type="lambda-extension", target="orders", target_arn="arn:orders", status="restored"
    )


def test_plain_lines_off_a_tty_are_rate_limited() -> None:
    out, clock = io.StringIO(), Clock()
    progress = RunProgress(
        "run-1",
        {"baseline": 30, "fault": 60, "recovery": 30},
        stream=out,
        clock=clock,
        plain_interval_s=10,
    )
    progress.on_phase("fault")
    progress.on_applied(entry())
    for offset in range(30):  # 30 s of rows, 3 rows a second
        clock.now = START + offset + 0.5
        for _ in range(3):
            progress.on_row(row(START + offset, 10, 1, 400.0))
    lines = out.getvalue().splitlines()
    status = [line for line in lines if "req/s" in line]
    assert 3 <= len(status) <= 4  # at most one every 10 s over 30 s
    assert "phase fault" in status[-1] and "s left" in status[-1]
    assert "req/s 30.0" in status[-1] and "errors 10.00%" in status[-1]
    p99 = float(re.search(r"p99 (\d+) ms", status[-1]).group(1))  # type: ignore[union-attr]
    assert abs(p99 - 400) <= 400 * RELATIVE_PRECISION  # the histogram's stated precision
    assert "faults active: lambda-extension on orders" in status[-1]
    assert any("injected lambda-extension on orders" in line for line in lines)
    progress.on_restored(entry())
    progress.on_stop(reason="alarm orders-5xx-high in ALARM")
    assert "faults active: none" in progress.status_line()
    assert "STOPPING: alarm orders-5xx-high in ALARM" in progress.status_line()


def test_time_left_counts_down() -> None:
    clock = Clock()
    progress = RunProgress("r", {"fault": 60}, stream=io.StringIO(), clock=clock)
    assert progress.time_left() is None
    progress.on_phase("fault")
    clock.now += 15
    assert progress.time_left() == 45


def test_live_view_renders_on_a_terminal() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Tty()
    progress = RunProgress("r", {"fault": 60}, stream=out)
    assert progress._live is not None
    progress.on_phase("fault")
    progress.on_row(row(START, 5, 0, 10.0))
    progress.close()
    assert "phase fault" in out.getvalue()
    assert progress._live is None


def test_attach_progress_listens_to_the_run_events() -> None:
    from chaos.run.events import RunEvents
    from chaos.run.progress import attach_progress

    events = RunEvents()
    context = SimpleNamespace(
        run_id="run-9",
        events=events,
        experiment=SimpleNamespace(phases=SimpleNamespace(baseline=5.0, fault=10.0, recovery=5.0)),
    )
    progress = attach_progress(context)  # type: ignore[arg-type]
    out = io.StringIO()
    progress.stream = out
    events.phase_started.fire(phase="fault")
    events.fault_applied.fire(entry=entry())
    events.stop_requested.fire(reason="signal SIGTERM")
    text = out.getvalue()
    assert "phase fault (10s)" in text and "injected lambda-extension" in text
    assert "stopping: signal SIGTERM" in text
