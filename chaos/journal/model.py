"""The durable record of a run: what it will change, written before each change.

A journal is the only thing `gameday rollback` needs after a crash: it names the
target (region, endpoint, account) and, for each mutation, the original state and
the intended change. It is rewritten atomically (temp file, fsync, rename) so a
`kill -9` at any instant leaves either the previous or the next version on disk.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from chaos.clock import epoch_seconds, utc_now
from chaos.errors import GamedayError
from chaos.files import write_atomically
from chaos.host import process_alive
from chaos.journal.integrity import check_chain
from chaos.journal.s3 import JournalConflict, S3JournalStore

log = logging.getLogger(__name__)

JOURNAL_FILE = "journal.json"
#: A running run renews its heartbeat this often (GAMEDAY_HEARTBEAT_S for tests) ...
HEARTBEAT_S = float(os.environ.get("GAMEDAY_HEARTBEAT_S") or 30.0)
#: ... and is taken for dead, from another machine, when it is this old.
HEARTBEAT_STALE_S = 4 * HEARTBEAT_S
# Faults apply and restore targets in parallel; journal writes go one at a time.
_LOCK = threading.RLock()
# What this process knows of it; never in a document.
_LOCAL_FIELDS = ("path", "remote", "breaks")
JOURNAL_VERSION = 1

#: `refused`: the entry names a resource that is not the run's (no lock tag of the run, or
#: a version, ACL or schedule the run did not create): nothing was written on it. Final (a
#: retry would find the same), not a failure, and listed by every restore report.
EntryStatus = Literal["applying", "applied", "restored", "drifted", "failed", "skipped", "refused"]
RunStatus = Literal["running", "finished", "rolled_back", "rollback_incomplete"]
UNFINISHED_ENTRY_STATUSES = ("applying", "applied", "failed")


def new_writer(role: str) -> str:
    """A journal writer's identity: who wrote a revision (``run``, ``janitor``,
    ``rollback``), unique per process that writes."""
    return f"{role}:{uuid.uuid4().hex[:12]}"


def writer_role(writer: object) -> str:
    """``janitor`` of ``janitor:ab12...``; ``an unknown writer`` for anything else."""
    role = str(writer).split(":", 1)[0] if isinstance(writer, str) and ":" in writer else ""
    return role if role.isidentifier() else "an unknown writer"


def new_run_id(experiment_name: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{experiment_name[:40]}-{uuid.uuid4().hex[:6]}"


def gameday_home() -> Path:
    """`$GAMEDAY_HOME`, else `.gameday` under the current directory."""
    return Path(os.environ.get("GAMEDAY_HOME") or Path.cwd() / ".gameday")


def runs_dir() -> Path:
    return gameday_home() / "runs"


@dataclass
class JournalEntry:
    """One mutation of one resource: enough to undo it with no other context."""

    entry_id: str
    fault_type: str
    target: str
    target_arn: str
    original: dict[str, Any]
    intended: dict[str, Any]
    status: EntryStatus = "applying"
    injected_at: str | None = None
    restored_at: str | None = None
    detail: str = ""
    # One target can take several mutations (an alias target: $LATEST, a published
    # version, the alias); its later entries name the first one's entry_id.
    part_of: str | None = None
    fault_index: int | None = None  # which of the experiment's `faults` made it
    journaled_at: str = field(default_factory=utc_now)
    effective_at: str | None = None  # the change is in force (update complete, capacity moved)
    restore_started_at: str | None = None
    # What shows the change acted, for the result (e.g. az-loss capacity per AZ ID
    # before / during / after); never secrets.
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def group(self) -> str:
        """Entries of one group are restored in order (newest first); groups in parallel."""
        return self.part_of or self.entry_id

    @property
    def needs_restore(self) -> bool:
        return self.status in UNFINISHED_ENTRY_STATUSES


class JournalTakenOver(GamedayError):
    """Another writer (the janitor, a rollback) wrote this run's journal since this process
    last did: the process must change nothing more."""

    exit_code = 4


def taken_over(run_id: str, revision: int, document: dict[str, Any]) -> JournalTakenOver:
    role = writer_role(document.get("writer"))
    closed = (
        f", and closed it {document.get('status')}"
        if document.get("status") not in (None, "running")
        else ""
    )
    who = f"the {role}" if role != "an unknown writer" else role
    return JournalTakenOver(
        f"run {run_id}: {who} took over its journal (revision {revision}{closed}); this "
        "process changes nothing more"
    )


@dataclass
class Journal:
    run_id: str
    experiment_name: str
    experiment_path: str
    region: str
    endpoint_url: str | None
    profile: str | None
    account_id: str | None
    sandbox: bool = False  # the target was the local sandbox (its state dies with it)
    created_at: str = field(default_factory=utc_now)
    status: RunStatus = "running"
    pid: int = field(default_factory=os.getpid)
    hostname: str = field(default_factory=socket.gethostname)
    entries: list[JournalEntry] = field(default_factory=list)
    version: int = JOURNAL_VERSION
    location: str | None = None  # s3://BUCKET/PREFIX when the journal is also in S3
    revision: int = 0  # one more at every save: the S3 object of that revision
    heartbeat_at: str | None = None  # the run is alive: renewed while it runs
    finished_by: str | None = None  # run | rollback | janitor
    # start + max_duration + expiry_margin: past it the janitor restores whatever the
    # heartbeat says (set once, at creation).
    deadline_at: str | None = None
    # Who wrote this revision (`new_writer`): a process that finds another writer's revision
    # where it meant to write its own has been taken over (JournalTakenOver).
    writer: str = field(default_factory=lambda: new_writer("run"))
    path: Path | None = field(default=None, compare=False)
    remote: S3JournalStore | None = field(default=None, compare=False, repr=False)
    # Revisions of its S3 history left out when it was read (chaos.journal.integrity).
    breaks: list[str] = field(default_factory=list, compare=False, repr=False)

    @classmethod
    def create(cls, run_dir: Path, remote: S3JournalStore | None = None, **fields: Any) -> Journal:
        run_dir.mkdir(parents=True, exist_ok=True)
        location = remote.location.uri if remote is not None else None
        journal = cls(**fields, location=location, path=run_dir / JOURNAL_FILE, remote=remote)
        journal.save()
        return journal

    @classmethod
    def load(cls, path: Path) -> Journal:
        return cls.from_document(json.loads(path.read_text(encoding="utf-8")), path)

    @classmethod
    def from_document(
        cls, raw: dict[str, Any], path: Path | None, remote: S3JournalStore | None = None
    ) -> Journal:
        """The journal a document holds; ValueError when it is not one.

        A journal read is someone else's writing: this process gets its own writer identity
        (`take_over` names its role), and unknown keys are ignored.
        """
        if not isinstance(raw, dict) or not isinstance(raw.get("entries", []), list):
            raise ValueError("not a journal document")
        known = {name for name in cls.__dataclass_fields__ if name not in _LOCAL_FIELDS}
        fields = {key: value for key, value in raw.items() if key in known}
        try:
            entries = [
                JournalEntry(
                    **{
                        key: value
                        for key, value in entry.items()
                        if key in JournalEntry.__dataclass_fields__
                    }
                )
                for entry in fields.pop("entries", [])
            ]
            fields["writer"] = new_writer("reader")
            journal = cls(**fields, entries=entries, path=path, remote=remote)
        except (TypeError, AttributeError) as error:
            raise ValueError(f"not a journal document: {error}") from None
        if not isinstance(journal.run_id, str) or not all(
            isinstance(entry.entry_id, str)
            and isinstance(entry.original, dict)
            and isinstance(entry.intended, dict)
            for entry in journal.entries
        ):
            raise ValueError("not a journal document: malformed run id or entries")
        return journal

    def take_over(self, role: str) -> None:
        """From now on this process writes the journal as `role` (janitor, rollback): the
        run, if it comes back, finds a foreign writer and changes nothing more."""
        with _LOCK:
            self.writer = new_writer(role)
            self.pid, self.hostname = os.getpid(), socket.gethostname()

    @property
    def run_dir(self) -> Path:
        assert self.path is not None
        return self.path.parent

    def liveness(self, stale_after_s: float | None = None) -> str:
        """running | dead | finished: is the process that owns the run still there?

        On this host its pid tells; from another machine, its heartbeat in the journal.
        """
        if self.status != "running":
            return "finished"
        if self.hostname == socket.gethostname():
            return "running" if self.pid != os.getpid() and process_alive(self.pid) else "dead"
        if self.heartbeat_at is None:
            return "dead"
        age = time.time() - epoch_seconds(self.heartbeat_at)
        limit = HEARTBEAT_STALE_S if stale_after_s is None else stale_after_s
        return "running" if age <= limit else "dead"

    @property
    def unfinished(self) -> bool:
        return self.status in ("running", "rollback_incomplete") or any(
            entry.needs_restore for entry in self.entries
        )

    def record(self, entry: JournalEntry) -> JournalEntry:
        """Append an entry and make it durable *before* the caller mutates anything."""
        with _LOCK:
            self.entries.append(entry)
            self.save()
        return entry

    def update(
        self, entry: JournalEntry, status: EntryStatus | None = None, **changes: Any
    ) -> None:
        with _LOCK:
            if status is not None:
                entry.status = status
            for name, value in changes.items():
                setattr(entry, name, value)
            self.save()

    def finish(self, status: RunStatus, by: str = "run") -> None:
        with _LOCK:
            self.status = status
            self.finished_by = by
            self.save()

    def beat(self) -> None:
        """The run is alive: renew the heartbeat the janitor looks at."""
        with _LOCK:
            self.heartbeat_at = utc_now()
            self.save()

    def to_dict(self) -> dict[str, Any]:
        data = {
            name: getattr(self, name)
            for name in self.__dataclass_fields__
            if name not in (*_LOCAL_FIELDS, "entries")
        }
        data["entries"] = [asdict(entry) for entry in self.entries]
        return data

    def save(self) -> None:
        """Write the journal durably: the local mirror, then (with one) the S3 revision.

        Changes from several threads are serialized. Raises before the caller mutates
        anything when the S3 write fails, or when the janitor has closed the run.
        """
        with _LOCK:
            self.revision += 1
            if self.path is not None:
                write_atomically(self.path, json.dumps(self.to_dict(), indent=2, sort_keys=True))
            if self.remote is not None:
                self._save_remote(self.remote)

    def _save_remote(self, remote: S3JournalStore) -> None:
        for _ in range(3):
            try:
                remote.put(self.run_id, self.revision, self.to_dict())
                return
            except JournalConflict:
                latest = remote.latest(self.run_id)
                if latest is None:
                    raise
                revision, document = latest
                # Any other writer's revision is a takeover, finished or not: a runner that
                # wakes from a pause must not write over a janitor that is still restoring.
                if document.get("writer") != self.writer:
                    raise taken_over(self.run_id, revision, document) from None
                self.revision = revision + 1  # our own write, answered late: write after it
        raise JournalConflict(f"run {self.run_id}: the journal kept changing under us")


@dataclass
class VerifiedJournal:
    """A run's journal from S3 as its revision chain allows (chaos.journal.integrity)."""

    journal: Journal
    breaks: list[str]  # revisions left out, and why (empty: the chain is whole)


