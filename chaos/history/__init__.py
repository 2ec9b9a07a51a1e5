"""Run history: each run's SLIs, verdicts and per-second evidence, kept by experiment and
target (locally and beside the S3 journal) for `previous` objectives and the trend."""

from __future__ import annotations

from chaos.history.errors import HistoryConflict, HistoryWriteUnsupported
from chaos.history.key import history_key, key_digest, target_names
from chaos.history.record import RECORD_FORMAT, entry_from_record, history_record
from chaos.history.run_history import PreviousReference, RunHistory
from chaos.history.store import (
    HistoryLocation,
    HistoryStore,
    LocalHistoryStore,
    S3HistoryStore,
    history_location,
)
from chaos.history.trend import trend_lines, trend_rows

__all__ = [
    "RECORD_FORMAT",
    "HistoryConflict",
    "HistoryLocation",
    "HistoryStore",
    "HistoryWriteUnsupported",
    "LocalHistoryStore",
    "PreviousReference",
    "RunHistory",
    "S3HistoryStore",
    "entry_from_record",
    "history_key",
    "history_location",
    "history_record",
    "key_digest",
    "target_names",
    "trend_lines",
    "trend_rows",
]
