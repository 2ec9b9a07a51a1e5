"""Fault kinds: the registry. Adding one = one folder under chaos/faults/ and one line here.

Derived from it: the experiment's `faults` union and its JSON Schema
(chaos.experiment.model), `gameday iam-policy` (chaos.run.permissions), the result's
evidence and `fault_effect` checks (chaos.result.assemble) and the run's kind hooks
(chaos.run.lifecycle). The janitor's timer is journaled and restored like a fault but is
none: it is registered for restore only (chaos.run.restorers).
"""

from __future__ import annotations

from collections.abc import Callable

from chaos.faults.az_loss.kind import AzLossFault
from chaos.faults.base import (
    LOCK_TAG_KEY,
    FaultContext,
    FaultKind,
    PlannedChange,
    PolicyInputs,
    RestoreOutcome,
)
from chaos.faults.lambda_extension.kind import LambdaExtensionFault

__all__ = [
    "FAULT_KINDS",
    "FAULT_TYPES",
    "LOCK_TAG_KEY",
    "AzLossFault",
    "FaultContext",
    "FaultKind",
    "LambdaExtensionFault",
    "PlannedChange",
    "PolicyInputs",
    "RestoreOutcome",
    "on_registry_change",
    "register",
    "unregister",
]

FAULT_KINDS: dict[str, type[FaultKind]] = {}
#: The registered `type` names, in registration order (a live view of FAULT_KINDS).
FAULT_TYPES = FAULT_KINDS.keys()
_listeners: list[Callable[[], None]] = []


def register(kind: type[FaultKind]) -> None:
    """Make `kind` a fault type of experiments (replacing one of the same `type_name`)."""
    FAULT_KINDS[kind.type_name] = kind
    _changed()


def unregister(type_name: str) -> None:
    """Remove a registered kind (a test's toy kind)."""
    del FAULT_KINDS[type_name]
    _changed()


def on_registry_change(listener: Callable[[], None]) -> None:
    """Call `listener` whenever a kind registers or unregisters (models derived from it)."""
    _listeners.append(listener)


def _changed() -> None:
    for listener in _listeners:
        listener()


register(LambdaExtensionFault)
register(AzLossFault)
