"""The journal in the target account: append-only revisions in S3.

A runner on an ephemeral CI machine can vanish with its disk; the journal must not. With
``--journal s3://BUCKET/PREFIX`` every save of the journal is written as a new object
``PREFIX<run-id>/journal-<revision>.json`` *before* the change it announces is made,
with ``If-None-Match: *``: S3 refuses to create an object that already exists (HTTP 412
PreconditionFailed), so two writers (the run and the janitor) can never silently
overwrite each other's revision ("Add preconditions to S3 operations with conditional
requests", https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-requests.html).
The latest revision is the journal.

Every call names the account that must own the bucket (``ExpectedBucketOwner``): "If the
actual bucket owner doesn't match the expected bucket owner, the request fails" with 403
Access Denied ("Verifying bucket ownership with bucket owner condition", https://
docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html), so a bucket of
the same name in another account never receives or supplies a journal.

A botocore older than S3 conditional writes (2024-08) does not know ``IfNoneMatch`` and
refuses the call before sending it (``ParamValidationError``, not a ``ClientError``): that
is :class:`JournalWriteUnsupported`, never a silent unconditional write.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError

from chaos.aws.clients import error_code
from chaos.aws.retry import call_with_backoff
from chaos.errors import ConfigurationError, InputError

__all__ = [
    "JOURNAL_ENV",
    "RUN_ID_PATTERN",
    "ConditionalWritesUnsupported",
    "JournalConflict",
    "JournalLocation",
    "JournalWriteUnsupported",
    "ObjectExists",
    "Revision",
    "S3JournalStore",
    "create_object_once",
    "is_valid_run_id",
]

JOURNAL_ENV = "GAMEDAY_JOURNAL"
_REVISION = re.compile(r"journal-(\d{8})\.json$")
_MAX_PAGES = 1000
#: A run id names a directory (``.gameday/runs/<run-id>``) and an S3 prefix: letters,
#: digits, dashes and underscores only (`new_run_id` makes ``<stamp>-<name>-<random>``), so
#: that a run id read from S3 (``..``, ``a/b``) never maps outside the runs directory.
RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
MAX_RUN_ID_LENGTH = 100
_DELETED = "<delete marker>"


def is_valid_run_id(run_id: str) -> bool:
    return len(run_id) <= MAX_RUN_ID_LENGTH and RUN_ID_PATTERN.fullmatch(run_id) is not None


class JournalConflict(Exception):
    """Another writer already wrote this revision of the journal."""


class JournalWriteUnsupported(ConfigurationError):
    """This botocore cannot send a conditional write: no revision can be written safely."""


@dataclass(frozen=True)
class Revision:
    """One stored revision of a run's journal, as S3 holds it."""

    number: int
    document: dict[str, Any]
    #: How many versions S3 keeps of its key (versioned bucket): more than one means it was
    #: overwritten or deleted and written again; `document` is then the oldest. 1 when the
    #: versions could not be listed (unversioned bucket, or no s3:ListBucketVersions).
    versions: int = 1


@dataclass(frozen=True)
class JournalLocation:
    """``s3://BUCKET/PREFIX``: where the runs' journals live in the target account."""

    bucket: str
    prefix: str  # "" or ending with "/"

    @classmethod
    def parse(cls, uri: str) -> JournalLocation:
        match = re.fullmatch(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/(.*))?", uri.strip())
        if match is None:
            raise InputError(f"--journal {uri!r}: expected s3://BUCKET/PREFIX")
        prefix = (match.group(2) or "").strip("/")
        return cls(match.group(1), f"{prefix}/" if prefix else "")

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def run_prefix(self, run_id: str) -> str:
        if not is_valid_run_id(run_id):
            raise ValueError(f"{run_id!r} is not a run id")
        return f"{self.prefix}{run_id}/"

    def revision_key(self, run_id: str, revision: int) -> str:
        return f"{self.run_prefix(run_id)}journal-{revision:08d}.json"


class ObjectExists(Exception):
    """create_object_once: the key already exists (S3 answered 412 or 409)."""


class ConditionalWritesUnsupported(Exception):
    """create_object_once: this botocore cannot send If-None-Match."""


def create_object_once(
    s3: Any, bucket: str, key: str, body: bytes, expected_owner: str | None
) -> None:
    """Create `key` with `body` unless it exists: never an unconditional overwrite."""
    owner = {"ExpectedBucketOwner": expected_owner} if expected_owner else {}
    try:
        call_with_backoff(
            lambda: s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                IfNoneMatch="*",
                ContentType="application/json",
                **owner,
            )
        )
    except ParamValidationError as error:
        raise ConditionalWritesUnsupported(
            f"this botocore cannot send S3 conditional writes (If-None-Match): {error}"
        ) from error
    except ClientError as error:
        if error_code(error) in ("PreconditionFailed", "ConditionalRequestConflict"):
            raise ObjectExists(key) from error
        raise


