"""The run lifecycle: preflight → journal → baseline → fault → recovery → result."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chaos.aws.apigateway import api_of_endpoint, discover_integrations
from chaos.aws.credentials import refuse_short_lived
from chaos.clock import epoch_seconds, iso_from_epoch, utc_now
from chaos.errors import GamedayError, PreflightRefused, redact_aws_message
from chaos.experiment import Experiment
from chaos.faults import FAULT_KINDS, FaultContext, FaultKind, PlannedChange
from chaos.janitor.arming import (
    arm_janitor,
    arrange_janitor,
    no_janitor_from_env,
    postpone_janitor,
    sandbox_journal,
)
from chaos.journal import (
    HEARTBEAT_S,
    Journal,
    JournalLocation,
    JournalTakenOver,
    S3JournalStore,
    new_run_id,
    runs_dir,
)
from chaos.load.session import LoadSession
from chaos.metrics.aggregate import RunAggregator
from chaos.metrics.rows import SecondRow
from chaos.metrics.server_side import cloudwatch_in_regions_of, read_settled, run_query
from chaos.outcome import Outcome, exit_for
from chaos.report import write_reports
from chaos.result.assemble import LoadRecord, RunRecord, assemble_result
from chaos.run.apply import AppliedChange, apply_changes
from chaos.run.events import RunEvents
from chaos.run.history import ExperimentHistory
from chaos.run.restore import restore_journal
from chaos.run.stop import StopRequested, StopSignal
from chaos.run.stop_conditions import AbortWhen, AlarmWatcher, missing_alarms
from chaos.run.target import ResolvedTarget, resolve_target

log = logging.getLogger(__name__)


@dataclass
class RunOptions:
    sandbox: bool = False
    report_dir: Path | None = None
    assume_yes: bool = False
    profile: str | None = None
    confirm: Callable[[str], bool] | None = None
    journal: str | None = None  # s3://BUCKET/PREFIX: the journal also in the target account
    # No janitor schedule (nothing restores a dead run by itself); GAMEDAY_NO_JANITOR=1 too.
    no_janitor: bool = field(default_factory=no_janitor_from_env)


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
    aggregator: RunAggregator = field(default_factory=RunAggregator)
    load: LoadSession | None = None
    fault_context: FaultContext | None = None  # shared by the faults; set by plan_faults

    def receive_row(self, row: SecondRow) -> None:
        """A live per-second row from the load (called from the load's reader thread).

        Folded into the aggregation at once: no row is kept.
        """
        self.aggregator.add(row)
        self.events.row_received.fire(row=row)


def fault_expiry(experiment: Experiment) -> float:
    """When the injected faults stop on their own if nothing restores them (epoch s)."""
    return time.time() + experiment.expiry_s


def journal_store(context: RunContext) -> S3JournalStore | None:
    """The S3 journal of the run (in the target account), when one is asked for."""
    if not context.options.journal:
        return None
    location = JournalLocation.parse(context.options.journal)
    return S3JournalStore(context.target.clients.client("s3"), location,
                          expected_owner=context.target.account_id)


@contextmanager
def heartbeat(journal: Journal, stop: StopSignal) -> Iterator[None]:
    """Renew the journal's heartbeat while the run lives (the janitor leaves it alone)."""
    done = threading.Event()

    def beat_forever() -> None:
        while not done.wait(HEARTBEAT_S):
            try:
                journal.beat()
            except JournalTakenOver as error:
                stop.request(str(error))
                return
            except Exception:  # noqa: BLE001 - a missed beat is retried at the next one
                log.warning("journal heartbeat failed", exc_info=True)

    journal.beat()
    thread = threading.Thread(target=beat_forever, name="journal-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=5)


def plan_faults(context: RunContext) -> list[PlannedFault]:
    """Resolve every fault's targets and changes; read-only; raises PreflightRefused."""
    context.fault_context = FaultContext(
        clients=context.target.clients,
        run_id=context.run_id,
        expires_at=fault_expiry(context.experiment),
        sandbox=context.target.sandbox,
        stopping=lambda: context.stop.reason is not None,
        journal_location=context.options.journal or sandbox_journal(context),
    )
    if any(FAULT_KINDS[spec.type].needs_endpoint_integrations
           for spec in context.experiment.faults):
        discover_endpoint(context, context.fault_context)
    planned = []
    for index, spec in enumerate(context.experiment.faults):
        kind = FAULT_KINDS[spec.type](spec, context.fault_context, index)
        planned.append(PlannedFault(kind, kind.plan()))
    seen: dict[str, str] = {}
    for fault in planned:
        for change in fault.changes:
            key = f"{change.fault_type}:{change.target_arn}"
            if key in seen:
                raise PreflightRefused(f"{change.target} is targeted twice by {change.fault_type}")
            seen[key] = change.target
    return planned


def discover_endpoint(context: RunContext, fault_context: FaultContext) -> None:
    """How the endpoint invokes Lambda, for the faults to refuse what they would miss."""
    target = context.target
    endpoint = target.api_endpoint if target.sandbox else context.experiment.target.endpoint
    api = api_of_endpoint(endpoint, target.sandbox_service.get("rest_api_id"))
    if api is None:
        if endpoint:
            fault_context.integrations_unknown = (
                f"{endpoint} is not an execute-api URL (a custom domain?)")
        return
    discovered = discover_integrations(target.clients, api)
    if discovered is None:
        fault_context.integrations_unknown = (
            f"API {api.api_id}'s integrations could not be read (not an IAM denial; --debug "
            "logs why)")
        return
    fault_context.integrations = discovered.integrations
    fault_context.integrations_caveat = discovered.caveat


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
        stop=StopSignal(experiment.max_duration,
                        hard_limit_s=experiment.expiry_s - min(60.0, experiment.expiry_margin / 2)),
    )
    context.stop.listeners.append(lambda reason: context.events.stop_requested.fire(reason=reason))
    try:
        check_credentials(context)
        planned = plan_faults(context)
        check_stop_conditions(context)
        context.load = LoadSession.prepare(context)
        return context, planned
    except BaseException:
        target.close()
        raise


def check_credentials(context: RunContext) -> None:
    """Refuse credentials that expire before the run could restore, and say how long they last."""
    lifetime = context.target.credentials
    if lifetime is None:
        return
    refuse_short_lived(lifetime, context.experiment.expiry_s)
    context.notes.append(lifetime.describe())


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
    janitor = arrange_janitor(context, planned)  # refuses before anything is created
    context.options.journal = janitor.journal or context.options.journal
    run_dir = runs_dir() / context.run_id
    # Planning and the confirmation prompt do not count against max_duration or the expiry.
    context.stop.restart_clock()
    deadline = fault_expiry(context.experiment)
    journal = Journal.create(
        run_dir,
        remote=journal_store(context),
        run_id=context.run_id,
        experiment_name=context.experiment.name,
        experiment_path=str(context.experiment_path),
        region=context.target.clients.region,
        endpoint_url=context.target.clients.endpoint_url,
        profile=context.options.profile,
        account_id=context.target.account_id,
        sandbox=context.target.sandbox,
        deadline_at=iso_from_epoch(deadline),
    )
    context.journal = journal
    started_at = utc_now()
    if context.fault_context is not None:
        context.fault_context.expires_at = deadline
    outcome: Outcome = "passed"
    reason: str | None = None
    refused: GamedayError | None = None
    with context.stop.handling_signals():
        try:
            with heartbeat(journal, context.stop), monitoring(context):
                arm_janitor(janitor, context, journal)  # its schedule, before the first change
                run_phases(context, planned)
        except StopRequested as stop:
            outcome, reason = "aborted", stop.reason
        except GamedayError as error:
            if not journal.entries:  # e.g. the load could not start: nothing was changed
                refused = error
            outcome, reason = "error", f"{type(error).__name__}: {error}"
        except Exception as error:  # noqa: BLE001 - any failure still restores below
            log.debug("run failed", exc_info=True)
            outcome, reason = "error", f"{type(error).__name__}: {redact_aws_message(str(error))}"
        finally:
            clients = context.target.restore_clients()
            postpone_janitor(journal, clients)
            report = restore_journal(journal, clients)
            journal.finish("finished" if report.complete else "rollback_incomplete")
            context.aggregator.finish(time.time())
    if refused is not None:
        raise refused  # one line and its exit code at the CLI edge, as for any refusal
    history = ExperimentHistory.for_run(context.experiment, context.run_id,
                                        context.target.account_id, context.target.clients,
                                        context.options.journal)
    result = assemble_result(replace(run_record(context, started_at, outcome, reason),
                                     previous_for=history.previous))
    history.record(result)  # after judging: this run is never its own reference
    result_path = write_reports(result, context.options.report_dir or run_dir)["json"]
    return RunOutcome(
        run_id=context.run_id,
        outcome=result["outcome"],
        exit_code=exit_for(result["outcome"], report.complete),
        result=result,
        result_path=result_path,
        journal_path=journal.path or run_dir,
    )


def run_record(
    context: RunContext, started_at: str, outcome: Outcome, reason: str | None
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
        journal_entries=[entry for entry in context.journal.entries
                         if entry.fault_type in FAULT_KINDS],  # not the janitor's schedule
        load=None if load is None else LoadRecord(
            context.aggregator, load.rule, load.waf_plan, load.abusive_stopped_at),
        server_side=read_server_side_of(context),
        notes=list(context.notes),
        clock=context.aggregator.clock,
    )


def read_server_side_of(context: RunContext) -> dict[str, Any] | None:
    """The run's CloudWatch figures per measured phase window, once settled."""
    experiment, target = context.experiment, context.target
    function_arns = [entry.target_arn for entry in (context.journal.entries
                                                    if context.journal else [])
                     if ":lambda:" in entry.target_arn]
    if target.sandbox and not function_arns:
        function_arns = [str(target.sandbox_service.get("function_arn", ""))]
    query = run_query(
        experiment, context.aggregator.clock, clients=target.clients,
        function_arns=function_arns,
        endpoint=target.api_endpoint or experiment.target.endpoint or "",
        rest_api_id=target.sandbox_service.get("rest_api_id"),
        rule=context.load.rule if context.load else None, sandbox=target.sandbox,
        emf_faults=any(FAULT_KINDS[spec.type].reads_extension_telemetry
                       for spec in experiment.faults))
    if query is None:
        return None
    return read_settled(query, target.cloudwatch_lag, cloudwatch_in_regions_of(target.clients),
                        on_wait=lambda text: context.events.message.fire(text=text))


def run_phases(context: RunContext, planned: list[PlannedFault]) -> None:
    durations = context.experiment.phases
    assert context.journal is not None
    marks = context.aggregator
    with phase(context, "baseline"):
        marks.mark("baseline", time.time())
        context.stop.wait(durations.baseline)
    with phase(context, "fault"):
        marks.mark("transition", time.time())
        with context.stop.not_counting():
            applied = apply_all(context, planned)
        marks.mark("fault", last_effective_at(applied))
        context.stop.wait(durations.fault)
    with phase(context, "recovery"):
        marks.mark("transition", time.time())
        if context.load is not None:
            context.load.on_recovery()
        with context.stop.not_counting():
            clients = context.target.restore_clients()
            postpone_janitor(context.journal, clients)
            restore_journal(context.journal, clients)
        for entry in context.journal.entries:
            context.events.fault_restored.fire(entry=entry)
        marks.mark("recovery", time.time())
        context.stop.wait(durations.recovery)


def apply_all(context: RunContext, planned: list[PlannedFault]) -> list[AppliedChange]:
    """Prepare every fault kind, then apply every change in parallel (journal first)."""
    assert context.journal is not None
    for fault in planned:
        context.stop.check()
        fault.kind.prepare()

    def announce(applied: AppliedChange) -> None:
        entry = applied.entry
        if entry.status == "skipped":
            context.notes.append(f"{entry.fault_type} skipped {entry.target}: {entry.detail}")
        else:
            context.events.fault_applied.fire(entry=entry)

    changes = [(fault.kind, change) for fault in planned for change in fault.changes]
    return apply_changes(changes, context.journal, context.stop, announce)


def last_effective_at(applied: list[AppliedChange]) -> float:
    """When the last change came in force (now, when nothing was applied)."""
    moments = [epoch_seconds(item.entry.effective_at) for item in applied
               if item.entry.effective_at]
    return max(moments, default=time.time())


@contextmanager
def monitoring(context: RunContext) -> Iterator[None]:
    """Load, alarm stop conditions and `abort_when` for the span of the phases."""
    experiment = context.experiment
    watcher = AlarmWatcher(
        context.target.clients.client("cloudwatch"), experiment.stop_conditions.alarms,
        context.stop, on_message=lambda text: context.events.message.fire(text=text),
    ).start()
    abort_when = experiment.stop_conditions.abort_when
    if abort_when is not None:
        context.aggregator.on_second = AbortWhen.from_spec(abort_when, context.stop).feed_second
    try:
        if context.load is not None:
            assert context.journal is not None
            context.load.start(context.receive_row, context.journal.run_dir)
        yield
    finally:
        if context.load is not None:
            context.load.stop()
        watcher.close()


class phase:  # noqa: N801 - used as a context manager, reads like a keyword
    def __init__(self, context: RunContext, name: str) -> None:
        self.context, self.name = context, name

    def __enter__(self) -> None:
        self.context.phase_times[self.name] = {"started_at": utc_now()}
        self.context.events.phase_started.fire(phase=self.name)

    def __exit__(self, *exc: object) -> None:
        self.context.phase_times[self.name]["ended_at"] = utc_now()


def run_experiment(experiment: Experiment, path: Path, options: RunOptions) -> RunOutcome:
    context, planned = prepare_run(experiment, path, options)
    try:
        confirm_mutation(context, planned)
        return execute(context, planned)
    finally:
        context.target.close()
