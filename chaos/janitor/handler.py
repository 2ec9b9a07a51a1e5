"""The janitor function's handler: restore a run whose time is up, from its S3 journal.

Event (the input of the run's schedule): ``{"run_id": ..., "journal": "s3://BUCKET/PREFIX"}``.
The event and the journal are checked, not trusted (anyone who can write the journal prefix
or create a schedule can forge them):

* the janitor reads only the journal location it was deployed with (its environment,
  ``GAMEDAY_JANITOR_JOURNAL``), in its own account (``ExpectedBucketOwner``), and a run
  journaled in another account or Region is not its to restore;
* it uses the journal's revision chain as `chaos.journal.integrity` allows (a broken
  revision is left out and reported, never the whole journal);
* liveness is the heartbeat's age only, measured against its own setting (at least
  `HEARTBEAT_FLOOR_S`), never a pid, host name or stale period from a journal or event;
  past the run's deadline (``start + max_duration + expiry_margin``, journaled at creation)
  it restores whatever the heartbeat says;
* an entry naming an ARN outside its own account, partition and Region is refused and
  reported; AWS calls use its own Region and credentials, never a journal's profile or
  endpoint.

Decisions, on the journal:

* no journal, or the run finished (nothing left to restore) → nothing;
* the run is alive → left alone (nothing written to the journal), and a one-time follow-up
  schedule a few stale periods later, so that a run that dies later still has a janitor;
* otherwise → it takes the journal over (a revision of its own: a runner that wakes from a
  pause finds it and changes nothing more, `JournalTakenOver`), then the same drift-safe
  `restore_journal` as ``gameday rollback`` within the invocation's remaining time. When
  entries remain (the time ran out, a convergence timed out), it journals and creates a
  follow-up schedule of its own instead of dropping them; otherwise it closes the journal
  ``by="janitor"``.

Returns (and logs) a JSON summary. Raises (so that Lambda retries the invocation and, once
its retries are spent, sends it to the dead-letter queue) only when it could not do its
job at all: a malformed event, an unreadable journal. Runs in the Lambda Python runtime:
the standard library, and the boto3 / botocore vendored in its package.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from chaos.aws import AwsClients
from chaos.aws.partition import partition_of_arn, partition_of_region
from chaos.clock import epoch_seconds, iso_from_epoch
from chaos.faults import FaultContext
from chaos.janitor import (
    DEAD_LETTER_ENV,
    HEARTBEAT_FLOOR_S,
    HEARTBEAT_STALE_ENV,
    JOURNAL_ENV,
    SCHEDULER_ROLE_ENV,
)
from chaos.janitor.timer import (
    TYPE_NAME,
    JanitorEvent,
    JanitorSchedule,
    create_schedule,
    function_arn,
    schedule_name,
    scheduler_role_arn,
)
from chaos.janitor.timer_change import JanitorScheduleKind
from chaos.journal import (
    HEARTBEAT_STALE_S,
    Journal,
    JournalLocation,
    JournalTakenOver,
    RunStatus,
    S3JournalStore,
    verified_journal,
)
from chaos.journal.integrity import ArnScope
from chaos.run.restore import RestoreBudget, refuse_out_of_scope, restore_journal
from chaos.run.restorers import RESTORE_ONLY_KINDS

#: A run still alive is looked at again this many heartbeat-stale periods later.
FOLLOW_UP_WINDOWS = 3
#: Entries left (time ran out, a convergence timed out): the janitor comes back this much
#: later (Scheduler invokes with 60 s precision anyway).
FOLLOW_UP_DELAY_S = 60.0
#: ...at most this many times per run; then `gameday rollback` (and `status`) take over.
MAX_FOLLOW_UPS = 5
#: What an invocation keeps for itself after its restores: the journal writes, a follow-up.
RESERVE_S = 60.0
#: Attempts to take a journal over while its runner keeps writing (each decides again).
CLAIM_ATTEMPTS = 3
#: Another writer wrote first where the janitor meant to claim the journal.
CONTENDED = "contended"
FINISHED_BY = "janitor"


@dataclass
class SweepResult:
    """What the janitor did with one run (returned and logged as JSON)."""

    run_id: str
    # none | finished | deferred | restored | continuing | refused | contended | taken-over
    # (another restorer, e.g. `gameday rollback`, took the journal over mid-restore)
    action: str
    detail: str
    status: str | None = None  # the journal's status afterwards
    restored: int = 0
    drifted: int = 0
    failed: int = 0
    refused: int = 0
    entries: list[dict[str, str]] = field(default_factory=list)
    follow_up: str | None = None  # the follow-up schedule's name
    journal_breaks: list[str] = field(default_factory=list)  # revisions left out, and why

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class JanitorSettings:
    """The janitor's own settings: its environment and where it runs. Nothing a journal or
    an event says changes them."""

    journal: JournalLocation | None  # None: deployed without one (it then restores nothing)
    account_id: str
    region: str
    partition: str
    function_arn: str
    scheduler_role_arn: str
    dead_letter_arn: str | None
    heartbeat_stale_s: float

    @property
    def scope(self) -> ArnScope:
        return ArnScope(self.account_id, self.partition, self.region)

    @classmethod
    def from_environment(
        cls, *, own_arn: str | None = None, region: str | None = None
    ) -> JanitorSettings:
        region = (
            region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or "us-east-1"
        )
        if own_arn:
            account_id, partition = own_arn.split(":")[4], partition_of_arn(own_arn)
        else:
            account_id = AwsClients(region=region).caller_account_id()
            partition = partition_of_region(region)
        raw_journal = os.environ.get(JOURNAL_ENV)
        return cls(
            journal=JournalLocation.parse(raw_journal) if raw_journal else None,
            account_id=account_id,
            region=region,
            partition=partition,
            function_arn=own_arn or function_arn(region, account_id),
            scheduler_role_arn=(
                os.environ.get(SCHEDULER_ROLE_ENV) or scheduler_role_arn(region, account_id)
            ),
            dead_letter_arn=os.environ.get(DEAD_LETTER_ENV) or None,
            heartbeat_stale_s=own_stale_s(os.environ.get(HEARTBEAT_STALE_ENV)),
        )


def own_stale_s(raw: str | None) -> float:
    """The janitor's heartbeat setting: its environment's, else the runs' default; never
    below the floor."""
    try:
        value = float(raw) if raw else HEARTBEAT_STALE_S
    except ValueError:
        value = HEARTBEAT_STALE_S
    return max(HEARTBEAT_FLOOR_S, value)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    request = JanitorEvent.from_dict(event)
    settings = JanitorSettings.from_environment(
        own_arn=getattr(context, "invoked_function_arn", None)
    )
    result = sweep(request, settings=settings, budget=invocation_budget(context))
    print(json.dumps(result.to_dict(), sort_keys=True))
    return result.to_dict()


def invocation_budget(context: Any) -> RestoreBudget | None:
    """The invocation's remaining time, less `RESERVE_S` ("get_remaining_time_in_millis":
    the Lambda context object, https://docs.aws.amazon.com/lambda/latest/dg/
    python-context.html); None outside Lambda."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    return RestoreBudget.lasting(max(0.0, remaining() / 1000.0 - RESERVE_S))


