"""A result assembled by the real path, from inputs a test controls.

Rows from two Locust workers (normal, legit and abusive WAF traffic) go through the
streaming aggregation; server-side figures are read by chaos.metrics.server_side from a
CloudWatch double that answers every query; one lambda-extension fault's journal entry;
then chaos.result.assemble.assemble_result. Tests choose how many responses the clients saw
marked, what the extension's telemetry counted, and whether CloudWatch settled.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from chaos.clock import iso_from_epoch
from chaos.experiment import load_experiment
from chaos.journal import JournalEntry
from chaos.metrics.aggregate import RunAggregator
from chaos.metrics.rows import SecondRow
from chaos.metrics.server_side import (
    ApiStage,
    ServerSideQuery,
    read_server_side,
    server_side_targets,
)
from chaos.metrics.settle import CloudWatchLag
from chaos.result.assemble import LoadRecord, RunRecord, assemble_result
from tests.reference.streaming import arriving
from tests.waf_rules import forwarded_ip_rule, waf_plan

START = 1_700_000_040  # epoch seconds of the baseline start (in the past: CloudWatch is due)
PHASE_S = 20
TRANSITION_S = 0.5
FUNCTION = "orders"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"
WORKERS = ("host-a-101", "host-b-202")
IDENTITIES = {
    "abusive": ("198.51.100.1", "198.51.100.2"),
    "legit": ("198.51.100.3", "198.51.100.4"),
}
ABUSIVE_STOPPED_AT = START + 2 * PHASE_S
BLOCKED, UNBLOCKED = START + 30, ABUSIVE_STOPPED_AT + 3  # the abusive identities' blocks
RULE = forwarded_ip_rule(limit=50, window_s=60)
EXPERIMENT = """\
version: 1
kind: experiment
name: assembled
target: {region: us-east-1, endpoint: sandbox}
phases: {baseline: 20s, fault: 20s, recovery: 20s}
max_duration: 5m
faults:
  - type: lambda-extension
    functions: [orders]
    latency: {ms: 300, rate: 1.0}
load:
  locustfile: loadtests/orders.py
  users: 4
  spawn_rate: 4
  workers: 2
  waf: {rule: orders-rate-limit, abusive_clients: 2, legit_clients: 2}
"""

ServerState = Literal["settled", "not settled", "unavailable", "none"]
#: (metric name, dimensions) -> the value CloudWatch answers (None: no datapoints).
Answer = Callable[[str, Mapping[str, str]], float | None]


def segments() -> list[tuple[str | None, float]]:
    """The run's boundaries: phases with a transition before the fault and the recovery."""
    fault = START + PHASE_S + TRANSITION_S
    recovery = START + 2 * PHASE_S + TRANSITION_S
    return [
        ("baseline", START),
        ("transition", START + PHASE_S),
        ("fault", fault),
        ("transition", START + 2 * PHASE_S),
        ("recovery", recovery),
        (None, START + 3 * PHASE_S),
    ]


def phase_windows() -> dict[str, tuple[float, float]]:
    marks = segments()
    return {
        label: (start, end)
        for (label, start), (_, end) in zip(marks[:-1], marks[1:], strict=True)
        if label not in (None, "transition")
    }


def rows(marked_in_fault: int = 0, *, ramp_up_s: int = 2) -> list[SecondRow]:
    """Every second from `ramp_up_s` before the baseline to the end, from both workers.

    Each worker sends 3 normal requests a second, one WAF identity of each kind sends 2;
    `marked_in_fault` responses of the fault phase carry the extension's marker. The
    abusive identities cross the rule's limit (50 in 60 s) at START + 23 and are blocked
    from START + 30 until 3 s after they stop abusing (`abusive_stopped_at`, START + 40).
    """
    made: list[SecondRow] = []
    fault_start, fault_end = phase_windows()["fault"]
    marked_left = marked_in_fault
    for second in range(START - ramp_up_s, START + 3 * PHASE_S):
        for index, worker in enumerate(WORKERS):
            normal = SecondRow(
                second,
                "OrdersUser",
                "GET /orders",
                requests=3,
                worker=worker,
                status_classes={"2xx": 3},
            )
            if fault_start <= second < fault_end and marked_left:
                normal.injected = min(marked_left, 3)
                marked_left -= normal.injected
            normal.histogram.record(40.0 + index, 3)
            made.append(normal)
            for traffic, identities in IDENTITIES.items():
                blocked = 2 if traffic == "abusive" and BLOCKED <= second < UNBLOCKED else 0
                row = SecondRow(
                    second,
                    f"OrdersUser{traffic.capitalize()}",
                    "GET /orders",
                    traffic=traffic,  # type: ignore[arg-type]
                    identity=identities[index],
                    requests=2,
                    blocked=blocked,
                    worker=worker,
                    status_classes={"2xx": 2 - blocked, "4xx": blocked},
                )
                row.histogram.record(30.0, 2)
                made.append(row)
    return made


def aggregated(marked_in_fault: int = 0) -> RunAggregator:
    """The rows in time order, each boundary marked before the rows it splits."""
    return arriving(rows(marked_in_fault), segments())


