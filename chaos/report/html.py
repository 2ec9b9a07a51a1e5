"""report.html: one self-contained page (inline CSS and SVG, no script, no network).

A Content-Security-Policy forbids every external load, so a page that would need the
network shows it as a console error instead of silently looking different offline.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from chaos.report.charts import run_charts
from chaos.report.history import history_html
from chaos.report.sections import (
    WAF_ESTIMATE_NOTE,
    Table,
    fault_table,
    headline,
    phase_table,
    server_side_attribution_note,
    server_side_note,
    server_side_table,
    slo_table,
    verdict_text,
    waf_table,
)

__all__ = ["render_html"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1d1d1f;
       margin: 0; background: #fafafa; }
main { max-width: 1160px; margin: 0 auto; padding: 20px 24px 48px; }
h1 { font-size: 22px; margin: 0 0 6px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
.verdict { display: inline-block; padding: 4px 12px; border-radius: 4px; font-weight: 600;
           color: #fff; }
.verdict-passed { background: #1e7d32; } .verdict-failed { background: #b3261e; }
.verdict-aborted { background: #b26a00; } .verdict-error { background: #6a1b9a; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 12px 0; }
dl.facts dt { color: #555; } dl.facts dd { margin: 0; font-family: ui-monospace, monospace; }
table { border-collapse: collapse; width: 100%; background: #fff; margin: 4px 0; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.fail td { background: #fdecea; } tr.pass td:first-child { color: #1e7d32; }
tr.fail td:first-child { color: #b3261e; font-weight: 700; }
.charts { background: #fff; border: 1px solid #ddd; padding: 8px; }
svg.chart { width: 100%; height: auto; display: block; margin: 4px 0 10px; }
svg .grid { stroke: #e3e3e3; } svg .axis { stroke: #888; }
svg text { font: 11px system-ui, sans-serif; fill: #444; }
svg .chart-title { font-size: 13px; font-weight: 600; fill: #1d1d1f; }
svg .phase-label { font-size: 11px; fill: #555; font-style: italic; }
svg .marker-label { font-size: 11px; font-weight: 600; }
svg rect.hover { fill: transparent; } svg rect.hover:hover { fill: rgba(0,0,0,0.08); }
.legend-note { color: #555; font-size: 12px; margin: 4px 0 0; }
.muted { color: #666; }
"""


def _cells(row: list[str], numeric_from: int) -> str:
    return "".join(
        f'<td class="num">{escape(cell)}</td>'
        if index >= numeric_from
        else f"<td>{escape(cell)}</td>"
        for index, cell in enumerate(row)
    )


def table_html(table: Table, table_id: str, numeric_from: int = 99) -> str:
    head = "".join(f"<th>{escape(cell)}</th>" for cell in table.header)
    body = "".join(
        f'<tr class="{escape(mark)}">{_cells(row, numeric_from)}</tr>'
        for row, mark in zip(table.rows, table.marks, strict=True)
    )
    return (
        f'<table id="{escape(table_id)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _facts(result: Mapping[str, Any]) -> str:
    items = "".join(
        f"<dt>{escape(label)}</dt><dd>{escape(value)}</dd>" for label, value in headline(result)
    )
    return f'<dl class="facts">{items}</dl>'


def _numbered_faults(result: Mapping[str, Any]) -> Table:
    table = fault_table(result)
    rows = [[f"F{index + 1}", *row] for index, row in enumerate(table.rows)]
    return Table(["#", *table.header], rows, table.marks)


def _section(title: str, body: str, section_id: str) -> str:
    return f'<section id="{escape(section_id)}"><h2>{escape(title)}</h2>{body}</section>'


def render_html(result: Mapping[str, Any]) -> str:
    """The report.html text of a result dict."""
    outcome = str(result.get("outcome") or "unknown")
    experiment = str(result.get("experiment") or "experiment")
    slo = slo_table(result)
    met = sum(1 for mark in slo.marks if mark == "pass")
    parts = [
        f"<h1>gameday: {escape(experiment)}</h1>",
        f'<span class="verdict verdict-{escape(outcome)}" id="verdict">'
        f"{escape(verdict_text(result))}</span>",
        _facts(result),
        _section("Load over time", _charts(result), "charts"),
        _section(f"SLOs ({met}/{len(slo.rows)} met)", _slo(slo), "slo"),
        _section("Per-phase SLIs (client side)", _phases(result), "phases"),
    ]
    server = server_side_table(result)
    if server is not None:
        note = server_side_note(result)
        attribution = server_side_attribution_note(result)
        parts.append(
            _section(
                "Server side (CloudWatch)",
                table_html(server, "server-side-table", 1)
                + (
                    f'<p class="legend-note" id="server-side-attribution">{escape(attribution)}</p>'
                    if attribution
                    else ""
                )
                + (
                    f'<p class="legend-note" id="server-side-note">{escape(note)}</p>'
                    if note
                    else ""
                ),
                "server-side",
            )
        )
    waf = waf_table(result)
    if waf is not None:
        parts.append(
            _section(
                "WAF rate rule",
                table_html(waf, "waf-table", 1)
                + f'<p class="legend-note" id="waf-note">{escape(WAF_ESTIMATE_NOTE)}</p>',
                "waf",
            )
        )
    faults = _numbered_faults(result)
    parts.append(
        _section(
            "Faults: changed and restored",
            table_html(faults, "fault-table")
            if faults.rows
            else '<p class="muted">No fault was injected.</p>',
            "faults",
        )
    )
    history = history_html(result)
    if history is not None:
        parts.append(_section("Recent runs on this target", history, "history"))
    notes = [str(note) for note in result.get("notes") or []]
    if notes:
        items = "".join(f"<li>{escape(note)}</li>" for note in notes)
        parts.append(_section("Notes", f"<ul>{items}</ul>", "notes"))
    title = f"gameday {experiment}: {outcome}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{''.join(parts)}</main></body></html>\n"
    )


def _slo(slo: Table) -> str:
    return table_html(slo, "slo-table") if slo.rows else '<p class="muted">No SLO checks.</p>'


def _phases(result: Mapping[str, Any]) -> str:
    table = phase_table(result)
    if not table.rows:
        return '<p class="muted">No load was measured.</p>'
    return table_html(table, "phase-table", 1)


def _charts(result: Mapping[str, Any]) -> str:
    if not result.get("timeline"):
        return '<p class="muted">No per-second measurements (no load was driven).</p>'
    note = (
        '<p class="legend-note">Shaded: phases. Solid red line ⚡: a fault injected; dashed '
        "green line ↺: restored (F1, F2… as in the faults table). Hover a second for its "
        "numbers.</p>"
    )
    return f'<div class="charts">{"".join(run_charts(result))}{note}</div>'
