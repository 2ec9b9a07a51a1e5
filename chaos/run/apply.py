"""Applying the planned faults: every target in parallel, each change journaled first.

A tag selector can match dozens of functions; changed one after another, under AWS's
update times the first would be faulted minutes before the last. Changes run on a
bounded pool of threads. Changes to the same resource (a function targeted by a
`lambda-extension` fault and an `az-loss` pin) run one after another, in plan order,
so that no two updates of one resource race. AWS throttling is absorbed by the
backoff of every call (chaos.aws.retry).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaos.errors import ConfigurationError
from chaos.run.stop import StopRequested

if TYPE_CHECKING:
    from chaos.faults import FaultKind, PlannedChange
    from chaos.journal import Journal, JournalEntry
    from chaos.run.stop import StopSignal

__all__ = ["APPLY_CONCURRENCY_ENV", "AppliedChange", "apply_changes", "apply_concurrency"]

APPLY_CONCURRENCY_ENV = "GAMEDAY_APPLY_CONCURRENCY"
#: Changes in flight at once. Each spends most of its time waiting for its update to
#: complete (seconds in AWS); the API rate itself is paced per account by
#: chaos.aws.rate_limit, so this only bounds threads.
DEFAULT_CONCURRENCY = 64


@dataclass(frozen=True)
class AppliedChange:
    change: PlannedChange
    entry: JournalEntry


def apply_concurrency() -> int:
    raw = os.environ.get(APPLY_CONCURRENCY_ENV) or str(DEFAULT_CONCURRENCY)
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigurationError(f"{APPLY_CONCURRENCY_ENV}={raw!r}: expected a positive integer")
    return int(raw)


def apply_changes(
    changes: Sequence[tuple[FaultKind[object], PlannedChange]],
    journal: Journal,
    stop: StopSignal,
    on_applied: Callable[[AppliedChange], None],
    *,
    concurrency: int | None = None,
) -> list[AppliedChange]:
    """Apply every change (journal first, inside each fault kind); raise the first failure.

    A stop request keeps changes that have not started from starting; the ones in flight
    finish (each is journaled, so the restore that follows undoes them).
    """
    groups = _by_resource(changes)
    applied: list[AppliedChange] = []

    def apply_group(group: list[tuple[FaultKind[object], PlannedChange]]) -> None:
        for kind, change in group:
            if stop.reason is not None:  # the run's own thread reports the stop
                raise StopRequested(stop.reason)
            result = AppliedChange(change, kind.apply(change, journal))
            applied.append(result)
            on_applied(result)

    workers = max(1, min(concurrency or apply_concurrency(), len(groups)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="apply") as pool:
        futures = [pool.submit(apply_group, group) for group in groups]
    errors = [future.exception() for future in futures if future.exception() is not None]
    if errors:
        raise errors[0]  # type: ignore[misc]
    return applied


def _by_resource(
    changes: Sequence[tuple[FaultKind[object], PlannedChange]],
) -> list[list[tuple[FaultKind[object], PlannedChange]]]:
    groups: dict[str, list[tuple[FaultKind[object], PlannedChange]]] = {}
    for kind, change in changes:
        groups.setdefault(change.target_arn, []).append((kind, change))
    return list(groups.values())
