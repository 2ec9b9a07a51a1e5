"""The durable record of a run: what it will change, written before each change.

A journal is the only thing `gameday rollback` needs after a crash: it names the
target (region, endpoint, account) and, for each mutation, the original state and
the intended change. It is rewritten atomically (temp file, fsync, rename) so a
`kill -9` at any instant leaves either the previous or the next version on disk.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from chaos.clock import utc_now
from chaos.files import write_atomically

JOURNAL_FILE = "journal.json"
# Faults apply and restore targets in parallel; journal writes go one at a time.
_LOCK = threading.RLock()
JOURNAL_VERSION = 1

EntryStatus = Literal["applying", "applied", "restored", "drifted", "failed", "skipped"]
RunStatus = Literal["running", "finished", "rolled_back", "rollback_incomplete"]
UNFINISHED_ENTRY_STATUSES = ("applying", "applied", "failed")


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
    entries: list[JournalEntry] = field(default_factory=list)
    version: int = JOURNAL_VERSION
    path: Path | None = field(default=None, compare=False)

    @classmethod
    def create(cls, run_dir: Path, **fields: Any) -> Journal:
        run_dir.mkdir(parents=True, exist_ok=True)
        journal = cls(**fields, path=run_dir / JOURNAL_FILE)
        journal.save()
        return journal

    @classmethod
    def load(cls, path: Path) -> Journal:
        raw = json.loads(path.read_text(encoding="utf-8"))
        entries = [JournalEntry(**entry) for entry in raw.pop("entries", [])]
        return cls(**raw, entries=entries, path=path)

    @property
    def run_dir(self) -> Path:
        assert self.path is not None
        return self.path.parent

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

    def update(self, entry: JournalEntry, status: EntryStatus | None = None,
               **changes: Any) -> None:
        with _LOCK:
            if status is not None:
                entry.status = status
            for name, value in changes.items():
                setattr(entry, name, value)
            self.save()

    def finish(self, status: RunStatus) -> None:
        with _LOCK:
            self.status = status
            self.save()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("path")
        return data

    def save(self) -> None:
        """Write the journal durably (changes from several threads are serialized)."""
        assert self.path is not None
        with _LOCK:
            write_atomically(self.path, json.dumps(self.to_dict(), indent=2, sort_keys=True))


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
