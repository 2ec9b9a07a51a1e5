"""The run's side of the janitor: refuse without one, schedule it, keep it away while restoring.

`arrange_janitor` (read-only, before the journal exists) decides: a run that changes
nothing needs no janitor; with ``--no-janitor`` (or GAMEDAY_NO_JANITOR=1) none is scheduled
and the plan and the report say what will then not expire; otherwise the run needs its
journal in S3 (the janitor reads it there; in the sandbox, the sandbox's journal bucket by
default) and a janitor deployed for that journal location, or it is refused. `arm_janitor`
creates the run's schedule, journaled, before the first change; `postpone_janitor` moves it
later when the run's own restore may outlast it.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from chaos.aws.lambda_functions import FunctionNotFound, environment_of, get_configuration
from chaos.clock import iso_from_epoch
from chaos.errors import PreflightRefused
from chaos.janitor import (
    DEAD_LETTER_ENV,
    FUNCTION_NAME,
    JOURNAL_ENV,
    NO_JANITOR_ENV,
    SCHEDULER_ROLE_ENV,
)
from chaos.janitor.timer import (
    TYPE_NAME,
    JanitorEvent,
    JanitorSchedule,
    move_schedule,
    schedule_name,
)
from chaos.janitor.timer_change import JanitorScheduleKind
from chaos.journal import JournalTakenOver

if TYPE_CHECKING:
    from collections.abc import Iterable

    from chaos.aws import AwsClients
    from chaos.faults import FaultContext, PlannedChange
    from chaos.journal import Journal

log = logging.getLogger(__name__)

#: Time a run's own restore may take beyond its slowest wait (converge_timeout) before the
#: janitor may come: the schedule is moved to at least this much later before a restore.
RESTORE_SLACK_S = 120.0
NO_JANITOR_NOTE = (
    "no janitor (--no-janitor): if this run dies, nothing restores it by "
    "itself; az-loss faults will not expire (pinned subnets and deny-all "
    "network ACLs stay until `gameday rollback`), nor will lock tags, layers "
    "or aliases (the extension alone stops injecting at its expiry)"
)


def no_janitor_from_env() -> bool:
    return os.environ.get(NO_JANITOR_ENV) == "1"


@dataclass
class JanitorArrangement:
    """Who restores the run if it cannot: the janitor (with a schedule), or nobody."""

    needed: bool  # the run changes something
    function_arn: str | None = None  # None: no janitor (--no-janitor, or not needed)
    scheduler_role_arn: str | None = None
    journal: str | None = None  # the S3 journal location the janitor reads
    dead_letter_arn: str | None = None  # where Scheduler puts an invocation it cannot deliver
    notes: list[str] = field(default_factory=list)

    def describe(self) -> list[str]:
        if not self.needed:
            return ["janitor: not needed (the run changes nothing)"]
        if self.function_arn is None:
            return [f"janitor: {note}" for note in self.notes]
        return [
            f"janitor: {FUNCTION_NAME} restores the run from {self.journal} if it has not "
            "restored itself by start + max_duration + expiry_margin (a one-time "
            "EventBridge Scheduler schedule, created before the first change)"
        ]


def changes_something(changes: Iterable[PlannedChange]) -> bool:
    """Some planned change is made (az-loss skip notices change nothing)."""
    return any(change.intended.get("action") != "none" for change in changes)


def arrange_janitor(
    changes: Iterable[PlannedChange], clients: AwsClients, *, journal: str | None, no_janitor: bool
) -> JanitorArrangement:
    """Who restores the run's `changes` if it dies, the janitor found with `clients`.

    `journal` is the S3 journal location the run asks for (None: a local journal only).
    Read-only; raises PreflightRefused when a janitor is needed and there is none.
    """
    if not changes_something(changes):
        return JanitorArrangement(needed=False)
    if no_janitor:
        return JanitorArrangement(needed=True, notes=[NO_JANITOR_NOTE])
    if not journal:
        raise PreflightRefused(
            "the janitor reads the run's journal from S3: pass --journal s3://BUCKET/PREFIX "
            "(or set GAMEDAY_JOURNAL), or --no-janitor (nothing then restores a dead run by "
            "itself)"
        )
    try:
        config = get_configuration(clients, FUNCTION_NAME)
    except FunctionNotFound:
        raise PreflightRefused(
            f"no janitor in {clients.region} (Lambda function {FUNCTION_NAME}): run `gameday "
            f"janitor deploy --journal {journal}` once, or pass --no-janitor (az-loss faults "
            "then never expire by themselves)"
        ) from None
    environment = environment_of(config)
    janitor_journal = environment.get(JOURNAL_ENV, "")
    if not janitor_journal or not journal.startswith(janitor_journal):
        raise PreflightRefused(
            f"the janitor reads journals under {janitor_journal or '(none)'}, this run's "
            f"journal is {journal}: deploy it for this location (`gameday janitor deploy "
            f"--journal {journal}`) or use its location"
        )
    role_arn = environment.get(SCHEDULER_ROLE_ENV)
    if not role_arn:
        raise PreflightRefused(
            f"the janitor has no {SCHEDULER_ROLE_ENV} in its environment: "
            f"deploy it again (`gameday janitor deploy --journal {journal}`)"
        )
    return JanitorArrangement(
        needed=True,
        function_arn=str(config["FunctionArn"]),
        scheduler_role_arn=role_arn,
        journal=journal,
        dead_letter_arn=environment.get(DEAD_LETTER_ENV) or None,
    )


def arm_janitor(
    arrangement: JanitorArrangement, journal: Journal, fault_context: FaultContext
) -> list[str]:
    """Create the run's schedule (journaled first) to fire at the faults' expiry; the notes
    for the report either way."""
    if not arrangement.needed:
        return []
    if arrangement.function_arn is None:
        return list(arrangement.notes)
    assert arrangement.journal is not None and arrangement.scheduler_role_arn is not None
    run_id = fault_context.run_id
    schedule = JanitorSchedule(
        name=schedule_name(run_id),
        at=fault_context.expires_at,
        function_arn=arrangement.function_arn,
        role_arn=arrangement.scheduler_role_arn,
        event=JanitorEvent(run_id, arrangement.journal),
        dead_letter_arn=arrangement.dead_letter_arn,
    )
    kind = JanitorScheduleKind(schedule, fault_context)
    [change] = kind.plan()
    kind.apply(change, journal)
    return [
        f"janitor: schedule {schedule.name} invokes {FUNCTION_NAME} at "
        f"{iso_from_epoch(schedule.at)} unless the run has restored (it deletes the "
        "schedule when it does)"
    ]


def postpone_janitor(journal: Journal, clients: AwsClients) -> None:
    """Before the run restores: move its schedule past the longest the restore may take.

    Never fails the restore: a schedule that cannot be moved is logged and left.
    """
    entry = next(
        (item for item in journal.entries if item.fault_type == TYPE_NAME and item.needs_restore),
        None,
    )
    if entry is None:
        return
    try:
        schedule = JanitorSchedule.from_dict(entry.intended)
        needed = time.time() + restore_budget_s(journal)
        if needed <= schedule.at:
            return
        later = replace(schedule, at=needed)
    except Exception:  # noqa: BLE001 - the restore matters more than the janitor's timing
        log.warning("could not move the janitor's schedule later", exc_info=True)
        return
    before = dict(entry.intended)
    try:
        journal.update(entry, intended={**before, **later.to_dict()})  # before it moves
    except JournalTakenOver:
        raise  # the janitor has the run: this process changes nothing more
    except Exception:  # noqa: BLE001 - unjournaled, it is not moved
        log.warning("could not journal the janitor's later time: not moved", exc_info=True)
        return
    try:
        moved = move_schedule(clients, later)
    except Exception:  # noqa: BLE001 - the restore matters more than the janitor's timing
        log.warning("could not move the janitor's schedule later", exc_info=True)
        moved = False
    if not moved:
        journal.update(entry, intended=before)


def restore_budget_s(journal: Journal) -> float:
    """The longest wait of the entries still to restore (az-loss converge_timeout) + slack."""
    waits: list[Any] = [
        entry.intended.get("converge_timeout_s") or 0.0
        for entry in journal.entries
        if entry.needs_restore
    ]
    return max((float(wait) for wait in waits), default=0.0) + RESTORE_SLACK_S