def sweep(
    request: JanitorEvent,
    *,
    settings: JanitorSettings | None = None,
    budget: RestoreBudget | None = None,
    own_arn: str | None = None,
    region: str | None = None,
) -> SweepResult:
    """Decide about one run and act."""
    settings = settings or JanitorSettings.from_environment(own_arn=own_arn, region=region)
    if settings.journal is None:
        return SweepResult(
            request.run_id,
            "refused",
            f"deployed without {JOURNAL_ENV}: it reads no journal (deploy it "
            "again with `gameday janitor deploy --journal s3://...`)",
        )
    if not same_location(request.journal, settings.journal):
        return SweepResult(
            request.run_id,
            "refused",
            f"the event names journal {request.journal[:200]}; this janitor reads "
            f"only {settings.journal.uri}",
        )
    home = AwsClients(region=settings.region)
    store = S3JournalStore(home.client("s3"), settings.journal, expected_owner=settings.account_id)
    for _ in range(CLAIM_ATTEMPTS):
        result = sweep_once(request, settings, home, store, budget)
        if result.action != CONTENDED:
            return result
    return result


def sweep_once(
    request: JanitorEvent,
    settings: JanitorSettings,
    home: AwsClients,
    store: S3JournalStore,
    budget: RestoreBudget | None,
) -> SweepResult:
    verified = verified_journal(store, request.run_id)
    if verified is None:
        return SweepResult(
            request.run_id,
            "none",
            f"no journal of run {request.run_id} "
            f"under {settings.journal.uri if settings.journal else '-'}",
        )
    journal, breaks = verified.journal, verified.breaks
    foreign = foreign_run(journal, settings)
    if foreign:
        return SweepResult(
            request.run_id, "refused", foreign, status=journal.status, journal_breaks=breaks
        )
    if not journal.unfinished:
        return SweepResult(
            request.run_id,
            "finished",
            f"the run is {journal.status} (by {journal.finished_by}): nothing to restore",
            status=journal.status,
            journal_breaks=breaks,
        )
    alive = still_alive(journal, settings.heartbeat_stale_s, time.time())
    if alive:
        return defer(home, request, journal, settings, alive, breaks)
    return restore_run(journal, settings, budget, breaks)


