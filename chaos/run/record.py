"""What the result of a run is assembled from, read off the finished run."""

from __future__ import annotations

import threading
from typing import Any

from chaos.clock import utc_now
from chaos.faults import FAULT_KINDS
from chaos.metrics.server_side import cloudwatch_in_regions_of, read_settled, run_query
from chaos.outcome import Outcome
from chaos.result.assemble import LoadRecord, RunRecord
from chaos.run.context import RunContext


def run_record(
    context: RunContext,
    started_at: str,
    outcome: Outcome,
    reason: str | None,
    interrupted: threading.Event | None = None,
) -> RunRecord:
    """The explicit inputs of the result, read off the finished run."""
    assert context.journal is not None
    load = context.load
    return RunRecord(
        run_id=context.run_id,
        experiment=context.experiment,
        experiment_path=context.experiment_path,
        sandbox=context.target.sandbox,
        started_at=started_at,
        ended_at=utc_now(),
        outcome=outcome,
        abort_reason=reason,
        phase_times=context.phase_times,
        journal_entries=[
            entry for entry in context.journal.entries if entry.fault_type in FAULT_KINDS
        ],  # not the janitor's schedule
        load=None
        if load is None
        else LoadRecord(context.aggregator, load.rule, load.waf_plan, load.abusive_stopped_at),
        server_side=read_server_side_of(context, interrupted),
        notes=list(context.notes),
        clock=context.aggregator.clock,
    )


def read_server_side_of(
    context: RunContext, interrupted: threading.Event | None = None
) -> dict[str, Any] | None:
    """The run's CloudWatch figures per measured phase window, once settled, or as they
    are when `interrupted` is set (a signal while waiting)."""
    experiment, target = context.experiment, context.target
    function_arns = [
        entry.target_arn
        for entry in (context.journal.entries if context.journal else [])
        if ":lambda:" in entry.target_arn
    ]
    if target.sandbox and not function_arns:
        function_arns = [str(target.sandbox_service.get("function_arn", ""))]
    query = run_query(
        experiment,
        context.aggregator.clock,
        clients=target.clients,
        function_arns=function_arns,
        endpoint=target.api_endpoint or experiment.target.endpoint or "",
        rest_api_id=target.sandbox_service.get("rest_api_id"),
        rule=context.load.rule if context.load else None,
        sandbox=target.sandbox,
        emf_faults=any(
            FAULT_KINDS[spec.type].reads_extension_telemetry for spec in experiment.faults
        ),
    )
    if query is None:
        return None
    stop = interrupted or threading.Event()

    def wait(seconds: float) -> None:
        stop.wait(seconds)

    return read_settled(
        query,
        target.cloudwatch_lag,
        cloudwatch_in_regions_of(target.clients),
        on_wait=lambda text: context.events.message.fire(text=text),
        sleep=wait,
        given_up=stop.is_set,
    )
