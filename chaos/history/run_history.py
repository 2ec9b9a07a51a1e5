"""The history of an experiment's runs on one target, across its stores.

`RunHistory` writes a run's record to every store (local, and S3 beside the journal when
the run keeps one) and reads them back merged by run id: a record is taken only when it
parses and states the key it was looked up under (a file copied into another key's folder
is not evidence about this target). `reference_for` is what judging calls for a `previous`
objective.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from chaos.history.record import entry_from_record
from chaos.history.store import HistoryStore
from chaos.verdict.history import HistoryEntry, HistoryKey, previous_reference
from chaos.verdict.sample import PhaseSample

__all__ = ["PreviousReference", "RunHistory"]

log = logging.getLogger(__name__)


class PreviousReference(NamedTuple):
    """The pooled earlier passing runs of a phase, or why there is none (then inconclusive).

    A tuple ``(sample, run_ids, reason)``, as `chaos.verdict.slo.PreviousFor` returns it."""

    sample: PhaseSample | None
    run_ids: list[str]
    reason: str | None


@dataclass
class RunHistory:
    stores: Sequence[HistoryStore]
    skipped: list[str] = field(default_factory=list)  # why records were not used

    def append(self, key: HistoryKey, record: dict[str, Any]) -> list[str]:
        """Write `record` to every store; the stores it went to (errors are raised after
        every store was tried)."""
        written: list[str] = []
        failure: Exception | None = None
        for store in self.stores:
            try:
                store.append(key, record)
                written.append(store.where)
            except Exception as error:  # noqa: BLE001 - the other stores still get it
                log.debug("history write to %s failed", store.where, exc_info=True)
                failure = failure or error
        if failure is not None:
            raise failure
        return written

    def records(self, key: HistoryKey) -> list[dict[str, Any]]:
        """Valid records of `key`, one per run id, oldest first (by `ended_at`)."""
        by_run: dict[str, dict[str, Any]] = {}
        for store in self.stores:
            for record in store.records(key):
                try:
                    entry = entry_from_record(record)
                except ValueError as error:
                    self._skip(f"{store.where}: a malformed record ({error})")
                    continue
                if entry.key != key:
                    self._skip(f"{store.where}: record of run {entry.run_id} states another key")
                    continue
                by_run.setdefault(entry.run_id, record)
        return sorted(by_run.values(), key=lambda record: str(record["ended_at"]))

    def entries(self, key: HistoryKey) -> list[HistoryEntry]:
        return [entry_from_record(record) for record in self.records(key)]

    def reference_for(self, key: HistoryKey, phase: str, current_run_id: str) -> PreviousReference:
        """`previous` evidence of `phase`: ≥ 3 earlier passing runs of `key`, pooled."""
        sample, run_ids, reason = previous_reference(self.entries(key), key, phase, current_run_id)
        return PreviousReference(sample, run_ids, reason)

    def _skip(self, reason: str) -> None:
        log.warning("history: %s; skipped", reason)
        self.skipped.append(reason)
