"""What one run carries through its lifecycle: its options, context, planned faults, outcome.

Imports only the vocabulary and the packages below the run (experiment, faults, journal,
metrics, load, janitor) and the run's own small pieces (target, stop signal, events): every
step of the run takes a `RunContext`, none of what it takes imports the steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.experiment import Experiment
from chaos.faults import FaultContext, FaultKind, PlannedChange
from chaos.janitor.arming import JanitorArrangement, no_janitor_from_env
from chaos.journal import Journal
from chaos.load.session import LoadSession
from chaos.metrics.aggregate import RunAggregator
from chaos.metrics.rows import SecondRow
from chaos.run.events import RunEvents
from chaos.run.stop import StopSignal
from chaos.run.target import ResolvedTarget


@dataclass
class RunOptions:
    sandbox: bool = False
    report_dir: Path | None = None
    assume_yes: bool = False
    profile: str | None = None
    confirm: Callable[[str], bool] | None = None
    journal: str | None = None  # s3://BUCKET/PREFIX: the journal also in the target account
    # No janitor schedule (nothing restores a dead run by itself); GAMEDAY_NO_JANITOR=1 too.
    no_janitor: bool = field(default_factory=no_janitor_from_env)


@dataclass
class RunOutcome:
    run_id: str
    outcome: str
    exit_code: int
    result: dict[str, Any]
    result_path: Path
    journal_path: Path


@dataclass
class PlannedFault:
    kind: FaultKind
    changes: list[PlannedChange]


@dataclass
class RunContext:
    """Everything one run carries through its lifecycle."""

    experiment: Experiment
    experiment_path: Path
    options: RunOptions
    run_id: str
    target: ResolvedTarget
    stop: StopSignal
    events: RunEvents = field(default_factory=RunEvents)
    journal: Journal | None = None
    phase_times: dict[str, dict[str, str]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    aggregator: RunAggregator = field(default_factory=RunAggregator)
    load: LoadSession | None = None
    fault_context: FaultContext | None = None  # shared by the faults; set by plan_faults
    # Who restores the run if it dies; set once, before the confirmation (preflight.arrange).
    janitor: JanitorArrangement | None = None
    # Where the journal is kept in S3 (s3://BUCKET/PREFIX; None: locally only), resolved
    # with the janitor: the location the janitor reads, else --journal.
    journal_location: str | None = None

    def receive_row(self, row: SecondRow) -> None:
        """A live per-second row from the load (called from the load's reader thread).

        Folded into the aggregation at once: no row is kept.
        """
        self.aggregator.add(row)
        self.events.row_received.fire(row=row)
