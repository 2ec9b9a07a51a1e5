"""Feed rows through the streaming aggregation the way a run does, for tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from chaos.clock import iso_from_epoch
from chaos.metrics.aggregate import RunAggregator
from chaos.metrics.measurement import measure_load
from chaos.metrics.rows import SecondRow


def aggregate(
    rows: Iterable[SecondRow],
    windows: Mapping[str, tuple[float, float]],
    *,
    finalize_after_s: int = 2,
) -> RunAggregator:
    """An aggregator that saw `windows` marked (in time order, gaps unlabelled) and `rows`."""
    aggregator = RunAggregator(finalize_after_s=finalize_after_s)
    end: float | None = None
    for name, (start, stop) in sorted(windows.items(), key=lambda item: item[1][0]):
        if end is not None and start > end:
            aggregator.mark(None, end)
        aggregator.mark(name, start)
        end = stop
    for row in sorted(rows, key=lambda item: item.second):  # rows arrive in time order
        aggregator.add(row)
    aggregator.finish(end)
    return aggregator


def arriving(
    rows: Iterable[SecondRow], marks: Iterable[tuple[str | None, float] | list[Any]]
) -> RunAggregator:
    """Rows in the order given, each boundary of `marks` marked before the rows it splits
    (as the run marks a boundary before the rows of the seconds it splits arrive)."""
    aggregator = RunAggregator()
    pending = [tuple(mark) for mark in marks]
    for row in rows:
        while pending and pending[0][1] <= row.second + 1:
            label, at = pending.pop(0)
            aggregator.mark(label, at)
        aggregator.add(row)
    for label, at in pending:
        aggregator.mark(label, at)
    aggregator.finish()
    return aggregator


def phase_times(windows: Mapping[str, tuple[float, float]]) -> dict[str, dict[str, str]]:
    return {
        name: {"started_at": iso_from_epoch(start), "ended_at": iso_from_epoch(end)}
        for name, (start, end) in windows.items()
    }


def stream_measure(
    rows: Iterable[SecondRow], windows: Mapping[str, tuple[float, float]], **options: Any
) -> dict[str, Any]:
    """`measure_load` of the rows, as result.json would show it."""
    return measure_load(aggregate(rows, windows, **options), phase_times(windows))