def verified_journal(
    remote: S3JournalStore, run_id: str, path: Path | None = None
) -> VerifiedJournal | None:
    """The last valid revision of a run's journal; its next save goes after every stored
    revision. None when the run has no valid revision (no journal, or only broken ones)."""
    check = check_chain(run_id, remote.history(run_id))
    latest = check.latest
    if latest is None:
        return None
    journal = Journal.from_document(latest.document, path, remote)
    journal.revision = check.next_revision - 1
    journal.breaks = list(check.breaks)
    return VerifiedJournal(journal, check.breaks)


def remote_journals(remote: S3JournalStore) -> list[Journal]:
    """The journal of every run in S3, oldest first (mirrored locally): an unfinished run's
    as its revision chain allows (`verified_journal`), a finished one's latest revision.

    Only valid run ids are listed (a prefix ``..`` never maps outside the runs directory),
    and a document that names another run, or is no journal, is skipped.
    """
    journals = []
    for run_id in remote.run_ids():
        path = runs_dir() / run_id / JOURNAL_FILE
        try:
            latest = remote.latest(run_id)
            if latest is None:
                continue
            revision, document = latest
            journal = Journal.from_document(document, path, remote)
            journal.revision = revision
            if journal.unfinished:
                verified = verified_journal(remote, run_id, path)
                if verified is None:
                    continue
                journal = verified.journal
        except ValueError as error:
            log.warning(
                "run %s: its journal in %s is unreadable: %s", run_id, remote.location.uri, error
            )
            continue
        if journal.run_id != run_id:
            log.warning("run %s: its journal names run %r: skipped", run_id, journal.run_id)
            continue
        journals.append(journal)
    return sorted(journals, key=lambda journal: journal.created_at)


def all_journals(remote: S3JournalStore | None = None) -> list[Journal]:
    """Local journals and, with a remote, the S3 ones: per run the newest revision."""
    newest: dict[str, Journal] = {journal.run_id: journal for journal in list_journals()}
    for journal in remote_journals(remote) if remote is not None else []:
        local = newest.get(journal.run_id)
        if local is None or local.revision <= journal.revision:
            newest[journal.run_id] = journal
        elif local.remote is None:
            local.remote = remote
    return sorted(newest.values(), key=lambda journal: journal.created_at)


def list_journals(home: Path | None = None) -> list[Journal]:
    """Every readable journal under the runs directory, oldest first."""
    base = (home / "runs") if home else runs_dir()
    journals = []
    for path in sorted(base.glob(f"*/{JOURNAL_FILE}")):
        try:
            journals.append(Journal.load(path))
        except (OSError, ValueError, TypeError):
            continue
    return sorted(journals, key=lambda journal: journal.created_at)
