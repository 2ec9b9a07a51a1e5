"""The run's lifecycle once confirmed: journal → baseline → fault → recovery → result.

Whatever happens, everything journaled is restored before `execute` returns.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from chaos.clock import epoch_seconds, iso_from_epoch, utc_now
from chaos.errors import GamedayError, redact_aws_message
from chaos.janitor.arming import arm_janitor, postpone_janitor
from chaos.journal import (
    HEARTBEAT_S,
    Journal,
    JournalLocation,
    JournalTakenOver,
    S3JournalStore,
    runs_dir,
)
from chaos.outcome import Outcome, exit_for
from chaos.report import write_reports
from chaos.result.assemble import assemble_result
from chaos.run.apply import AppliedChange, apply_changes
from chaos.run.context import PlannedFault, RunContext, RunOutcome
from chaos.run.history import ExperimentHistory
from chaos.run.preflight import fault_expiry
from chaos.run.record import run_record
from chaos.run.restore import restore_journal
from chaos.run.stop import StopRequested, StopSignal, signals_set
from chaos.run.stop_conditions import AbortWhen, AlarmWatcher

log = logging.getLogger(__name__)


def journal_store(context: RunContext) -> S3JournalStore | None:
    """The S3 journal of the run (in the target account), when one is asked for."""
    if not context.journal_location:
        return None
    location = JournalLocation.parse(context.journal_location)
    return S3JournalStore(
        context.target.clients.client("s3"), location, expected_owner=context.target.account_id
    )


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


def execute(context: RunContext, planned: list[PlannedFault]) -> RunOutcome:
    """Run the phases; whatever happens, restore everything journaled before returning."""
    janitor = context.janitor
    assert janitor is not None, "preflight.arrange settles the janitor before the run"
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
                assert context.fault_context is not None
                # its schedule, before the first change
                context.notes.extend(arm_janitor(janitor, journal, context.fault_context))
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
    with signals_set(threading.Event()) as interrupted:
        history = ExperimentHistory.for_run(
            context.experiment,
            context.run_id,
            context.target.account_id,
            context.target.clients,
            context.journal_location,
        )
        record = run_record(context, started_at, outcome, reason, interrupted)
        if interrupted.is_set() and record.outcome == "passed":
            record = replace(
                record,
                outcome="aborted",
                abort_reason=(
                    "interrupted while waiting for CloudWatch to settle: server-side figures "
                    "unsettled (gameday report --refresh completes them)"
                ),
            )
        result = assemble_result(replace(record, previous_for=history.previous))
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
    moments = [
        epoch_seconds(item.entry.effective_at) for item in applied if item.entry.effective_at
    ]
    return max(moments, default=time.time())


@contextmanager
def monitoring(context: RunContext) -> Iterator[None]:
    """Load, alarm stop conditions and `abort_when` for the span of the phases."""
    experiment = context.experiment
    watcher = AlarmWatcher(
        context.target.clients.client("cloudwatch"),
        experiment.stop_conditions.alarms,
        context.stop,
        on_message=lambda text: context.events.message.fire(text=text),
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
