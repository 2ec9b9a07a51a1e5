"""Fault kinds. Adding one = one module implementing FaultKind, registered here."""

from __future__ import annotations

from chaos.faults.az_loss.kind import AzLossFault
from chaos.faults.base import (
    LOCK_TAG_KEY,
    FaultContext,
    FaultKind,
    PlannedChange,
    RestoreOutcome,
)
from chaos.faults.lambda_extension.kind import LambdaExtensionFault

FAULT_KINDS: dict[str, type[FaultKind]] = {
    LambdaExtensionFault.type_name: LambdaExtensionFault,
    AzLossFault.type_name: AzLossFault,
}


__all__ = [
    "FAULT_KINDS",
    "AzLossFault",
    "LOCK_TAG_KEY",
    "FaultContext",
    "FaultKind",
    "LambdaExtensionFault",
    "PlannedChange",
    "RestoreOutcome",
]