def same_location(uri: str, own: JournalLocation) -> bool:
    try:
        return JournalLocation.parse(uri) == own
    except ValueError:
        return False


def foreign_run(journal: Journal, settings: JanitorSettings) -> str | None:
    """Why this run is not the janitor's to restore (another account or Region)."""
    if journal.account_id != settings.account_id or journal.region != settings.region:
        return (
            f"run {journal.run_id} is journaled for account {journal.account_id} in "
            f"{journal.region}; this janitor restores {settings.account_id} in "
            f"{settings.region} only: refused (nothing restored)"
        )
    return None


def still_alive(journal: Journal, stale_s: float, now: float) -> str | None:
    """Why the run counts as alive (None: it does not): its heartbeat (or, before the first
    one, its creation) is younger than `stale_s` and its deadline has not passed."""
    if journal.status != "running":
        return None
    deadline = timestamp(journal.deadline_at)
    if deadline is not None and now >= deadline:
        return None
    last_sign = timestamp(journal.heartbeat_at) or timestamp(journal.created_at)
    if last_sign is None or now - last_sign > stale_s:
        return None
    return (
        f"last heartbeat {journal.heartbeat_at or 'none (created ' + journal.created_at + ')'}"
        f", {now - last_sign:.0f} s ago (dead after {stale_s:.0f} s)"
        + (f"; deadline {journal.deadline_at}" if journal.deadline_at else "")
    )


