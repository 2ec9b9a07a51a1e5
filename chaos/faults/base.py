"""The small interface every fault kind implements.

plan (read-only: resolve targets, refuse what is unsafe, describe the change) →
apply (journal first, then mutate) → restore (from the journal entry alone, so it
works after a crash, in another process).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from chaos.aws import AwsClients
    from chaos.journal import Journal, JournalEntry
    from chaos.policy import PolicyStatement

LOCK_TAG_KEY = "gameday:run-id"

RestoreStatus = Literal["restored", "drifted", "failed"]


@dataclass
class PlannedChange:
    """One change to one resource, as `gameday plan` shows it and the journal records it."""

    fault_type: str
    target: str
    target_arn: str
    summary: list[str]
    original: dict[str, Any]
    intended: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


@dataclass
class RestoreOutcome:
    status: RestoreStatus
    detail: str = ""


@dataclass
class FaultContext:
    """What a fault kind needs from the run: AWS access, identity and the fault's expiry."""

    clients: AwsClients
    run_id: str
    expires_at: float
    sandbox: bool = False


class FaultKind(ABC):
    """A fault type: one module under chaos/faults/, registered in chaos.faults."""

    type_name: ClassVar[str]

    def __init__(self, spec: Any, context: FaultContext) -> None:
        self.spec = spec
        self.context = context

    @abstractmethod
    def plan(self) -> list[PlannedChange]:
        """The changes this fault would make; read-only; raises PreflightRefused."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Side effects needed before any target changes (e.g. publishing a layer)."""

    @abstractmethod
    def apply(self, change: PlannedChange, journal: Journal) -> JournalEntry:
        """Journal `change`, then make it; returns the entry (status `applied`)."""

    @classmethod
    def required_permissions(
        cls, spec: Any, *, region: str, account_id: str, index: int
    ) -> list[PolicyStatement]:
        """The IAM statements plan, apply and restore of `spec` need (least privilege)."""
        raise NotImplementedError(f"{cls.type_name} does not declare its IAM permissions")

    @classmethod
    @abstractmethod
    def restore(cls, entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
        """Undo exactly what `entry` recorded, keeping other people's changes; idempotent."""
