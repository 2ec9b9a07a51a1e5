"""The durable record of a run: what it will change, written before each change.

`model`: the journal and its entries, kept as a local file (a mirror) and, with
``--journal s3://...``, in the target account (`s3`): append-only revisions that two
writers can never silently overwrite, readable from any machine.
"""

from chaos.journal.model import (
    HEARTBEAT_S,
    HEARTBEAT_STALE_S,
    JOURNAL_FILE,
    JOURNAL_VERSION,
    UNFINISHED_ENTRY_STATUSES,
    EntryStatus,
    Journal,
    JournalEntry,
    JournalTakenOver,
    RunStatus,
    VerifiedJournal,
    all_journals,
    gameday_home,
    list_journals,
    new_run_id,
    remote_journals,
    runs_dir,
    verified_journal,
    writer_role,
)
from chaos.journal.s3 import (
    JOURNAL_ENV,
    JournalConflict,
    JournalLocation,
    JournalWriteUnsupported,
    S3JournalStore,
    is_valid_run_id,
)

__all__ = [
    "HEARTBEAT_S",
    "HEARTBEAT_STALE_S",
    "JOURNAL_FILE",
    "JOURNAL_VERSION",
    "UNFINISHED_ENTRY_STATUSES",
    "EntryStatus",
    "JOURNAL_ENV",
    "Journal",
    "JournalConflict",
    "JournalEntry",
    "JournalLocation",
    "JournalTakenOver",
    "JournalWriteUnsupported",
    "S3JournalStore",
    "RunStatus",
    "VerifiedJournal",
    "all_journals",
    "gameday_home",
    "is_valid_run_id",
    "list_journals",
    "new_run_id",
    "remote_journals",
    "runs_dir",
    "verified_journal",
    "writer_role",
]
