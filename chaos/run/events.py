"""Named extension points of a run (phase changed, fault applied/restored, stop tripped).

Listeners' exceptions are logged, never allowed to break the run: a reporter bug
must not stop a restore.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


class EventHook:
    def __init__(self, name: str) -> None:
        self.name = name
        self._listeners: list[Callable[..., None]] = []

    def add_listener(self, listener: Callable[..., None]) -> Callable[..., None]:
        self._listeners.append(listener)
        return listener

    def fire(self, **payload: Any) -> None:
        for listener in list(self._listeners):
            try:
                listener(**payload)
            except Exception:  # noqa: BLE001 - see module docstring
                log.exception("listener of %s failed", self.name)


@dataclass
class RunEvents:
    phase_started: EventHook = field(default_factory=lambda: EventHook("phase_started"))
    fault_applied: EventHook = field(default_factory=lambda: EventHook("fault_applied"))
    fault_restored: EventHook = field(default_factory=lambda: EventHook("fault_restored"))
    stop_requested: EventHook = field(default_factory=lambda: EventHook("stop_requested"))
    message: EventHook = field(default_factory=lambda: EventHook("message"))
    row_received: EventHook = field(default_factory=lambda: EventHook("row_received"))
