"""The toy kind: plans one change per fault, journals it and changes nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chaos.aws.partition import arn
from chaos.faults.base import FaultKind, PlannedChange, RestoreOutcome
from chaos.journal import JournalEntry
from chaos.policy import PolicyStatement

if TYPE_CHECKING:
    from chaos.aws import AwsClients
    from chaos.journal import Journal
    from tests.integration.toy_kind.spec import ToyNoteSpec


class ToyNoteFault(FaultKind["ToyNoteSpec"]):
    type_name = "toy-note"

    @classmethod
    def spec_model(cls) -> type[ToyNoteSpec]:
        from tests.integration.toy_kind.spec import ToyNoteSpec

        return ToyNoteSpec

    def plan(self) -> list[PlannedChange]:
        region = self.context.clients.region
        function_arn = arn("lambda", region, "123456789012", f"function:{self.spec.function}")
        return [
            PlannedChange(
                self.type_name,
                f"lambda:{self.spec.function}",
                function_arn,
                [f"note {self.spec.note!r} on {self.spec.function}"],
                original={},
                intended={"note": self.spec.note},
            )
        ]

    def apply(self, change: PlannedChange, journal: Journal) -> JournalEntry:
        entry = JournalEntry(
            entry_id=f"{self.type_name}:{change.target_arn}",
            fault_type=self.type_name,
            target=change.target,
            target_arn=change.target_arn,
            original=change.original,
            intended=change.intended,
        )
        return self.journaled(journal, entry, lambda: None)

    @classmethod
    def required_permissions(
        cls, spec: Any, *, region: str, account_id: str, index: int
    ) -> list[PolicyStatement]:
        return [
            PolicyStatement(
                f"ToyNote{index}",
                ("lambda:GetFunction",),
                (arn("lambda", region, account_id, f"function:{spec.function}"),),
            )
        ]

    @classmethod
    def restore(cls, entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
        return RestoreOutcome("restored", "nothing to undo")
