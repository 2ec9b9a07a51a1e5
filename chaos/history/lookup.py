"""Which recorded histories belong to an experiment, and their trend (`gameday history`)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from chaos.history.key import history_key
from chaos.history.run_history import RunHistory
from chaos.history.store import HistoryStore, LocalHistoryStore
from chaos.history.trend import trend_lines
from chaos.verdict.history import HistoryKey

if TYPE_CHECKING:
    from chaos.experiment.model import Experiment

__all__ = ["describe_key", "experiment_keys", "history_report"]


def experiment_keys(
    experiment: Experiment, account_id: str | None, local: LocalHistoryStore
) -> list[HistoryKey]:
    """The experiment's key; without a known account, every account it was recorded in."""
    wanted = history_key(experiment, account_id)
    if wanted.account_id is not None:
        return [wanted]
    anywhere = replace(wanted, account_id=None)
    return [key for key in local.recorded_keys() if replace(key, account_id=None) == anywhere] or [
        wanted
    ]


def describe_key(key: HistoryKey) -> str:
    targets = ", ".join(key.targets) or "no fault targets"
    return (
        f"{key.experiment} on account {key.account_id or '?'}, {key.region}, "
        f"endpoint {key.endpoint or '?'} ({targets})"
    )


def history_report(
    experiment: Experiment,
    account_id: str | None,
    stores: list[HistoryStore],
    local: LocalHistoryStore,
) -> list[str]:
    """The trend lines of the experiment's runs, one block per key, oldest run first."""
    lines: list[str] = []
    for key in experiment_keys(experiment, account_id, local):
        history = RunHistory(stores)
        records = history.records(key)
        where = ", ".join(store.where for store in stores)
        lines.append(f"{describe_key(key)}: {len(records)} run(s) recorded in {where}")
        lines.extend(trend_lines(records))
        lines.extend(f"  skipped: {reason}" for reason in history.skipped)
    return lines