def timestamp(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return epoch_seconds(value)
    except (TypeError, ValueError):
        return None


def defer(
    home: AwsClients,
    request: JanitorEvent,
    journal: Journal,
    settings: JanitorSettings,
    alive: str,
    breaks: list[str],
) -> SweepResult:
    """The run lives: look again later (a one-time schedule like the run's own), writing
    nothing to its journal (a write would take the live run over)."""
    now = time.time()
    at = now + FOLLOW_UP_WINDOWS * settings.heartbeat_stale_s
    deadline = timestamp(journal.deadline_at)
    if deadline is not None:
        at = min(at, max(deadline, now + FOLLOW_UP_DELAY_S))
    schedule = follow_up_schedule(settings, request.run_id, at)
    create_schedule(home, schedule)
    return SweepResult(
        request.run_id,
        "deferred",
        f"the run is alive ({alive}): left alone; looking again at {iso_from_epoch(at)}",
        status=journal.status,
        follow_up=schedule.name,
        journal_breaks=breaks,
    )


def follow_up_schedule(
    settings: JanitorSettings, run_id: str, at: float, kind: str = "f"
) -> JanitorSchedule:
    assert settings.journal is not None
    return JanitorSchedule(
        name=schedule_name(run_id, suffix=f"-{kind}{int(at)}"),
        at=at,
        function_arn=settings.function_arn,
        role_arn=settings.scheduler_role_arn,
        event=JanitorEvent(run_id, settings.journal.uri),
        dead_letter_arn=settings.dead_letter_arn,
    )


def restore_run(
    journal: Journal, settings: JanitorSettings, budget: RestoreBudget | None, breaks: list[str]
) -> SweepResult:
    """Take the journal over, restore what the run changed within the budget, and close the
    journal as the janitor, or schedule itself again for what is left."""
    pending = {entry.entry_id for entry in journal.entries if entry.needs_restore}
    journal.take_over(FINISHED_BY)
    try:
        journal.save()  # the claim: from here on, a returning runner changes nothing
    except JournalTakenOver as error:  # someone wrote first (a runner waking up): look again
        return SweepResult(journal.run_id, CONTENDED, str(error), journal_breaks=breaks)
    try:
        clients = AwsClients(region=settings.region)
        refuse_out_of_scope(journal, settings.scope)
        report = restore_journal(journal, clients, budget=budget)
        for entry in journal.entries:  # what it did (not what it left) says who did it
            if (
                entry.entry_id in pending
                and entry.status not in ("applying", "applied")
                and not entry.detail.startswith("janitor: ")
            ):
                entry.detail = f"janitor: {entry.status}" + (
                    f" ({entry.detail})" if entry.detail else ""
                )
        left = [
            entry
            for entry in journal.entries
            if entry.needs_restore and entry.fault_type not in RESTORE_ONLY_KINDS
        ]
        follow_up = schedule_again(journal, settings, clients) if left else None
        status: RunStatus = "rolled_back" if report.complete and not left else "rollback_incomplete"
        journal.finish(status, by=FINISHED_BY)
    except JournalTakenOver as error:
        return SweepResult(journal.run_id, "taken-over", str(error), journal_breaks=breaks)
    refused = [
        entry
        for entry in journal.entries
        if entry.entry_id in pending and entry.status == "refused"
    ]
    detail = (
        f"restored {report.restored}, drifted {report.drifted}, failed {report.failed}, "
        f"refused {len(refused)}"
    )
    if left:
        detail += f"; {len(left)} left: " + (
            f"looking again with {follow_up}"
            if follow_up
            else "no more follow-ups (gameday rollback)"
        )
    return SweepResult(
        journal.run_id,
        "continuing" if follow_up else "restored",
        detail,
        status=journal.status,
        restored=report.restored,
        drifted=report.drifted,
        failed=report.failed,
        refused=len(refused),
        follow_up=follow_up,
        entries=[
            {"target": entry.target, "status": entry.status, "detail": entry.detail}
            for entry in journal.entries
            if entry.entry_id in pending
        ],
        journal_breaks=breaks,
    )


def schedule_again(journal: Journal, settings: JanitorSettings, clients: AwsClients) -> str | None:
    """Journal, then create, a follow-up schedule of its own; None when the run already had
    `MAX_FOLLOW_UPS` (the rest is `gameday rollback`'s, and `gameday status` shows it)."""
    ours = [
        entry
        for entry in journal.entries
        if entry.fault_type == TYPE_NAME and entry.intended.get("follow_up")
    ]
    if len(ours) >= MAX_FOLLOW_UPS:
        return None
    schedule = follow_up_schedule(
        settings, journal.run_id, time.time() + FOLLOW_UP_DELAY_S, kind=f"c{len(ours) + 1}-"
    )
    kind = JanitorScheduleKind(schedule, FaultContext(clients, journal.run_id, schedule.at))
    [change] = kind.plan()
    change.intended["follow_up"] = len(ours) + 1
    kind.apply(change, journal)  # journaled before it is created
    return schedule.name
