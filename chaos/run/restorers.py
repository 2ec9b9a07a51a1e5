"""What restores a journal entry: the fault kinds, and the changes a run journals besides
its faults' (the janitor's timer), restored the same way."""

from __future__ import annotations

from chaos.faults import FAULT_KINDS, FaultKind
from chaos.janitor.timer_change import JanitorScheduleKind

__all__ = ["RESTORE_ONLY_KINDS", "fault_kind"]

#: Changes a run journals besides its faults', restored the same way: the janitor's timer.
RESTORE_ONLY_KINDS: dict[str, type[FaultKind]] = {
    JanitorScheduleKind.type_name: JanitorScheduleKind,
}


def fault_kind(type_name: str) -> type[FaultKind]:
    """The kind that restores a journal entry of `type_name`."""
    return FAULT_KINDS.get(type_name) or RESTORE_ONLY_KINDS[type_name]
