"""Resource locks: the tag a run puts on everything it changes, the refusal another run
gets when it meets one, and the release once the run is restored.

The refusal says whether the run holding the lock is unfinished in a journal this run can
read - the local ones under GAMEDAY_HOME and, when the run keeps one, its S3 journal - so
that a lock left by a dead run comes with the command that clears it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from chaos.aws import lambda_functions as functions
from chaos.aws import subnets as ec2_subnets
from chaos.aws.clients import error_code
from chaos.aws.workloads import placement_for
from chaos.errors import GamedayError, PreflightRefused
from chaos.faults.base import LOCK_TAG_KEY, NETWORK_ACL_TAG_KEY, removed_subnet_tag
from chaos.journal import JOURNAL_FILE, Journal, JournalLocation, S3JournalStore, runs_dir

if TYPE_CHECKING:
    from chaos.aws import AwsClients
    from chaos.faults.base import FaultContext, LockedResource

__all__ = ["lock_refusal", "refuse_locked", "release_lock", "unfinished_journal_of"]

log = logging.getLogger(__name__)


def refuse_locked(label: str, tags: Mapping[str, str], context: FaultContext) -> None:
    """Raise PreflightRefused when another run's lock tag is on the resource `label`."""
    owner = tags.get(LOCK_TAG_KEY)
    if owner and owner != context.run_id:
        raise PreflightRefused(lock_refusal(label, owner, context))


def lock_refusal(label: str, owner: str, context: FaultContext) -> str:
    """The one line that refuses a resource locked by run `owner`."""
    journal = unfinished_journal_of(owner, context)
    if journal is not None and journal.liveness() == "running":
        # Rolling back a live run would pull its fault out from under it mid-phase.
        where = journal.remote.location.uri if journal.remote is not None else journal.path
        return (
            f"{label}: locked by run {owner}, which is still running (journal {where}); "
            "wait for it to end: its restore releases the lock"
        )
    if journal is None:
        return (
            f"{label}: locked by run {owner} (tag {LOCK_TAG_KEY}); if that run is dead: "
            f"gameday rollback --run-id {owner}"
        )
    if journal.remote is None:
        return (
            f"{label}: locked by run {owner} (unfinished, journal {journal.path}): "
            f"gameday rollback --run-id {owner}"
        )
    # Found in S3 only: the rollback needs the same journal location to find it.
    location = journal.remote.location
    return (
        f"{label}: locked by run {owner} (unfinished, journal {location.uri}{owner}/): "
        f"gameday rollback --run-id {owner} --journal {location.uri}"
    )


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
        store = S3JournalStore(
            context.clients.client("s3"),
            location,
            expected_owner=context.clients.caller_account_id(),
        )
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


def release_lock(clients: AwsClients, resource: LockedResource, run_id: str) -> bool:
    """Remove this run's lock (and the tags set with it) from `resource`, read first: a lock
    of another run, or none, is left alone. False when there was nothing of ours to remove."""
    if resource.kind == "removed-subnet":
        key = removed_subnet_tag(run_id)
        tags = ec2_subnets.subnet_tags(clients, resource.ref)
        if tags is None or tags.get(key) != run_id:
            return False
        ec2_subnets.untag_resource(clients, resource.ref, {key: run_id})
        return True
    if resource.kind == "subnet":
        tags = ec2_subnets.subnet_tags(clients, resource.ref)
        if tags is None or tags.get(LOCK_TAG_KEY) != run_id:
            return False
        # DeleteTags with a value deletes the tag "only if the tag's value matches the
        # specified value" (DeleteTags, https://docs.aws.amazon.com/AWSEC2/latest/
        # APIReference/API_DeleteTags.html): a lock taken over meanwhile stays.
        ec2_subnets.untag_resource(
            clients, resource.ref, {LOCK_TAG_KEY: run_id, NETWORK_ACL_TAG_KEY: None}
        )
        return True
    if resource.kind == "lambda":  # ListTags alone: no need to read the configuration
        try:
            tags = functions.list_tags(clients, resource.ref)
        except ClientError as error:
            if error_code(error) == "ResourceNotFoundException":
                return False
            raise
        if tags.get(LOCK_TAG_KEY) != run_id:
            return False
        functions.untag(clients, resource.ref, [LOCK_TAG_KEY])
        return True
    placement = placement_for(resource.kind)
    workload = placement.get(clients, resource.ref)
    if workload is None or workload.tags.get(LOCK_TAG_KEY) != run_id:
        return False
    placement.untag(clients, workload, LOCK_TAG_KEY)
    return True
