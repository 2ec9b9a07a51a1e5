"""The run's side of the history: `previous` evidence for judging, and its own record.

`ExperimentHistory.for_run` binds the history stores (local, and S3 beside the journal when
the run keeps one there) to this run's key and run id. Judging calls `previous(phase)` for
a `previous` objective (the pooled earlier passing runs, or why there are none); once the
result is assembled, `record(result)` appends the run's record and adds the trend the
report draws (`result["history"]`). A history that cannot be read or written never changes
the run's outcome: `previous` is then inconclusive with the reason, and the result notes
where the record could not be written.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chaos.errors import redact_aws_message
from chaos.history import (
    HistoryStore,
    LocalHistoryStore,
    PreviousReference,
    RunHistory,
    S3HistoryStore,
    history_key,
    history_location,
    history_record,
    trend_rows,
)
from chaos.history.key import key_to_dict
from chaos.journal import JournalLocation
from chaos.verdict.history import HistoryKey

if TYPE_CHECKING:
    from chaos.aws import AwsClients
    from chaos.experiment import Experiment

__all__ = ["ExperimentHistory"]

log = logging.getLogger(__name__)


@dataclass
class ExperimentHistory:
    """The history of one experiment on one target, as one run sees it."""

    history: RunHistory
    key: HistoryKey
    run_id: str
    _records: list[dict[str, Any]] | None = field(default=None, repr=False)
    _read_error: str | None = field(default=None, repr=False)

    @classmethod
    def for_run(
        cls,
        experiment: Experiment,
        run_id: str,
        account_id: str | None,
        clients: AwsClients,
        journal: str | None,
    ) -> ExperimentHistory:
        stores: list[HistoryStore] = [LocalHistoryStore()]
        if journal:
            location = history_location(JournalLocation.parse(journal))
            stores.append(S3HistoryStore(clients.client("s3"), location, account_id))
        return cls(RunHistory(stores), history_key(experiment, account_id), run_id)

    def previous(self, phase: str) -> PreviousReference:
        """The `previous` evidence of `phase` (inconclusive with a reason when there is none)."""
        records = self._earlier_records()
        if self._read_error is not None:
            return PreviousReference(None, [], f"inconclusive: {self._read_error}")
        reading = RunHistory([_Loaded(records)])
        return reading.reference_for(self.key, phase, self.run_id)

    def record(self, result: dict[str, Any]) -> None:
        """Append this run's record and put the recent trend in `result["history"]`."""
        record = history_record(result, self.key)
        notes: list[str] = result.setdefault("notes", [])
        written: list[str] = []
        for store in self.history.stores:
            try:
                RunHistory([store]).append(self.key, record)
                written.append(store.where)
            except Exception as error:  # noqa: BLE001 - the run's outcome stands regardless
                log.debug("history write failed", exc_info=True)
                notes.append(
                    f"history: this run was not recorded in {store.where} "
                    f"({type(error).__name__}: {redact_aws_message(str(error))})"
                )
        runs = [r for r in self._earlier_records() if r.get("run_id") != self.run_id]
        result["history"] = {
            "key": key_to_dict(self.key),
            "recorded_in": written,
            "runs": trend_rows([*runs, record], self.run_id),
        }

    def _earlier_records(self) -> list[dict[str, Any]]:
        if self._records is None:
            try:
                self._records = self.history.records(self.key)
            except Exception as error:  # noqa: BLE001 - e.g. no s3:GetObject on the prefix
                log.debug("history read failed", exc_info=True)
                self._read_error = (
                    "the history could not be read "
                    f"({type(error).__name__}: {redact_aws_message(str(error))})"
                )
                self._records = []
        return self._records


@dataclass
class _Loaded(HistoryStore):
    """Records already read (one read per run, however many phases are judged)."""

    loaded: list[dict[str, Any]]

    @property
    def where(self) -> str:
        return "the history read for this run"

    def append(self, key: HistoryKey, record: dict[str, Any]) -> None:
        raise NotImplementedError("read-only")

    def records(self, key: HistoryKey, limit: int = 0) -> list[Any]:
        return list(self.loaded)
