"""Inline SVG time-series charts for report.html: no script, no network, escaped text.

Every chart shares the run's time axis, shades the phases and marks each fault's
injection (solid) and restore (dashed); hovering a second shows its numbers (SVG titles).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from chaos.clock import epoch_seconds

__all__ = ["ChartSpec", "Series", "TimeAxis", "render_chart", "run_charts", "time_axis"]

WIDTH, HEIGHT = 1120, 230
LEFT, RIGHT, TOP, BOTTOM = 64, 28, 30, 34
PHASE_FILLS = {"baseline": "#e8f1fb", "fault": "#fdecea", "recovery": "#e9f7ef"}
PHASE_DEFAULT_FILL = "#f1f1f1"
INJECT_COLOR, RESTORE_COLOR = "#b3261e", "#1e7d32"
_MAX_HOVER_COLUMNS = 3600


@dataclass(frozen=True)
class Series:
    label: str
    color: str
    values: list[float | None]  # one per timeline second
    dashed: bool = False


@dataclass(frozen=True)
class ChartSpec:
    chart_id: str
    title: str
    unit: str
    series: list[Series]


@dataclass(frozen=True)
class Marker:
    epoch_s: float
    label: str
    title: str
    restore: bool
    lane: int


@dataclass(frozen=True)
class TimeAxis:
    """The x axis shared by all charts: epoch seconds mapped onto the plot width."""

    start: float
    end: float
    seconds: list[int]
    phases: list[tuple[str, float, float]]
    markers: list[Marker]

    def x(self, epoch_s: float) -> float:
        span = max(self.end - self.start, 1.0)
        return LEFT + (epoch_s - self.start) / span * (WIDTH - LEFT - RIGHT)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def _epoch(text: Any) -> float | None:
    if not text:
        return None
    try:
        return epoch_seconds(str(text))
    except ValueError:
        return None


def time_axis(result: Mapping[str, Any]) -> TimeAxis:
    seconds = [int(row["second"]) for row in result.get("timeline") or [] if "second" in row]
    phases: list[tuple[str, float, float]] = []
    for name, slis in (result.get("phases") or {}).items():
        if not isinstance(slis, Mapping):
            continue
        start, end = _epoch(slis.get("started_at")), _epoch(slis.get("ended_at"))
        if start is not None and end is not None:
            phases.append((str(name), start, end))
    markers = fault_markers(result)
    bounds = [float(s) for s in seconds] + [float(s) + 1 for s in seconds]
    bounds += [edge for _, start, end in phases for edge in (start, end)]
    bounds += [marker.epoch_s for marker in markers]
    if not bounds:
        bounds = [0.0, 1.0]
    return TimeAxis(min(bounds), max(bounds), seconds, phases, markers)


def fault_markers(result: Mapping[str, Any]) -> list[Marker]:
    markers = []
    for index, fault in enumerate(result.get("faults") or []):
        name = f"F{index + 1}"
        what = f"{fault.get('type')} on {fault.get('target')}"
        injected, restored = _epoch(fault.get("injected_at")), _epoch(fault.get("restored_at"))
        if injected is not None:
            markers.append(
                Marker(
                    injected,
                    name,
                    f"{name} injected: {what} at {fault.get('injected_at')}",
                    False,
                    index,
                )
            )
        if restored is not None:
            markers.append(
                Marker(
                    restored,
                    name,
                    f"{name} restored ({fault.get('restore_status')})"
                    f": {what} at {fault.get('restored_at')}",
                    True,
                    index,
                )
            )
    return markers


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value - 1e-9:
            return step * power
    return 10 * power


def time_tick_step(span_s: float) -> int:
    for step in (5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if span_s / step <= 12:
            return step
    return 7200


def elapsed_label(seconds: float) -> str:
    seconds = int(round(seconds))
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest}s"
    return f"{minutes}m" if not rest else f"{minutes}m{rest:02d}s"


def render_chart(spec: ChartSpec, axis: TimeAxis, hover: Sequence[str] = ()) -> str:
    """One ``<svg>`` chart: phases, grid, axes, series, fault markers, legend, hover titles."""
    finite = [v for series in spec.series for v in series.values if v is not None]
    top = nice_ceiling(max(finite, default=0.0) * 1.05)
    plot_bottom = HEIGHT - BOTTOM

    def y(value: float) -> float:
        return plot_bottom - value / top * (plot_bottom - TOP)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(spec.chart_id)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(spec.title)}">',
        f"<title>{escape(spec.title)}</title>",
        _phase_bands(axis, plot_bottom),
        _grid(top, y, spec.unit),
        _time_ticks(axis, plot_bottom),
    ]
    parts += [_series_path(series, axis, y) for series in spec.series]
    parts.append(_markers(axis, plot_bottom))
    parts.append(_legend(spec))
    parts.append(_hover_columns(axis, hover, plot_bottom))
    parts.append(f'<text x="{LEFT}" y="16" class="chart-title">{escape(spec.title)}</text></svg>')
    return "\n".join(part for part in parts if part)


def _phase_bands(axis: TimeAxis, plot_bottom: float) -> str:
    out = []
    for name, start, end in axis.phases:
        x0, x1 = axis.x(start), axis.x(end)
        fill = PHASE_FILLS.get(name, PHASE_DEFAULT_FILL)
        out.append(
            f'<rect class="phase phase-{escape(name)}" x="{x0:.1f}" y="{TOP}" '
            f'width="{max(x1 - x0, 0.5):.1f}" height="{plot_bottom - TOP:.1f}" fill="{fill}">'
            f"<title>{escape(name)} phase</title></rect>"
            f'<text x="{(x0 + x1) / 2:.1f}" y="{TOP + 13}" class="phase-label" '
            f'text-anchor="middle">{escape(name)}</text>'
        )
    return "".join(out)


def _grid(top: float, y: Callable[[float], float], unit: str) -> str:
    out = []
    for step in range(5):
        value = top * step / 4
        shown = f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            f'class="grid"/><text x="{LEFT - 6}" y="{y(value) + 4:.1f}" class="tick" '
            f'text-anchor="end">{escape(shown)}</text>'
        )
    out.append(
        f'<text x="14" y="{TOP + 60}" class="unit" transform="rotate(-90 14 {TOP + 60})" '
        f'text-anchor="middle">{escape(unit)}</text>'
    )
    return "".join(out)


def _time_ticks(axis: TimeAxis, plot_bottom: float) -> str:
    step = time_tick_step(axis.end - axis.start)
    out = [
        f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{plot_bottom}" y2="{plot_bottom}" '
        'class="axis"/>'
    ]
    elapsed = 0
    while axis.start + elapsed <= axis.end + 1e-9:
        x = axis.x(axis.start + elapsed)
        out.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{plot_bottom}" y2="{plot_bottom + 4}" '
            f'class="axis"/><text x="{x:.1f}" y="{plot_bottom + 16}" class="tick" '
            f'text-anchor="middle">{elapsed_label(elapsed)}</text>'
        )
        elapsed += step
    return "".join(out)


def _series_path(series: Series, axis: TimeAxis, y: Callable[[float], float]) -> str:
    segments: list[str] = []
    current: list[str] = []
    for second, value in zip(axis.seconds, series.values, strict=False):
        if value is None:
            if current:
                segments.append("M" + " L".join(current))
            current = []
            continue
        current.append(f"{axis.x(second + 0.5):.1f},{y(value):.1f}")
    if current:
        segments.append("M" + " L".join(current))
    if not segments:
        return ""
    dash = ' stroke-dasharray="5 3"' if series.dashed else ""
    return (
        f'<path class="series" data-series="{escape(series.label)}" d="{" ".join(segments)}" '
        f'fill="none" stroke="{series.color}" stroke-width="1.6"{dash}/>'
    )


def _markers(axis: TimeAxis, plot_bottom: float) -> str:
    out = []
    for marker in axis.markers:
        x = axis.x(marker.epoch_s)
        color = RESTORE_COLOR if marker.restore else INJECT_COLOR
        dash = ' stroke-dasharray="4 3"' if marker.restore else ""
        label_y = TOP + 24 + 11 * (marker.lane % 4)
        kind = "restore" if marker.restore else "inject"
        out.append(
            f'<g class="fault-marker fault-{kind}"><title>{escape(marker.title)}</title>'
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{plot_bottom}" stroke="{color}" '
            f'stroke-width="1.5"{dash}/><text x="{x + 3:.1f}" y="{label_y}" fill="{color}" '
            f'class="marker-label">{escape(marker.label)}{"↺" if marker.restore else "⚡"}'
            "</text></g>"
        )
    return "".join(out)


def _legend(spec: ChartSpec) -> str:
    out = []
    x = WIDTH - RIGHT - 150 * len(spec.series)
    for series in spec.series:
        dash = ' stroke-dasharray="5 3"' if series.dashed else ""
        out.append(
            f'<line x1="{x}" x2="{x + 18}" y1="12" y2="12" stroke="{series.color}" '
            f'stroke-width="2"{dash}/><text x="{x + 22}" y="16" class="legend">'
            f"{escape(series.label)}</text>"
        )
        x += 150
    return "".join(out)


def _hover_columns(axis: TimeAxis, hover: Sequence[str], plot_bottom: float) -> str:
    if not hover or len(axis.seconds) > _MAX_HOVER_COLUMNS:
        return ""
    width = max(axis.x(1) - axis.x(0), 0.5)
    return "".join(
        f'<rect class="hover" x="{axis.x(second):.1f}" y="{TOP}" width="{width:.2f}" '
        f'height="{plot_bottom - TOP:.1f}"><title>{escape(text)}</title></rect>'
        for second, text in zip(axis.seconds, hover, strict=False)
    )


def _column(rows: Sequence[Mapping[str, Any]], key: str, scale: float = 1.0) -> list[float | None]:
    values = []
    for row in rows:
        value = _number(row.get(key))
        values.append(None if value is None else value * scale)
    return values


def _hover_text(row: Mapping[str, Any], axis: TimeAxis) -> str:
    elapsed = elapsed_label(int(row["second"]) - axis.start)
    p99 = _number(row.get("p99_ms"))
    return (
        f"+{elapsed} ({row.get('phase') or 'between phases'}): {row.get('requests', 0)} req/s, "
        f"{row.get('failures', 0)} failed, {row.get('blocked', 0)} blocked, "
        f"p99 {'-' if p99 is None else f'{p99:g} ms'}"
    )


def run_charts(result: Mapping[str, Any]) -> list[str]:
    """The SVG charts of a result: throughput, latency percentiles, errors."""
    rows = [row for row in result.get("timeline") or [] if "second" in row]
    axis = time_axis(result)
    hover = [_hover_text(row, axis) for row in rows]
    throughput = [Series("requests/s", "#1f6fb2", _column(rows, "requests"))]
    if any(row.get("abusive_requests") for row in rows):
        throughput.append(
            Series(
                "abusive clients req/s", "#7a7a7a", _column(rows, "abusive_requests"), dashed=True
            )
        )
    errors = [
        Series("failed/s", "#c62828", _column(rows, "failures")),
        Series("error rate %", "#ef6c00", _column(rows, "error_rate", 100.0), dashed=True),
    ]
    if any(row.get("blocked") for row in rows):
        errors.append(Series("legit blocked/s", "#6a1b9a", _column(rows, "blocked")))
    specs = [
        ChartSpec("chart-throughput", "Throughput", "requests / s", throughput),
        ChartSpec(
            "chart-latency",
            "Latency percentiles",
            "ms",
            [
                Series("p50", "#2e7d32", _column(rows, "p50_ms")),
                Series("p90", "#f9a825", _column(rows, "p90_ms")),
                Series("p99", "#c62828", _column(rows, "p99_ms")),
            ],
        ),
        ChartSpec("chart-errors", "Errors", "per second / %", errors),
    ]
    return [render_chart(spec, axis, hover) for spec in specs]
