"""Where history records live: under ``$GAMEDAY_HOME/history/`` and beside the S3 journal.

A record is written once and never replaced: locally by creating its file exclusively (a
hard link of a fully written temporary file, which fails when the name exists), in S3 with
a conditional write (``If-None-Match: *``: "Add preconditions to S3 operations with
conditional requests", https://docs.aws.amazon.com/AmazonS3/latest/userguide/
conditional-requests.html), so a run id is recorded once and two writers never overwrite
each other.

In S3 the history sits **beside** the journals, never among them: for journals under
``s3://BUCKET/runs/`` the history is ``s3://BUCKET/runs.history/``. A dot cannot start or
appear in a run id, so even a journal prefix at the bucket's root (``.history/``) never
lists the history as a run; and a janitor whose policy covers ``runs/*`` cannot read it.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaos.aws.retry import call_with_backoff
from chaos.files import PRIVATE
from chaos.history.errors import HistoryConflict, HistoryWriteUnsupported
from chaos.history.key import key_digest
from chaos.history.record import record_key
from chaos.journal.model import gameday_home
from chaos.journal.s3 import (
    ConditionalWritesUnsupported,
    JournalLocation,
    ObjectExists,
    create_object_once,
    is_valid_run_id,
)
from chaos.verdict.history import HistoryKey

__all__ = [
    "HISTORY_SUFFIX",
    "RECENT_RECORDS",
    "HistoryLocation",
    "HistoryStore",
    "LocalHistoryStore",
    "S3HistoryStore",
    "history_location",
    "local_history_dir",
]

log = logging.getLogger(__name__)

HISTORY_SUFFIX = ".history"
#: The most recent records read per key and store (a trend and a pool need far fewer).
RECENT_RECORDS = 50
_MAX_PAGES = 100


class HistoryStore(ABC):
    """Records of the runs of one key, oldest first, written once each."""

    @abstractmethod
    def append(self, key: HistoryKey, record: dict[str, Any]) -> None:
        """Write the record of a new run; HistoryConflict when its run id is recorded."""

    @abstractmethod
    def records(self, key: HistoryKey, limit: int = RECENT_RECORDS) -> list[Any]:
        """The `limit` most recent records of `key` as stored (parse them before use)."""

    @property
    @abstractmethod
    def where(self) -> str:
        """Where the records live, for messages."""


def local_history_dir() -> Path:
    return gameday_home() / "history"


def _record_name(run_id: str) -> str:
    if not is_valid_run_id(run_id):
        raise ValueError(f"{run_id!r} is not a run id")
    return f"{run_id}.json"  # run ids start with their UTC start: names sort by time


class LocalHistoryStore(HistoryStore):
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or local_history_dir()

    @property
    def where(self) -> str:
        return str(self.root)

    def append(self, key: HistoryKey, record: dict[str, Any]) -> None:
        path = self.root / key_digest(key) / _record_name(str(record["run_id"]))
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            os.fchmod(fd, PRIVATE)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record, handle, indent=1, sort_keys=True)
                handle.flush()
                os.fsync(handle.fileno())
            os.link(temp_name, path)  # fails if the name exists: never replaces a record
        except FileExistsError as error:
            raise HistoryConflict(f"{path}: this run is already recorded") from error
        finally:
            Path(temp_name).unlink(missing_ok=True)

    def records(self, key: HistoryKey, limit: int = RECENT_RECORDS) -> list[Any]:
        folder = self.root / key_digest(key)
        return self.records_in(folder, limit) if folder.is_dir() else []

    def recorded_keys(self) -> list[HistoryKey]:
        """The keys with records here (a folder counts when a record in it states the key
        the folder is named for)."""
        found = []
        for folder in sorted(path for path in self.root.glob("*") if path.is_dir()):
            for record in self.records_in(folder):
                try:
                    key = record_key(record)
                except ValueError:
                    continue
                if key_digest(key) == folder.name:
                    found.append(key)
                    break
        return found

    def records_in(self, folder: Path, limit: int = RECENT_RECORDS) -> list[Any]:
        found = []
        for path in sorted(folder.glob("*.json"))[-limit:]:
            try:
                found.append(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError) as error:
                log.warning("history: %s is not readable JSON (%s); skipped", path, error)
        return found


@dataclass(frozen=True)
class HistoryLocation:
    bucket: str
    prefix: str  # ends with "/"

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def history_location(journal: JournalLocation) -> HistoryLocation:
    """The history's prefix beside the journals' (``runs/`` -> ``runs.history/``)."""
    base = journal.prefix.rstrip("/")
    return HistoryLocation(journal.bucket, f"{base}{HISTORY_SUFFIX}/")


class S3HistoryStore(HistoryStore):
    """Records beside the S3 journal, in the target account (`expected_owner` checked)."""

    def __init__(
        self, s3: Any, location: HistoryLocation, expected_owner: str | None = None
    ) -> None:
        self.s3 = s3
        self.location = location
        self.expected_owner = expected_owner

    @property
    def where(self) -> str:
        return self.location.uri

    def _owner(self) -> dict[str, str]:
        return {"ExpectedBucketOwner": self.expected_owner} if self.expected_owner else {}

    def _prefix(self, key: HistoryKey) -> str:
        return f"{self.location.prefix}{key_digest(key)}/"

    def append(self, key: HistoryKey, record: dict[str, Any]) -> None:
        object_key = self._prefix(key) + _record_name(str(record["run_id"]))
        body = json.dumps(record, sort_keys=True).encode()
        try:
            create_object_once(self.s3, self.location.bucket, object_key, body, self.expected_owner)
        except ConditionalWritesUnsupported as error:
            raise HistoryWriteUnsupported(
                f"{self.where}: {error}; the history was not written"
            ) from error
        except ObjectExists as error:
            raise HistoryConflict(
                f"{self.where}{object_key}: this run is already recorded"
            ) from error

    def records(self, key: HistoryKey, limit: int = RECENT_RECORDS) -> list[Any]:
        names: list[str] = []
        request = {"Bucket": self.location.bucket, "Prefix": self._prefix(key), **self._owner()}
        for _ in range(_MAX_PAGES):
            page = call_with_backoff(lambda: self.s3.list_objects_v2(**request))
            names.extend(
                item["Key"] for item in page.get("Contents", []) if item["Key"].endswith(".json")
            )
            if not page.get("IsTruncated"):
                break
            request["ContinuationToken"] = page["NextContinuationToken"]
        found = []
        for name in sorted(names)[-limit:]:
            try:
                found.append(json.loads(self._read(name)))
            except ValueError as error:
                log.warning("history: %s%s is not JSON (%s); skipped", self.where, name, error)
        return found

    def _read(self, object_key: str) -> bytes:
        answer = call_with_backoff(
            lambda: self.s3.get_object(Bucket=self.location.bucket, Key=object_key, **self._owner())
        )
        return bytes(answer["Body"].read())
