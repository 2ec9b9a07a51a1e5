"""The janitor's schedule is restored (deleted) last, and only once every fault is back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chaos.faults import RestoreOutcome
from chaos.journal import Journal, JournalEntry
from chaos.run import restore as rollback
from chaos.run.restorers import RESTORE_ONLY_KINDS

SCHEDULE_KIND = next(iter(RESTORE_ONLY_KINDS))


def journal_with(tmp_path: Path) -> Journal:
    journal = Journal.create(
        tmp_path / "run",
        run_id="run-1",
        experiment_name="x",
        experiment_path="x.yaml",
        region="us-east-1",
        endpoint_url=None,
        profile=None,
        account_id="123456789012",
    )
    journal.record(
        JournalEntry(
            "schedule",
            SCHEDULE_KIND,
            "schedule gameday-run-1",
            "arn:schedule",
            {},
            {},
            status="applied",
        )
    )
    journal.record(
        JournalEntry("fault", "lambda-extension", "orders", "arn:fn", {}, {}, status="applied")
    )
    return journal


class Kinds:
    def __init__(self, fault_fails: bool) -> None:
        self.fault_fails = fault_fails
        self.order: list[str] = []

    def __call__(self, type_name: str) -> Any:
        kinds = self

        class Kind:
            @classmethod
            def restore(cls, entry: JournalEntry, *_: Any) -> RestoreOutcome:
                kinds.order.append(entry.entry_id)
                if entry.entry_id == "fault" and kinds.fault_fails:
                    raise RuntimeError("AWS said no")
                return RestoreOutcome("restored")

            @classmethod
            def locked_resources(cls, entry: JournalEntry) -> list[Any]:
                return []

        return Kind


@pytest.mark.parametrize("fault_fails", [False, True])
def test_the_schedule_goes_last_and_stays_while_a_fault_is_left(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault_fails: bool
) -> None:
    kinds = Kinds(fault_fails)
    monkeypatch.setattr(rollback, "fault_kind", kinds)
    journal = journal_with(tmp_path)
    rollback.restore_journal(journal, clients=object())  # type: ignore[arg-type]
    schedule = next(entry for entry in journal.entries if entry.entry_id == "schedule")
    if fault_fails:
        assert kinds.order == ["fault"] and schedule.needs_restore  # the janitor stays armed
    else:
        assert kinds.order == ["fault", "schedule"] and schedule.status == "restored"
