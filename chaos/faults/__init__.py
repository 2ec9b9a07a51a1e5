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
from chaos.faults.lambda_extension import LambdaExtensionFault

FAULT_KINDS: dict[str, type[FaultKind]] = {
    LambdaExtensionFault.type_name: LambdaExtensionFault,
    AzLossFault.type_name: AzLossFault,
}


def fault_kind(type_name: str) -> type[FaultKind]:
    """The kind that restores a journal entry of `type_name`: a fault's or, restored the
    same way though it is no fault, the janitor schedule a run creates."""
    if type_name in FAULT_KINDS:
        return FAULT_KINDS[type_name]
    from chaos.janitor.schedule import TYPE_NAME, JanitorScheduleKind  # builds on this package

    if type_name == TYPE_NAME:
        return JanitorScheduleKind
    raise KeyError(type_name)


__all__ = [
    "FAULT_KINDS",
    "AzLossFault",
    "LOCK_TAG_KEY",
    "FaultContext",
    "FaultKind",
    "LambdaExtensionFault",
    "PlannedChange",
    "RestoreOutcome",
    "fault_kind",
]