class S3JournalStore:
    """Revisions of run journals under one JournalLocation.

    `expected_owner`: the account that must own the bucket, sent as ExpectedBucketOwner
    on every call (None only where no account is known, e.g. tests on moto's default).
    """

    def __init__(
        self, s3: Any, location: JournalLocation, expected_owner: str | None = None
    ) -> None:
        self.s3 = s3
        self.location = location
        self.expected_owner = expected_owner

    def _owner(self) -> dict[str, str]:
        return {"ExpectedBucketOwner": self.expected_owner} if self.expected_owner else {}

    def put(self, run_id: str, revision: int, document: dict[str, Any]) -> None:
        """Create revision `revision`; JournalConflict when it already exists."""
        body = json.dumps(document, indent=1, sort_keys=True).encode()
        key = self.location.revision_key(run_id, revision)
        try:
            create_object_once(self.s3, self.location.bucket, key, body, self.expected_owner)
        except ConditionalWritesUnsupported as error:
            raise JournalWriteUnsupported(
                f"{self.location.uri}: {error}; nothing was written"
            ) from error
        except ObjectExists as error:
            raise JournalConflict(
                f"{self.location.uri}{run_id}: revision {revision} "
                "already written by another writer"
            ) from error

    def latest(self, run_id: str) -> tuple[int, dict[str, Any]] | None:
        """The newest revision of a run's journal, None when there is none."""
        revisions = self._revisions(run_id)
        if not revisions:
            return None
        revision = max(revisions)
        return revision, self._read(self.location.revision_key(run_id, revision))

    def history(self, run_id: str, *, limit: int = 100_000) -> list[Revision]:
        """Every revision of a run, oldest first (at most `limit`).

        On a versioned bucket, a revision whose key holds more than one version (it was
        overwritten, or deleted) is read as first written, and `Revision.versions` says so;
        the others are read as they are. Without the permission to list versions, the
        current objects are read.
        """
        current = set(self._revisions(run_id))
        versions = self._versions(run_id) or {}
        found = []
        for number in sorted(current | set(versions))[:limit]:
            key = self.location.revision_key(run_id, number)
            ids = versions.get(number, [])
            readable = [version for version in ids if version != _DELETED]
            if len(ids) <= 1 and number in current:
                found.append(Revision(number, self._read(key)))
            elif readable:
                oldest = readable[-1]
                document = self._read(key) if oldest is None else self._read(key, oldest)
                found.append(Revision(number, document, versions=len(ids)))
        return found

    def run_ids(self) -> list[str]:
        """Every run with a journal under the location (prefixes that are not run ids are
        not runs: never listed)."""
        found: list[str] = []
        request = {
            "Bucket": self.location.bucket,
            "Prefix": self.location.prefix,
            "Delimiter": "/",
            **self._owner(),
        }
        for page in self._pages(request):
            found.extend(
                item["Prefix"][len(self.location.prefix) :].rstrip("/")
                for item in page.get("CommonPrefixes", [])
            )
        return sorted(run_id for run_id in found if is_valid_run_id(run_id))

    def versioning(self) -> str:
        """The bucket's versioning status: Enabled, Suspended, or "" (never enabled)."""
        answer = call_with_backoff(
            lambda: self.s3.get_bucket_versioning(Bucket=self.location.bucket, **self._owner())
        )
        return str(answer.get("Status") or "")

    def _read(self, key: str, version_id: str | None = None) -> dict[str, Any]:
        extra = {"VersionId": version_id} if version_id else {}
        obj = call_with_backoff(
            lambda: self.s3.get_object(
                Bucket=self.location.bucket, Key=key, **extra, **self._owner()
            )
        )
        return dict(json.loads(obj["Body"].read()))

    def _revisions(self, run_id: str) -> list[int]:
        request = {
            "Bucket": self.location.bucket,
            "Prefix": self.location.run_prefix(run_id),
            **self._owner(),
        }
        revisions = []
        for page in self._pages(request):
            for item in page.get("Contents", []):
                match = _REVISION.search(item["Key"])
                if match:
                    revisions.append(int(match.group(1)))
        return revisions

    def _versions(self, run_id: str) -> dict[int, list[str | None]] | None:
        """Per revision, its key's versions, newest first (None: the version of an
        unversioned object; a delete marker counts as a version that cannot be read);
        None when the versions cannot be listed (no s3:ListBucketVersions).

        ListObjectVersions returns a key's versions "in the order they were stored, with the
        most recently stored returned first" (ListObjectVersions, Examples, https://
        docs.aws.amazon.com/AmazonS3/latest/API/API_ListObjectVersions.html).
        """
        request: dict[str, Any] = {
            "Bucket": self.location.bucket,
            "Prefix": self.location.run_prefix(run_id),
            **self._owner(),
        }
        found: dict[int, list[str | None]] = {}
        try:
            for _ in range(_MAX_PAGES):
                page = self._list_versions(request)
                items = [(item, False) for item in page.get("Versions", [])] + [
                    (item, True) for item in page.get("DeleteMarkers", [])
                ]
                for item, deleted in items:
                    match = _REVISION.search(item["Key"])
                    if match:
                        version = None if deleted else item.get("VersionId")
                        found.setdefault(int(match.group(1)), []).append(
                            _DELETED
                            if deleted
                            else (None if version in (None, "null") else str(version))
                        )
                if not page.get("IsTruncated"):
                    break
                request = {
                    **request,
                    "KeyMarker": page.get("NextKeyMarker"),
                    "VersionIdMarker": page.get("NextVersionIdMarker"),
                }
        except ClientError as error:
            if error_code(error) in ("AccessDenied", "AccessDeniedException", "NotImplemented"):
                return None
            raise
        return found

    def _list_versions(self, request: dict[str, Any]) -> dict[str, Any]:
        return dict(call_with_backoff(lambda: self.s3.list_object_versions(**request)))

    def _list(self, request: dict[str, Any]) -> dict[str, Any]:
        return dict(call_with_backoff(lambda: self.s3.list_objects_v2(**request)))

    def _pages(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        pages: list[dict[str, Any]] = []
        for _ in range(_MAX_PAGES):
            page = self._list(request)
            pages.append(page)
            if not page.get("IsTruncated"):
                break
            request = {**request, "ContinuationToken": page["NextContinuationToken"]}
        return pages
