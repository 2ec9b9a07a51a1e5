"""Resource locks: the tag a run puts on everything it changes, and the refusal another
run gets when it meets one.

The refusal says whether the run holding the lock is unfinished in a journal this run can
read - the local ones under GAMEDAY_HOME and, when the run keeps one, its S3 journal - so
that a lock left by a dead run comes with the command that clears it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chaos.errors import GamedayError, PreflightRefused
from chaos.faults.base import LOCK_TAG_KEY
from chaos.journal import JOURNAL_FILE, Journal, JournalLocation, S3JournalStore, runs_dir

if TYPE_CHECKING:
    from chaos.faults.base import FaultContext

__all__ = ["lock_refusal", "refuse_locked", "unfinished_journal_of"]

log = logging.getLogger(__name__)


def refuse_locked(label: str, tags: Mapping[str, str], context: FaultContext) -> None:
    """Raise PreflightRefused when another run's lock tag is on the resource `label`."""
    owner = tags.get(LOCK_TAG_KEY)
    if owner and owner != context.run_id:
        raise PreflightRefused(lock_refusal(label, owner, context))


def lock_refusal(label: str, owner: str, context: FaultContext) -> str:
    """The one line that refuses a resource locked by run `owner`."""
    journal = unfinished_journal_of(owner, context)
    if journal is None:
        return (f"{label}: locked by run {owner} (tag {LOCK_TAG_KEY}); if that run is dead: "
                f"gameday rollback --run-id {owner}")
    if journal.remote is None:
        return (f"{label}: locked by run {owner} (unfinished, journal {journal.path}): "
                f"gameday rollback --run-id {owner}")
    # Found in S3 only: the rollback needs the same journal location to find it.
    location = journal.remote.location
    return (f"{label}: locked by run {owner} (unfinished, journal {location.uri}{owner}/): "
            f"gameday rollback --run-id {owner} --journal {location.uri}")


def unfinished_journal_of(run_id: str, context: FaultContext) -> Journal | None:
    """The run's journal when it is unfinished: the local one, else the run's S3 journal.

    None when neither knows the run, when it finished, or when the journal cannot be read
    (the refusal then keeps its general wording).
    """
    journal = _local_journal(run_id) or _s3_journal(run_id, context)
    return journal if journal is not None and journal.unfinished else None


def _local_journal(run_id: str) -> Journal | None:
    path = runs_dir() / run_id / JOURNAL_FILE
    try:
        return Journal.load(path) if path.is_file() else None
    except (OSError, ValueError, TypeError):
        return None


def _s3_journal(run_id: str, context: FaultContext) -> Journal | None:
    if not context.journal_location:
        return None
    location = JournalLocation.parse(context.journal_location)
    try:
        store = S3JournalStore(context.clients.client("s3"), location,
                               expected_owner=context.clients.caller_account_id())
        latest = store.latest(run_id)
    except (ClientError, BotoCoreError, ValueError, GamedayError) as error:  # ValueError: not JSON
        log.debug("journal of run %s unreadable in %s: %s", run_id, location.uri, error)
        return None
    if latest is None:
        return None
    revision, document = latest
    try:
        journal = Journal.from_document(document, None, store)
    except (TypeError, ValueError):
        return None
    journal.revision = revision
    return journal

