"""Fault kinds. Adding one = one module implementing FaultKind, registered here."""

from __future__ import annotations

from chaos.faults.az_loss import AzLossFault
from chaos.faults.base import (
    LOCK_TAG_KEY,
    FaultContext,
    FaultKind,
    PlannedChange,
    RestoreOutcome,
)
from chaos.faults.janitor_schedule import JanitorScheduleKind
from chaos.faults.lambda_extension import LambdaExtensionFault

FAULT_KINDS: dict[str, type[FaultKind]] = {
    LambdaExtensionFault.type_name: LambdaExtensionFault,
    AzLossFault.type_name: AzLossFault,
}
#: Changes a run journals besides its faults', restored the same way: the janitor's schedule.
RESTORE_ONLY_KINDS: dict[str, type[FaultKind]] = {
    JanitorScheduleKind.type_name: JanitorScheduleKind,
}


def fault_kind(type_name: str) -> type[FaultKind]:
    """The kind that restores a journal entry of `type_name`."""
    return FAULT_KINDS.get(type_name) or RESTORE_ONLY_KINDS[type_name]


__all__ = [
    "FAULT_KINDS",
    "AzLossFault",
    "LOCK_TAG_KEY",
    "FaultContext",
    "FaultKind",
    "JanitorScheduleKind",
    "LambdaExtensionFault",
    "PlannedChange",
    "RESTORE_ONLY_KINDS",
    "RestoreOutcome",
    "fault_kind",
]
