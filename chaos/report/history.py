"""report.html's history section: the experiment's last runs on this target, this one marked.

Rendering only: the rows come from ``result["history"]`` (written by the run from its
history, see `chaos.run.history`). One table (a row per run: when, outcome, each check's
value, interval and verdict) and one small inline SVG chart of the first check that has a
value, with its interval as a whisker and this run drawn apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from chaos.verdict.slo import format_value

__all__ = ["history_html"]

WIDTH, HEIGHT = 560, 170
LEFT, RIGHT, TOP, BOTTOM = 60, 16, 26, 30
CURRENT_COLOR, OTHER_COLOR = "#b3261e", "#3b6ea5"


def history_html(result: Mapping[str, Any]) -> str | None:
    """The section's body, or None when the result has no history (e.g. re-rendered old)."""
    history = result.get("history")
    if not isinstance(history, Mapping):
        return None
    runs = [run for run in history.get("runs") or [] if isinstance(run, Mapping)]
    if not runs:
        return None
    chart = _chart(runs)
    note = (
        '<p class="legend-note">This run is marked ▶ (red in the chart); whiskers: the '
        "check's interval. Earlier runs of the same experiment on the same target (account, "
        "region, endpoint, fault targets).</p>"
    )
    return _table(runs) + (chart or "") + note


def _label(check: Mapping[str, Any]) -> str:
    sli = str(check.get("sli"))
    return f"{sli} ({check['phase']})" if check.get("phase") else sli


def _figure(check: Mapping[str, Any]) -> str:
    sli = str(check.get("sli"))
    text = format_value(sli, check.get("observed"))
    interval = check.get("interval")
    if isinstance(interval, Sequence) and len(interval) == 2:
        low = "−∞" if interval[0] is None else format_value(sli, interval[0])
        high = "∞" if interval[1] is None else format_value(sli, interval[1])
        text += f" [{low}, {high}]"
    if check.get("verdict"):
        text += f" {check['verdict']}"
    return text


def _table(runs: list[Mapping[str, Any]]) -> str:
    labels: list[str] = []
    for run in runs:
        for check in run.get("checks") or []:
            if _label(check) not in labels:
                labels.append(_label(check))
    head = "".join(f"<th>{escape(text)}</th>" for text in ["", "ended", "outcome", *labels])
    rows = []
    for run in runs:
        by_label = {_label(check): _figure(check) for check in run.get("checks") or []}
        current = bool(run.get("current"))
        cells = [
            "▶" if current else "",
            str(run.get("ended_at") or ""),
            str(run.get("outcome") or ""),
            *(by_label.get(label, "") for label in labels),
        ]
        style = ' style="font-weight:700"' if current else ""
        mark = "fail" if run.get("outcome") != "passed" else "pass"
        rows.append(
            f'<tr class="{mark}{" current" if current else ""}"{style}>'
            + "".join(f"<td>{escape(cell)}</td>" for cell in cells)
            + "</tr>"
        )
    return (
        f'<table id="history-table"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _chart(runs: list[Mapping[str, Any]]) -> str | None:
    """Points (with interval whiskers) of the first check that has a value in some run."""
    label = next(
        (
            _label(check)
            for run in runs
            for check in run.get("checks") or []
            if _number(check.get("observed")) is not None
        ),
        None,
    )
    if label is None:
        return None
    points: list[tuple[int, float, float | None, float | None, bool, str]] = []
    for index, run in enumerate(runs):
        check = next((c for c in run.get("checks") or [] if _label(c) == label), None)
        value = _number(check.get("observed")) if check else None
        if check is None or value is None:
            continue
        interval = check.get("interval") or (None, None)
        points.append(
            (
                index,
                value,
                _number(interval[0]),
                _number(interval[1]),
                bool(run.get("current")),
                str(run.get("run_id") or ""),
            )
        )
    numbers = [n for p in points for n in (p[1], p[2], p[3]) if n is not None]
    low, high = min(numbers + [0.0]), max(numbers)
    span = (high - low) or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(index: int) -> float:
        return LEFT + plot_w * (index + 0.5) / len(runs)

    def y(value: float) -> float:
        return TOP + plot_h * (1 - (value - low) / span)

    parts = [
        f'<text class="chart-title" x="{LEFT}" y="16">{escape(label)}</text>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - RIGHT}" '
        f'y2="{TOP + plot_h}"/>',
        f'<text x="{LEFT - 6}" y="{y(high) + 4:.1f}" text-anchor="end">'
        f"{escape(format_value(label.split(' ')[0], high))}</text>",
        f'<text x="{LEFT - 6}" y="{y(low) + 4:.1f}" text-anchor="end">'
        f"{escape(format_value(label.split(' ')[0], low))}</text>",
    ]
    for index, value, bottom, top, current, run_id in points:
        color = CURRENT_COLOR if current else OTHER_COLOR
        if bottom is not None or top is not None:
            y_top = y(top) if top is not None else TOP
            y_bottom = y(bottom) if bottom is not None else TOP + plot_h
            parts.append(
                f'<line x1="{x(index):.1f}" y1="{y_top:.1f}" x2="{x(index):.1f}" '
                f'y2="{y_bottom:.1f}" stroke="{color}" stroke-width="1.5"/>'
            )
        radius = 5 if current else 3.5
        parts.append(
            f'<circle cx="{x(index):.1f}" cy="{y(value):.1f}" r="{radius}" '
            f'fill="{color}"><title>{escape(run_id)}</title></circle>'
        )
    return (
        f'<svg class="chart" id="history-chart" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{escape(label)} per run">{"".join(parts)}</svg>'
    )
