"""`previous` references: the same experiment's recent passing runs on the same target.

A run's history entry is keyed by the experiment and the target — account, region,
endpoint and the names of what its faults act on — never by the code, which is what
changes between the releases a gate compares. Only runs that **passed** serve as a
reference (an aborted or failed run, or one on another target, never does), the most
recent `RECENT_RUNS` of them are pooled second by second, and fewer than
`MINIMUM_PREVIOUS_RUNS` make a `previous` check inconclusive (never passed).

Reading and writing the history (local under `.gameday/`, beside the S3 journal with
conditional writes) is the wiring's job; this module only chooses and pools.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from chaos.verdict.model import CheckVerdict, Comparator
from chaos.verdict.sample import PhaseSample

__all__ = [
    "MINIMUM_PREVIOUS_RUNS",
    "RECENT_RUNS",
    "HistoryEntry",
    "HistoryKey",
    "no_reference",
    "previous_reference",
]

MINIMUM_PREVIOUS_RUNS = 3
RECENT_RUNS = 5


@dataclass(frozen=True)
class HistoryKey:
    """What makes two runs comparable: the experiment on the same target."""

    experiment: str
    account_id: str | None
    region: str
    endpoint: str
    targets: tuple[str, ...]  # sorted names/ARNs the faults act on

    def as_text(self) -> str:
        """A stable string for file and S3 key names (hash it for the prefix)."""
        return "|".join(
            [
                self.experiment,
                self.account_id or "-",
                self.region,
                self.endpoint,
                ",".join(sorted(self.targets)),
            ]
        )


@dataclass(frozen=True)
class HistoryEntry:
    run_id: str
    key: HistoryKey
    outcome: str  # passed | failed | aborted | error
    ended_at: str  # ISO 8601 UTC: orders the runs
    phases: Mapping[str, PhaseSample]


def previous_reference(
    history: Iterable[HistoryEntry],
    key: HistoryKey,
    phase: str,
    current_run_id: str,
    minimum: int = MINIMUM_PREVIOUS_RUNS,
    recent: int = RECENT_RUNS,
) -> tuple[PhaseSample | None, list[str], str | None]:
    """(pooled sample, the run ids pooled, why not) for `phase` of the earlier passing runs."""
    eligible = sorted(
        (
            entry
            for entry in history
            if entry.key == key
            and entry.outcome == "passed"
            and entry.run_id != current_run_id
            and phase in entry.phases
            and entry.phases[phase].total_requests > 0
        ),
        key=lambda entry: entry.ended_at,
        reverse=True,
    )[:recent]
    if len(eligible) < minimum:
        return (
            None,
            [entry.run_id for entry in eligible],
            (
                f"inconclusive: {len(eligible)} earlier passing run(s) of {key.experiment} on this "
                f"target with requests in phase {phase}, {minimum} needed"
            ),
        )
    return (
        PhaseSample.pooled([entry.phases[phase] for entry in eligible]),
        [entry.run_id for entry in eligible],
        None,
    )


def no_reference(reason: str, comparator: Comparator, threshold: float) -> CheckVerdict:
    """An inconclusive check for want of earlier runs (the gate's rule decides its exit code)."""
    return CheckVerdict("inconclusive", None, None, threshold, comparator, note=reason)
