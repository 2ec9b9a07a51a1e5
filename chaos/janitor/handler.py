"""The janitor function's handler: restore a run whose time is up, from its S3 journal.

Event (the input of the run's schedule): ``{"run_id": ..., "journal": "s3://BUCKET/PREFIX",
"heartbeat_stale_s": ...}``. Decisions, on the latest revision of the run's journal:

* no journal, or the run finished (nothing left to restore) → nothing;
* the run is alive (`Journal.liveness`: its heartbeat is recent; on the same host, its
  process runs) → left alone, and a one-time follow-up schedule a few stale periods later,
  so that a run that dies later still has a janitor;
* otherwise → the same drift-safe `restore_journal` as ``gameday rollback`` (which also
  removes the lock tags and deletes the run's schedule), each restored entry's detail
  saying the janitor did it, and the journal finished ``by="janitor"`` (a run that comes
  back changes nothing more: `JournalTakenOver`).

Returns (and logs) a JSON summary. Runs in the Lambda Python runtime: boto3 and the
standard library only. AWS calls go to the Lambda's Region, or the sandbox when
``AWS_ENDPOINT_URL`` says so (botocore reads it).
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from chaos.aws import AwsClients
from chaos.clock import iso_from_epoch
from chaos.janitor import SCHEDULER_ROLE_ENV
from chaos.janitor.schedule import (
    JanitorEvent,
    JanitorSchedule,
    create_schedule,
    function_arn,
    schedule_name,
    scheduler_role_arn,
)
from chaos.journal import Journal, JournalLocation, S3JournalStore
from chaos.rollback import restore_journal

#: A run still alive is looked at again this many heartbeat-stale periods later.
FOLLOW_UP_WINDOWS = 3
FINISHED_BY = "janitor"


@dataclass
class SweepResult:
    """What the janitor did with one run (returned and logged as JSON)."""

    run_id: str
    action: str  # none | finished | deferred | restored
    detail: str
    status: str | None = None  # the journal's status afterwards
    restored: int = 0
    drifted: int = 0
    failed: int = 0
    entries: list[dict[str, str]] = field(default_factory=list)
    follow_up: str | None = None  # the follow-up schedule's name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda entry point."""
    result = sweep(JanitorEvent.from_dict(event),
                   own_arn=getattr(context, "invoked_function_arn", None))
    print(json.dumps(result.to_dict(), sort_keys=True))
    return result.to_dict()


def sweep(request: JanitorEvent, *, own_arn: str | None = None,
          region: str | None = None) -> SweepResult:
    """Decide about one run and act; `region`: where the janitor runs (default: Lambda's)."""
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") \
        or "us-east-1"
    home = AwsClients(region=region)
    store = S3JournalStore(home.client("s3"), JournalLocation.parse(request.journal))
    journal = latest_journal(store, request.run_id)
    if journal is None:
        return SweepResult(request.run_id, "none",
                           f"no journal of run {request.run_id} under {request.journal}")
    if not journal.unfinished:
        return SweepResult(request.run_id, "finished",
                           f"the run is {journal.status} (by {journal.finished_by}): nothing "
                           "to restore", status=journal.status)
    if journal.liveness(request.heartbeat_stale_s) == "running":
        return defer(home, request, journal, own_arn)
    return restore_run(journal)


def latest_journal(store: S3JournalStore, run_id: str) -> Journal | None:
    latest = store.latest(run_id)
    if latest is None:
        return None
    revision, document = latest
    journal = Journal.from_document(document, None, store)
    journal.revision = revision
    return journal


def defer(home: AwsClients, request: JanitorEvent, journal: Journal,
          own_arn: str | None) -> SweepResult:
    """The run lives: look again later (a one-time schedule like the run's own)."""
    at = time.time() + FOLLOW_UP_WINDOWS * request.heartbeat_stale_s
    account_id = (own_arn or "").split(":")[4] if own_arn else str(journal.account_id)
    schedule = JanitorSchedule(
        name=schedule_name(request.run_id, suffix=f"-f{int(at)}"), at=at,
        function_arn=own_arn or function_arn(home.region, account_id),
        role_arn=os.environ.get(SCHEDULER_ROLE_ENV) or scheduler_role_arn(home.region,
                                                                           account_id),
        event=request)
    create_schedule(home, schedule)
    beat = journal.heartbeat_at or "none (its process runs on this host)"
    return SweepResult(request.run_id, "deferred",
                       f"the run is alive (last heartbeat {beat}): left alone; looking again "
                       f"at {iso_from_epoch(at)}", status=journal.status,
                       follow_up=schedule.name)


def restore_run(journal: Journal) -> SweepResult:
    """Restore what the run changed and close its journal as the janitor."""
    pending = {entry.entry_id for entry in journal.entries if entry.needs_restore}
    # The journal is the janitor's from now on: a runner that comes back tells by the
    # owner (JournalTakenOver) and changes nothing more.
    journal.pid, journal.hostname = os.getpid(), socket.gethostname()
    report = restore_journal(journal, AwsClients(region=journal.region))
    for entry in journal.entries:
        if entry.entry_id in pending:
            entry.detail = f"janitor: {entry.status}" + (f" ({entry.detail})"
                                                          if entry.detail else "")
    journal.finish("rolled_back" if report.complete else "rollback_incomplete", by=FINISHED_BY)
    return SweepResult(
        journal.run_id, "restored",
        f"restored {report.restored}, drifted {report.drifted}, failed {report.failed}",
        status=journal.status, restored=report.restored, drifted=report.drifted,
        failed=report.failed,
        entries=[{"target": entry.target, "status": entry.status, "detail": entry.detail}
                 for entry in journal.entries if entry.entry_id in pending])
