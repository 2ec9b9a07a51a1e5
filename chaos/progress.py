"""Terminal progress of a run: plain lines on stderr (CI-friendly)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chaos.run import RunContext


def attach_progress(context: RunContext) -> None:
    started = time.monotonic()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    phases = context.experiment.phases

    def on_phase(phase: str, **_: Any) -> None:
        say(f"phase {phase} ({getattr(phases, phase):g}s)")

    def on_applied(entry: Any, **_: Any) -> None:
        say(f"injected {entry.fault_type} on {entry.target}")

    def on_restored(entry: Any, **_: Any) -> None:
        say(f"restore {entry.fault_type} on {entry.target}: {entry.status}")

    context.events.phase_started.add_listener(on_phase)
    context.events.fault_applied.add_listener(on_applied)
    context.events.fault_restored.add_listener(on_restored)
    say(f"run {context.run_id} started (journal before every change)")
