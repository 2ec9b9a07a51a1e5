"""The phases of a run, in order, and the segments its measurement is split into."""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["OUTSIDE_SEGMENTS", "PHASES", "SEGMENTS", "TRANSITION", "Phase"]

Phase = Literal["baseline", "fault", "recovery"]
PHASES: tuple[Phase, ...] = get_args(Phase)
#: The seconds between the start of a change and the moment it is in force (injection,
#: restore): they count in no phase.
TRANSITION = "transition"
#: Run segments, in time order: each phase, with the transitions between them.
SEGMENTS: tuple[str, ...] = (PHASES[0], TRANSITION, *PHASES[1:])
#: Where a worker's requests outside every segment count (ramp-up, after the run).
OUTSIDE_SEGMENTS = "outside"
