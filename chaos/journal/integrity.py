"""What a restorer checks before it trusts a journal read from S3: the revision chain, and
that every ARN in an entry is in its own account, partition and Region.

Anyone who may write the journal prefix can add a revision (the runner policies grant
``s3:PutObject`` there). What S3 enforces is that nobody overwrites one: every writer sends
``If-None-Match: *`` and the bucket policy can require it (``s3:if-none-match``, "Enforce
conditional writes on Amazon S3 buckets", https://docs.aws.amazon.com/AmazonS3/latest/
userguide/conditional-writes-enforce.html); with versioning on, an overwrite or a delete
leaves the first version readable. On that base a revision can only be checked against the
one before it, without a secret:

* the run's identity (run id, account, Region, creation time, deadline, ...) never changes;
* an entry, once recorded, keeps its resource, its original state and the keys of its
  intended change (a janitor schedule may move: its time); a finished entry stays finished;
  entries are never removed; a finished run stays finished;
* revision numbers follow each other from the first.

A revision that breaks a rule is left out and reported; the next ones are checked against
the last good one, so a restorer's own later revisions still count. A break never makes
the whole journal unusable: whoever can write the prefix must not be able to stop expiry.
What this cannot catch (a well-formed revision that claims the run finished, or adds an
entry) is stated in docs/janitor.md; the lock-tag check and the ARN check below stop an
added entry from reaching a resource the run did not lock.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaos.journal.s3 import Revision

__all__ = ["ArnScope", "ChainCheck", "check_chain", "out_of_scope"]

#: The run's identity: written at creation, never changed.
IMMUTABLE_HEADER = (
    "run_id",
    "experiment_name",
    "experiment_path",
    "region",
    "endpoint_url",
    "profile",
    "account_id",
    "sandbox",
    "created_at",
    "location",
    "deadline_at",
    "version",
)
#: An entry's resource and original state: recorded before the change, never changed.
IMMUTABLE_ENTRY = (
    "fault_type",
    "target",
    "target_arn",
    "original",
    "part_of",
    "fault_index",
    "journaled_at",
)
#: Intended keys that may change after recording (the janitor schedule is moved later).
MOVABLE_INTENDED = {"janitor-schedule": frozenset({"at", "at_epoch"})}
FINAL_ENTRY_STATUSES = frozenset({"restored", "drifted", "skipped", "refused"})
FINAL_RUN_STATUSES = frozenset({"finished", "rolled_back"})


@dataclass(frozen=True)
class ChainCheck:
    """The revisions a restorer may use, and what it left out."""

    valid: list[Revision]  # oldest first; the last one is the journal
    breaks: list[str] = field(default_factory=list)  # one line per revision left out
    next_revision: int = 1  # where the next write goes (after every contiguous revision)

    @property
    def latest(self) -> Revision | None:
        return self.valid[-1] if self.valid else None


def check_chain(run_id: str, revisions: list[Revision]) -> ChainCheck:
    """Check each revision against the last good one before it (`revisions` oldest first)."""
    valid: list[Revision] = []
    breaks: list[str] = []
    expected = 1
    for revision in sorted(revisions, key=lambda item: item.number):
        if revision.number != expected:
            if valid or revision.number < expected:
                breaks.append(
                    f"revision {revision.number}: after a gap (revision "
                    f"{expected} is missing): left out"
                )
                continue
            breaks.append(f"revisions before {revision.number} are missing")
        expected = revision.number + 1
        if revision.versions > 1:
            breaks.append(
                f"revision {revision.number} was written {revision.versions} times "
                "(overwritten or deleted): its first version is used"
            )
        problem = (
            first_problem(run_id, revision) if not valid else successor_problem(valid[-1], revision)
        )
        if problem:
            breaks.append(f"revision {revision.number}: {problem}: left out")
            continue
        valid.append(revision)
    return ChainCheck(valid, breaks, expected)


def first_problem(run_id: str, revision: Revision) -> str | None:
    document = revision.document
    if not is_journal(document):
        return "not a journal"
    if document.get("run_id") != run_id:
        return f"names run {document.get('run_id')!r}, not {run_id}"
    if document.get("revision") != revision.number:
        return f"says it is revision {document.get('revision')!r}"
    return None


def successor_problem(previous: Revision, revision: Revision) -> str | None:
    """Why `revision` cannot follow `previous` (None: it can)."""
    before, after = previous.document, revision.document
    if not is_journal(after):
        return "not a journal"
    if after.get("revision") != revision.number:
        return f"says it is revision {after.get('revision')!r}"
    changed = [name for name in IMMUTABLE_HEADER if after.get(name) != before.get(name)]
    if changed:
        return f"changes the run's {', '.join(changed)}"
    if before.get("status") in FINAL_RUN_STATUSES and after.get("status") != before["status"]:
        return f"reopens a run that was {before['status']}"
    return entries_problem(before["entries"], after["entries"])


def entries_problem(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> str | None:
    now = {str(entry.get("entry_id")): entry for entry in after}
    if len(now) != len(after):
        return "holds an entry twice"
    for old in before:
        entry_id = str(old.get("entry_id"))
        new = now.get(entry_id)
        if new is None:
            return f"removes entry {entry_id}"
        changed = [name for name in IMMUTABLE_ENTRY if new.get(name) != old.get(name)]
        movable = MOVABLE_INTENDED.get(str(old.get("fault_type")), frozenset())
        intended_old, intended_new = old.get("intended") or {}, new.get("intended") or {}
        if not isinstance(intended_new, dict):
            changed.append("intended")
        else:
            changed.extend(
                f"intended.{key}"
                for key, value in intended_old.items()
                if key not in movable and intended_new.get(key) != value
            )
        if changed:
            return f"changes entry {entry_id}'s {', '.join(changed)}"
        if old.get("status") in FINAL_ENTRY_STATUSES and new.get("status") != old["status"]:
            return f"reopens entry {entry_id}, which was {old['status']}"
    return None


def is_journal(document: Any) -> bool:
    return (
        isinstance(document, dict)
        and isinstance(document.get("entries"), list)
        and all(isinstance(entry, dict) for entry in document["entries"])
    )


# -- ARNs -----------------------------------------------------------------------------------

_ARN = re.compile(r"arn:([^:]*):([^:]*):([^:]*):([^:]*):(.*)", re.DOTALL)


@dataclass(frozen=True)
class ArnScope:
    """Where a restorer may act: its own account, partition and Region."""

    account_id: str
    partition: str
    region: str

    def refusal(self, arn: str) -> str | None:
        """Why `arn` is outside this scope (None: inside, or not an ARN)."""
        match = _ARN.fullmatch(arn)
        if match is None:
            return None
        partition, service, region, account, resource = match.groups()
        if partition != self.partition:
            return f"{arn} is in partition {partition or '(none)'}, not {self.partition}"
        if region not in ("", self.region):
            return f"{arn} is in Region {region}, not {self.region}"
        # A function's layers may be any account's (AWS's, a vendor's): the restore reads
        # them and never writes one it took from the journal.
        layer = service == "lambda" and resource.startswith("layer:")
        if account not in ("", self.account_id) and not layer:
            return f"{arn} is in account {account}, not {self.account_id}"
        return None


def out_of_scope(entry: dict[str, Any], scope: ArnScope) -> list[str]:
    """Every ARN of a journal entry (its resource, original state and intended change) that
    is outside `scope`, as reasons."""
    values = [entry.get("target_arn"), entry.get("original"), entry.get("intended")]
    return [reason for text in strings_in(values) if (reason := scope.refusal(text)) is not None]


def strings_in(value: Any, depth: int = 0) -> Iterator[str]:
    """Every string in nested dicts and lists (keys too), to a bounded depth."""
    if depth > 32:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key, depth + 1)
            yield from strings_in(item, depth + 1)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from strings_in(item, depth + 1)
