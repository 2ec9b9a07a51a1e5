"""Restoring journaled changes: at the end of a fault, on abort, and after a crash."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from chaos.aws import AwsClients
from chaos.aws.credentials import is_expired_credentials_error
from chaos.aws.partition import caller_partition
from chaos.clock import utc_now
from chaos.errors import redact_aws_message
from chaos.faults import LOCK_TAG_KEY
from chaos.faults.base import LockedResource, NothingWritten
from chaos.faults.locks import release_lock
from chaos.journal import Journal, JournalEntry, S3JournalStore, all_journals
from chaos.journal.integrity import ArnScope, out_of_scope
from chaos.run.apply import apply_concurrency
from chaos.run.restorers import RESTORE_ONLY_KINDS, fault_kind

log = logging.getLogger(__name__)


@dataclass
class RollbackReport:
    run_id: str
    restored: int
    drifted: int
    failed: int
    details: list[str]
    # Entries naming a resource that is not the run's (no lock of the run, or a version,
    # ACL or schedule it did not create): nothing written, nothing to retry (in `details`).
    refused: int = 0

    @property
    def complete(self) -> bool:
        return self.failed == 0


@dataclass
class RestoreBudget:
    """How long restores may still start: a Lambda invocation's remaining time, less what
    the janitor keeps to journal the outcome and schedule itself again."""

    ends_at: float  # time.monotonic()

    @classmethod
    def lasting(cls, seconds: float) -> RestoreBudget:
        return cls(time.monotonic() + seconds)

    def remaining_s(self) -> float:
        return self.ends_at - time.monotonic()

    def allows(self, entry: JournalEntry) -> bool:
        return restore_bound_s(entry) <= self.remaining_s()


#: What a restore of one entry may take besides its convergence wait (reads, an update and
#: its wait, journal writes).
ENTRY_RESTORE_S = 30.0


def restore_bound_s(entry: JournalEntry) -> float:
    """The longest a restore of `entry` may take: an az-loss pin waits up to its
    converge_timeout for capacity to come back."""
    wait = entry.intended.get("converge_timeout_s")
    return ENTRY_RESTORE_S + (float(wait) if isinstance(wait, (int, float)) else 0.0)


def clients_for(journal: Journal, profile: str | None = None) -> AwsClients:
    """Fresh clients for the journal's target, as the restoring machine is set up.

    Never the journal's profile or endpoint (anyone who can write a journal could name
    them): credentials come from `profile` (``--profile``) or the environment, the endpoint
    from the environment (AWS_ENDPOINT_URL), or from the local sandbox's state file when
    the journal is of that running sandbox.
    """
    if journal.sandbox:
        from chaos.sandbox.process import control

        state = control.read_state()
        if state is not None and state.endpoint_url == journal.endpoint_url:
            return state.clients()
    return AwsClients(region=journal.region, profile=profile)


def refuse_out_of_scope(journal: Journal, scope: ArnScope) -> list[JournalEntry]:
    """Mark `refused` every entry still to restore that names an ARN outside `scope` (another
    account, partition or Region): nothing is restored for it. Returns them. The detail is
    the reason only, as for every refusal (the status says it; reports add the word)."""
    refused = []
    for entry in journal.entries:
        if not entry.needs_restore:
            continue
        reasons = out_of_scope(asdict(entry), scope)
        if reasons:
            journal.update(
                entry,
                "refused",
                detail=reasons[0] + (f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""),
            )
            refused.append(entry)
    return refused


def restore_entry(journal: Journal, entry: JournalEntry, clients: AwsClients) -> None:
    """Restore one entry and record the outcome; never raises for a failed restore."""
    if not entry.needs_restore:
        return
    journal.update(entry, restore_started_at=utc_now())
    try:
        outcome = fault_kind(entry.fault_type).restore(entry, clients, journal.run_id)
    except NothingWritten as stopped:
        outcome = stopped.outcome
    except Exception as error:  # noqa: BLE001 - a failed restore is recorded, not raised
        log.debug("restore of %s failed", entry.target, exc_info=True)
        if is_expired_credentials_error(error):
            detail = (
                f"restore failed: the AWS credentials expired ({error}); renew them and "
                f"run `gameday rollback --run-id {journal.run_id}`"
            )
        else:
            detail = f"restore failed: {redact_aws_message(str(error))}"
        journal.update(entry, "failed", detail=detail)
        return
    journal.update(entry, outcome.status, restored_at=utc_now(), detail=outcome.detail)


def restore_journal(
    journal: Journal,
    clients: AwsClients | None = None,
    *,
    concurrency: int | None = None,
    budget: RestoreBudget | None = None,
) -> RollbackReport:
    """Restore every unfinished entry (the caller marks the journal finished).

    Resources are restored in parallel; the entries of one resource (an alias target's
    $LATEST, version and alias; a blackhole's subnets and its ACL) newest first. Once
    everything is back, the run's locks are released, then the janitor's schedule goes:
    while anything is left to restore, the resources stay locked and the janitor armed.
    With a `budget`, an entry is started only if its restore can end within it; the rest
    of its resource waits for the next try.
    """
    clients = clients or clients_for(journal)
    faults = [entry for entry in journal.entries if entry.fault_type not in RESTORE_ONLY_KINDS]
    groups = restore_groups(faults)

    def restore_group(entries: list[JournalEntry]) -> None:
        for entry in reversed(entries):
            if budget is not None and entry.needs_restore and not budget.allows(entry):
                log.info(
                    "%s: left for the next try (%.0f s left, it may take %.0f s)",
                    entry.target,
                    budget.remaining_s(),
                    restore_bound_s(entry),
                )
                return
            restore_entry(journal, entry, clients)

    workers = max(1, min(concurrency or apply_concurrency(), len(groups)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="restore") as pool:
        for future in [pool.submit(restore_group, group) for group in groups]:
            future.result()
    if not any(entry.needs_restore for entry in faults):
        release_locks(journal, faults, clients, workers)
    if not any(entry.needs_restore for entry in faults):
        for entry in journal.entries:
            if entry.fault_type in RESTORE_ONLY_KINDS:
                restore_entry(journal, entry, clients)
    return summarize(journal)


def release_locks(
    journal: Journal, entries: list[JournalEntry], clients: AwsClients, workers: int = 1
) -> None:
    """Remove the run's lock tag from every resource its entries name that still carries it.

    Last, when no entry needs a restore any more: a restore interrupted anywhere before
    finds each resource it changed still locked, and restores it. Several entries may share
    a lock (an alias target's steps, a function both faulted and pinned, a subnet several
    pins removed). A lock that cannot be removed turns its entries `failed`, so that the
    journal stays unfinished and the next rollback tries again.
    """
    holders: dict[LockedResource, list[JournalEntry]] = {}
    for entry in entries:
        for resource in fault_kind(entry.fault_type).locked_resources(entry):
            holders.setdefault(resource, []).append(entry)

    def release(resource: LockedResource) -> None:
        try:
            release_lock(clients, resource, journal.run_id)
        except Exception as error:  # noqa: BLE001 - recorded on the entries, not raised
            log.debug("lock release of %s failed", resource.ref, exc_info=True)
            reason = (
                f"its lock tag {LOCK_TAG_KEY} on {resource.ref} could not be removed: "
                f"{redact_aws_message(str(error))}"
            )
            for entry in holders[resource]:
                journal.update(
                    entry, "failed", detail=f"{entry.detail}; {reason}" if entry.detail else reason
                )

    with ThreadPoolExecutor(
        max_workers=max(1, min(workers, len(holders) or 1)), thread_name_prefix="unlock"
    ) as pool:
        for future in [pool.submit(release, resource) for resource in holders]:
            future.result()


def restore_groups(entries: list[JournalEntry]) -> list[list[JournalEntry]]:
    """Entries grouped by the resource they change, each group in journal order."""
    by_id = {entry.entry_id: entry for entry in entries}

    def root(entry: JournalEntry) -> JournalEntry:
        for _ in range(len(entries)):  # bounded walk up the part_of chain
            parent = by_id.get(entry.part_of or "")
            if parent is None or parent is entry:
                break
            entry = parent
        return entry

    groups: dict[str, list[JournalEntry]] = {}
    for entry in entries:
        groups.setdefault(root(entry).target_arn, []).append(entry)
    return list(groups.values())


def summarize(journal: Journal) -> RollbackReport:
    counts = {"restored": 0, "drifted": 0, "failed": 0, "refused": 0}
    details = []
    for entry in journal.entries:
        if entry.status in counts:
            counts[entry.status] += 1
        if entry.status == "refused":
            details.append(f"{entry.target}: refused: {entry.detail}")
        elif entry.detail:
            details.append(f"{entry.target}: {entry.detail}")
    return RollbackReport(
        journal.run_id,
        counts["restored"],
        counts["drifted"],
        counts["failed"],
        details,
        refused=counts["refused"],
    )


def rollback_unfinished(
    run_id: str | None = None,
    *,
    force: bool = False,
    on_skip: Callable[[str], None] | None = None,
    remote: S3JournalStore | None = None,
    profile: str | None = None,
    finished_by: str = "rollback",
) -> list[RollbackReport]:
    """`gameday rollback`: restore unfinished journals (one run, or all); idempotent.

    Journals are the local ones and, with `remote`, those in S3 (from any machine). A run
    whose process is still alive is left alone (it restores itself) unless `force`. A
    journal is checked, not trusted: it must name the caller's account (sts), and an entry
    naming an ARN in another account, partition or Region is refused and reported.
    """
    reports = []
    for journal in all_journals(remote):
        if run_id and journal.run_id != run_id:
            continue
        if not journal.unfinished:
            continue
        if journal.liveness() == "running" and not force:
            if on_skip:
                on_skip(
                    f"run {journal.run_id} is still running (pid {journal.pid} on "
                    f"{journal.hostname}): skipped; it restores itself (--force to roll "
                    "it back anyway)"
                )
            continue
        if journal.sandbox and not sandbox_still_there(journal):
            journal.take_over(finished_by)
            report = forget_sandbox_run(journal)
        else:
            clients = clients_for(journal, profile)
            refusal = account_refusal(journal, clients)
            if refusal is not None:
                if on_skip:
                    on_skip(refusal)
                continue
            journal.take_over(finished_by)
            refuse_out_of_scope(journal, scope_of(journal, clients))
            report = restore_journal(journal, clients)
        journal.finish("rolled_back" if report.complete else "rollback_incomplete", by=finished_by)
        report.details[:0] = [f"journal: {line}" for line in journal.breaks]
        reports.append(report)
    return reports


def account_refusal(journal: Journal, clients: AwsClients) -> str | None:
    """Why these credentials must not restore this journal (None: they may)."""
    caller = clients.caller_account_id()
    if journal.account_id != caller:
        named = journal.account_id or "no account"
        return (
            f"run {journal.run_id}: its journal names {named}, the credentials are for "
            f"account {caller}: skipped (restore it with credentials for its account)"
        )
    return None


def scope_of(journal: Journal, clients: AwsClients) -> ArnScope:
    """The caller's account and partition, in the journal's Region (its clients' Region)."""
    return ArnScope(clients.caller_account_id(), caller_partition(clients), clients.region)


def sandbox_still_there(journal: Journal) -> bool:
    from chaos.sandbox.process import control

    state = control.read_state()
    return state is not None and state.endpoint_url == journal.endpoint_url


def forget_sandbox_run(journal: Journal) -> RollbackReport:
    """The sandbox this run changed is gone, and everything it held went with it."""
    for entry in journal.entries:
        if entry.needs_restore:
            journal.update(
                entry,
                "drifted",
                restored_at=utc_now(),
                detail="the sandbox it changed is gone (nothing left to restore)",
            )
    return summarize(journal)
