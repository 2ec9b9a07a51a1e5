"""The journal in the target account: append-only revisions in S3.

A runner on an ephemeral CI machine can vanish with its disk; the journal must not. With
``--journal s3://BUCKET/PREFIX`` every save of the journal is written as a new object
``PREFIX<run-id>/journal-<revision>.json`` *before* the change it announces is made,
with ``If-None-Match: *``: S3 refuses to create an object that already exists (HTTP 412
PreconditionFailed), so two writers (the run and the janitor) can never silently
overwrite each other's revision (S3 User Guide, "Add preconditions to S3 operations with
conditional requests"). The latest revision is the journal.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chaos.aws.clients import error_code
from chaos.aws.retry import call_with_backoff
from chaos.errors import InputError

__all__ = ["JOURNAL_ENV", "JournalConflict", "JournalLocation", "S3JournalStore"]

JOURNAL_ENV = "GAMEDAY_JOURNAL"
_REVISION = re.compile(r"journal-(\d{8})\.json$")
_MAX_PAGES = 1000


class JournalConflict(Exception):
    """Another writer already wrote this revision of the journal."""


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
        return f"{self.prefix}{run_id}/"

    def revision_key(self, run_id: str, revision: int) -> str:
        return f"{self.run_prefix(run_id)}journal-{revision:08d}.json"


class S3JournalStore:
    """Revisions of run journals under one JournalLocation."""

    def __init__(self, s3: Any, location: JournalLocation) -> None:
        self.s3 = s3
        self.location = location

    def put(self, run_id: str, revision: int, document: dict[str, Any]) -> None:
        """Create revision `revision`; JournalConflict when it already exists."""
        body = json.dumps(document, indent=1, sort_keys=True).encode()
        key = self.location.revision_key(run_id, revision)
        try:
            call_with_backoff(lambda: self.s3.put_object(
                Bucket=self.location.bucket, Key=key, Body=body, IfNoneMatch="*",
                ContentType="application/json"))
        except ClientError as error:
            if error_code(error) in ("PreconditionFailed", "ConditionalRequestConflict"):
                raise JournalConflict(f"{self.location.uri}{run_id}: revision {revision} "
                                      "already written by another writer") from error
            raise

    def latest(self, run_id: str) -> tuple[int, dict[str, Any]] | None:
        """The newest revision of a run's journal, None when there is none."""
        revisions = self._revisions(run_id)
        if not revisions:
            return None
        revision = max(revisions)
        key = self.location.revision_key(run_id, revision)
        obj = call_with_backoff(lambda: self.s3.get_object(Bucket=self.location.bucket,
                                                           Key=key))
        return revision, dict(json.loads(obj["Body"].read()))

    def run_ids(self) -> list[str]:
        """Every run with a journal under the location."""
        found: list[str] = []
        request = {"Bucket": self.location.bucket, "Prefix": self.location.prefix,
                   "Delimiter": "/"}
        for page in self._pages(request):
            found.extend(item["Prefix"][len(self.location.prefix):].rstrip("/")
                         for item in page.get("CommonPrefixes", []))
        return sorted(found)

    def _revisions(self, run_id: str) -> list[int]:
        request = {"Bucket": self.location.bucket, "Prefix": self.location.run_prefix(run_id)}
        revisions = []
        for page in self._pages(request):
            for item in page.get("Contents", []):
                match = _REVISION.search(item["Key"])
                if match:
                    revisions.append(int(match.group(1)))
        return revisions

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
