"""The one way a run starts: prepare → arrange the janitor → confirm → execute.

`gameday run`, `gameday plan`, `run_experiment` and the pytest plugin all go through
`start_run`; the steps stay in this order whoever calls them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from chaos.experiment import Experiment
from chaos.run.context import PlannedFault, RunContext, RunOptions, RunOutcome
from chaos.run.lifecycle import execute
from chaos.run.preflight import arrange, confirm_mutation, prepare_run


@dataclass
class Run:
    """A prepared run (nothing changed yet): its context and the changes it plans."""

    context: RunContext
    planned: list[PlannedFault]
    confirmed: bool = False

    def confirm(self) -> None:
        """Settle the janitor (refused without one), then ask; once per run."""
        if self.confirmed:
            return
        arrange(self.context, self.planned)
        confirm_mutation(self.context, self.planned)
        self.confirmed = True

    def execute(self) -> RunOutcome:
        """Confirm (unless done), then run the phases and restore; see lifecycle.execute."""
        self.confirm()
        return execute(self.context, self.planned)


@contextmanager
def start_run(experiment: Experiment, path: Path, options: RunOptions) -> Iterator[Run]:
    """The prepared run of `experiment` (read at `path`); the target is closed on exit.

    Raises PreflightRefused (nothing changed) when the run cannot be made safely.
    """
    context, planned = prepare_run(experiment, path, options)
    try:
        yield Run(context, planned)
    finally:
        context.target.close()


def run_experiment(experiment: Experiment, path: Path, options: RunOptions) -> RunOutcome:
    """Run `experiment` from preflight to result."""
    with start_run(experiment, path, options) as run:
        return run.execute()