class CloudWatchDouble:
    """`get_metric_data` answering every query of chaos.metrics.cloudwatch from `answer`:
    the same datapoint in each period asked for (the run here is one whole minute)."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer

    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        start, end = request["StartTime"], request["EndTime"]
        results = []
        for query in request["MetricDataQueries"]:
            metric = query["MetricStat"]["Metric"]
            dimensions = {item["Name"]: item["Value"] for item in metric["Dimensions"]}
            value = self.answer(metric["MetricName"], dimensions)
            period = timedelta(seconds=query["MetricStat"]["Period"])
            stamps = [start + period * index for index in range((end - start) // period)]
            results.append(
                {
                    "Id": query["Id"],
                    "Timestamps": [] if value is None else stamps,
                    "Values": [] if value is None else [value] * len(stamps),
                }
            )
        return {"MetricDataResults": results}


def answer_with(injected: float | None, mode: str = "latency", fail_open: float = 0.0) -> Answer:
    """A datapoint for every metric; InjectedFaults of the `mode` fault: `injected`."""

    def answer(metric: str, dimensions: Mapping[str, str]) -> float | None:
        if metric == "InjectedFaults":
            return injected if dimensions.get("FaultType") == mode else None
        return {
            "Errors": 2.0,
            "Throttles": 0.0,
            "Duration": 310.0,
            "ExtensionInits": 1.0,
            "ExtensionFailOpen": fail_open,
            "5XXError": 1.0,
            "Latency": 330.0,
            "BlockedRequests": 40.0,
        }[metric]

    return answer


class Unreadable:
    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        raise RuntimeError("CloudWatch endpoint unreachable")


@functools.lru_cache(maxsize=8)
def server_side(
    state: ServerState,
    injected: float | None = 0.0,
    functions: tuple[str, ...] = (FUNCTION_ARN,),
    mode: str = "latency",
    fail_open: float = 0.0,
) -> dict[str, Any] | None:
    """What chaos.metrics.server_side.read_server_side returns for this run, in `state`."""
    if state == "none":
        return None
    targets = server_side_targets(
        region="us-east-1", function_arns=functions, api=ApiStage("orders-api", "prod"), rule=RULE
    )
    # A settled read: each metric's datapoint of the run's last minute, or for those
    # without one (InjectedFaults of the other modes), two equal reads one poll apart;
    # timeout 0: the first read, unsettled.
    query = ServerSideQuery(
        targets, phase_windows(), emf=True, timeout_s=0.0 if state == "not settled" else 30.0
    )
    cloudwatch = (
        Unreadable()
        if state == "unavailable"
        else CloudWatchDouble(answer_with(injected, mode, fail_open))
    )
    figures = read_server_side(cloudwatch, query, CloudWatchLag(0.0, 0.0))
    assert figures["settled"] is (state == "settled"), figures
    return figures


def fault_entry(index: int = 0, target: str = FUNCTION_ARN) -> JournalEntry:
    fault_start, fault_end = phase_windows()["fault"]
    return JournalEntry(
        entry_id=f"lambda-extension:{target}",
        fault_type="lambda-extension",
        target=target.rsplit(":", 1)[-1],
        target_arn=target,
        original={"layers": []},
        intended={
            "action": "attach",
            "layers": ["arn:layer:1"],
            "environment": {"GAMEDAY_CHAOS": "x"},
        },
        status="restored",
        injected_at=iso_from_epoch(fault_start - TRANSITION_S),
        effective_at=iso_from_epoch(fault_start),
        restored_at=iso_from_epoch(fault_end + 0.4),
        restore_started_at=iso_from_epoch(fault_end),
        fault_index=index,
        journaled_at=iso_from_epoch(fault_start - TRANSITION_S - 0.1),
    )


def assembled(
    tmp_path: Path,
    *,
    marked_in_fault: int = 0,
    server: ServerState = "settled",
    injected: float | None = 0.0,
    entries: list[JournalEntry] | None = None,
    experiment_text: str = EXPERIMENT,
    mode: str = "latency",
    fail_open: float = 0.0,
) -> dict[str, Any]:
    """result.json of the run, through chaos.result.assemble.assemble_result."""
    path = tmp_path / "assembled.yaml"
    path.write_text(experiment_text)
    experiment = load_experiment(path)
    plan = waf_plan(RULE, abusive=2, legit=2, workers=len(WORKERS))
    times = {
        name: {"started_at": iso_from_epoch(start), "ended_at": iso_from_epoch(end)}
        for name, (start, end) in phase_windows().items()
    }
    journal_entries = [fault_entry()] if entries is None else entries
    record = RunRecord(
        run_id="run-assembled",
        experiment=experiment,
        experiment_path=path,
        sandbox=True,
        started_at=iso_from_epoch(START),
        ended_at=iso_from_epoch(START + 3 * PHASE_S),
        outcome="passed",
        abort_reason=None,
        phase_times=times,
        journal_entries=journal_entries,
        load=LoadRecord(
            aggregated(marked_in_fault), RULE, plan, abusive_stopped_at=ABUSIVE_STOPPED_AT
        ),
        server_side=copy.deepcopy(  # cached: kept intact
            server_side(
                server,
                injected,
                tuple(
                    entry.target_arn
                    for entry in journal_entries
                    if entry.fault_type == "lambda-extension"
                ),
                mode,
                fail_open,
            )
        ),
    )
    return assemble_result(record)
