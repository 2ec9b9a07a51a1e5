"""The run lifecycle: preflight → journal → baseline → fault → recovery → result."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.clock import utc_now
from chaos.errors import (
    EXIT_ABORTED,
    EXIT_PASSED,
    EXIT_ROLLBACK_INCOMPLETE,
    EXIT_SLO_BREACHED,
    PreflightRefused,
)
from chaos.events import RunEvents
from chaos.experiment import Experiment
from chaos.faults import FAULT_KINDS, FaultContext, FaultKind, PlannedChange
from chaos.journal import Journal, new_run_id, runs_dir
from chaos.load.session import LoadSession
from chaos.metrics.rows import SecondRow
from chaos.report import write_reports
from chaos.report.assemble import assemble_result
from chaos.rollback import restore_journal
from chaos.stop import StopRequested, StopSignal
from chaos.stop_conditions import AbortWhen, AlarmWatcher, missing_alarms
from chaos.target import ResolvedTarget, resolve_target

log = logging.getLogger(__name__)

PHASES = ("baseline", "fault", "recovery")
# The extension stops injecting on its own this long after the run's hard stop.
EXPIRY_MARGIN_S = 300.0


@dataclass
class RunOptions:
    sandbox: bool = False
    report_dir: Path | None = None
    assume_yes: bool = False
    profile: str | None = None
    confirm: Callable[[str], bool] | None = None


@dataclass
class RunOutcome:
    run_id: str
    outcome: str
    exit_code: int
    result: dict[str, Any]
    result_path: Path
    journal_path: Path


@dataclass
class PlannedFault:
    kind: FaultKind
    changes: list[PlannedChange]


@dataclass
class RunContext:
    """Everything one run carries through its lifecycle."""

    experiment: Experiment
    experiment_path: Path
    options: RunOptions
    run_id: str
    target: ResolvedTarget
    stop: StopSignal
    events: RunEvents = field(default_factory=RunEvents)
    journal: Journal | None = None
    phase_times: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    rows: list[SecondRow] = field(default_factory=list)
    load: LoadSession | None = None
    fault_context: FaultContext | None = None  # shared by the faults; set by plan_faults

    def receive_row(self, row: SecondRow) -> None:
        """A live per-second row from the load (called from the load's reader thread)."""
        self.rows.append(row)
        self.events.row_received.fire(row=row)


def fault_expiry(experiment: Experiment) -> float:
    """When the injected faults stop on their own if nothing restores them (epoch s)."""
    return time.time() + experiment.max_duration + EXPIRY_MARGIN_S


def plan_faults(context: RunContext) -> list[PlannedFault]:
    """Resolve every fault's targets and changes; read-only; raises PreflightRefused."""
    context.fault_context = FaultContext(
        clients=context.target.clients,
        run_id=context.run_id,
        expires_at=fault_expiry(context.experiment),
        sandbox=context.target.sandbox,
    )
    planned = []
    for spec in context.experiment.faults:
        kind = FAULT_KINDS[spec.type](spec, context.fault_context)
        planned.append(PlannedFault(kind, kind.plan()))
    seen: dict[str, str] = {}
    for fault in planned:
        for change in fault.changes:
            key = f"{change.fault_type}:{change.target_arn}"
            if key in seen:
                raise PreflightRefused(f"{change.target} is targeted twice by {change.fault_type}")
            seen[key] = change.target
    return planned


def prepare_run(
    experiment: Experiment, experiment_path: Path, options: RunOptions
) -> tuple[RunContext, list[PlannedFault]]:
    target = resolve_target(
        experiment.target.region, experiment.target.account_id, experiment.target.endpoint,
        sandbox=options.sandbox, profile=options.profile,
    )
    context = RunContext(
        experiment=experiment,
        experiment_path=experiment_path,
        options=options,
        run_id=new_run_id(experiment.name),
        target=target,
        stop=StopSignal(experiment.max_duration),
    )
    context.stop.listeners.append(lambda reason: context.events.stop_requested.fire(reason=reason))
    try:
        planned = plan_faults(context)
        check_stop_conditions(context)
        context.load = LoadSession.prepare(context)
        return context, planned
    except BaseException:
        target.close()
        raise


def check_stop_conditions(context: RunContext) -> None:
    alarms = context.experiment.stop_conditions.alarms
    if alarms:
        missing = missing_alarms(context.target.clients.client("cloudwatch"), alarms)
        if missing:
            raise PreflightRefused("stop_conditions.alarms: no such CloudWatch alarm: "
                                   + ", ".join(missing))


def confirm_mutation(context: RunContext, planned: list[PlannedFault]) -> None:
    if context.options.assume_yes or os.environ.get("GAMEDAY_ASSUME_YES") == "1":
        return
    if not sys.stdin.isatty() or context.options.confirm is None:
        raise PreflightRefused("refusing to change resources without confirmation: stdin is not "
                               "a terminal (pass --yes or set GAMEDAY_ASSUME_YES=1)")
    count = sum(len(fault.changes) for fault in planned)
    if not context.options.confirm(f"Apply {count} change(s) for run {context.run_id}?"):
        raise PreflightRefused("not confirmed; nothing was changed")


def execute(context: RunContext, planned: list[PlannedFault]) -> RunOutcome:
    """Run the phases; whatever happens, restore everything journaled before returning."""
    run_dir = runs_dir() / context.run_id
    journal = Journal.create(
        run_dir,
        run_id=context.run_id,
        experiment_name=context.experiment.name,
        experiment_path=str(context.experiment_path),
        region=context.target.clients.region,
        endpoint_url=context.target.clients.endpoint_url,
        profile=context.options.profile,
        account_id=context.target.account_id,
        sandbox=context.target.sandbox,
    )
    context.journal = journal
    started_at = utc_now()
    # Planning and the confirmation prompt do not count against max_duration or the expiry.
    context.stop.restart_clock()
    if context.fault_context is not None:
        context.fault_context.expires_at = fault_expiry(context.experiment)
    outcome, reason = "passed", None
    with context.stop.handling_signals():
        try:
            with monitoring(context):
                run_phases(context, planned)
        except StopRequested as stop:
            outcome, reason = "aborted", stop.reason
        except Exception as error:  # noqa: BLE001 - any failure still restores below
            log.debug("run failed", exc_info=True)
            outcome, reason = "error", f"{type(error).__name__}: {error}"
        finally:
            report = restore_journal(journal, context.target.clients)
            journal.finish("finished" if report.complete else "rollback_incomplete")
    result = assemble_result(context, started_at, outcome, reason)
    result_path = write_reports(result, context.options.report_dir or run_dir)["json"]
    return RunOutcome(
        run_id=context.run_id,
        outcome=result["outcome"],
        exit_code=exit_code_for(result["outcome"], report.complete),
        result=result,
        result_path=result_path,
        journal_path=journal.path or run_dir,
    )


def run_phases(context: RunContext, planned: list[PlannedFault]) -> None:
    durations = context.experiment.phases
    assert context.journal is not None
    with phase(context, "baseline"):
        context.stop.wait(durations.baseline)
    with phase(context, "fault"):
        for fault in planned:
            context.stop.check()
            fault.kind.prepare()
            for change in fault.changes:
                context.stop.check()
                entry = fault.kind.apply(change, context.journal)
                if entry.status == "skipped":
                    context.notes.append(f"{change.fault_type} skipped {entry.target}: "
                                         f"{entry.detail}")
                else:
                    context.events.fault_applied.fire(entry=entry)
        context.stop.wait(durations.fault)
    with phase(context, "recovery"):
        if context.load is not None:
            context.load.on_recovery()
        restore_journal(context.journal, context.target.clients)
        for entry in context.journal.entries:
            context.events.fault_restored.fire(entry=entry)
        context.stop.wait(durations.recovery)


@contextmanager
def monitoring(context: RunContext) -> Iterator[None]:
    """Load, alarm stop conditions and `abort_when` for the span of the phases."""
    experiment = context.experiment
    watcher = AlarmWatcher(
        context.target.clients.client("cloudwatch"), experiment.stop_conditions.alarms,
        context.stop, on_message=lambda text: context.events.message.fire(text=text),
    ).start()
    abort_when = experiment.stop_conditions.abort_when
    evaluator = AbortWhen.from_spec(abort_when, context.stop) if abort_when else None
    if evaluator is not None:
        context.events.row_received.add_listener(lambda row, **_: evaluator.feed(row))
    try:
        if context.load is not None:
            assert context.journal is not None
            context.load.start(context.receive_row, context.journal.run_dir)
        yield
    finally:
        if context.load is not None:
            context.load.stop()
        watcher.close()
        if evaluator is not None:
            evaluator.flush()


class phase:  # noqa: N801 - used as a context manager, reads like a keyword
    def __init__(self, context: RunContext, name: str) -> None:
        self.context, self.name = context, name

    def __enter__(self) -> None:
        self.context.phase_times[self.name] = {"started_at": utc_now()}
        self.context.events.phase_started.fire(phase=self.name)

    def __exit__(self, *exc: object) -> None:
        self.context.phase_times[self.name]["ended_at"] = utc_now()


def exit_code_for(outcome: str, rollback_complete: bool) -> int:
    if not rollback_complete:
        return EXIT_ROLLBACK_INCOMPLETE
    return {"passed": EXIT_PASSED, "failed": EXIT_SLO_BREACHED}.get(outcome, EXIT_ABORTED)


def run_experiment(experiment: Experiment, path: Path, options: RunOptions) -> RunOutcome:
    context, planned = prepare_run(experiment, path, options)
    try:
        confirm_mutation(context, planned)
        return execute(context, planned)
    finally:
        context.target.close()
