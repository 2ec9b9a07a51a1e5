"""report.md: the run in a form that fits a pull-request comment."""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

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

__all__ = ["escape_markdown", "render_markdown"]

#: One icon per outcome (tests/unit/test_vocabulary.py checks that every outcome has one).
ICONS: dict[str, str] = {"passed": "✅", "failed": "❌", "aborted": "⚠️", "error": "💥"}
_MARKDOWN_SPECIAL = "\\`*_[]|~"


def escape_markdown(text: str) -> str:
    """Text shown literally in GitHub/GitLab markdown, on one line (tables need that)."""
    text = html.escape(" ".join(str(text).split()), quote=False)
    return "".join(f"\\{char}" if char in _MARKDOWN_SPECIAL else char for char in text)


def code_markdown(text: str) -> str:
    """Text as an inline code span (pipes escaped for tables); escaped text if it has a `."""
    text = " ".join(str(text).split())
    if not text or "`" in text:
        return escape_markdown(text)
    return "`" + text.replace("|", "\\|") + "`"


def table_markdown(table: Table, code_columns: tuple[int, ...] = ()) -> list[str]:
    lines = [
        "| " + " | ".join(escape_markdown(cell) or " " for cell in table.header) + " |",
        "|" + "|".join("---" for _ in table.header) + "|",
    ]
    for row, mark in zip(table.rows, table.marks, strict=True):
        cells = [
            code_markdown(cell) if index in code_columns else escape_markdown(cell)
            for index, cell in enumerate(row)
        ]
        if mark == "fail":
            cells[0] = f"**{cells[0]}**"
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def render_markdown(result: Mapping[str, Any]) -> str:
    """The report.md text of a result dict."""
    outcome = str(result.get("outcome") or "")
    title = escape_markdown(str(result.get("experiment") or "experiment"))
    lines = [
        f"### {ICONS.get(outcome, '')} gameday {title}: {verdict_text(result)}".replace("  ", " "),
        "",
    ]
    lines += [f"- **{label}**: {escape_markdown(value)}" for label, value in headline(result)]
    lines.append("")
    slo = slo_table(result)
    passed = sum(1 for mark in slo.marks if mark == "pass")
    lines += [f"#### SLOs ({passed}/{len(slo.rows)} met)", ""]
    lines += table_markdown(slo, code_columns=(1, 3)) if slo.rows else ["No SLO checks."]
    lines += ["", "#### Per-phase SLIs (client side)", ""]
    phases = phase_table(result)
    lines += table_markdown(phases) if phases.rows else ["No load was measured."]
    server = server_side_table(result)
    if server is not None:
        lines += ["", "#### Server side (CloudWatch)", "", *table_markdown(server)]
        attribution = server_side_attribution_note(result)
        if attribution:
            lines += ["", escape_markdown(attribution)]
        note = server_side_note(result)
        if note:
            lines += ["", escape_markdown(note)]
    waf = waf_table(result)
    if waf is not None:
        lines += [
            "",
            "#### WAF rate rule",
            "",
            *table_markdown(waf),
            "",
            escape_markdown(WAF_ESTIMATE_NOTE),
        ]
    faults = fault_table(result)
    lines += ["", "#### Faults: changed and restored", ""]
    lines += table_markdown(faults) if faults.rows else ["No fault was injected."]
    notes = [str(note) for note in result.get("notes") or []]
    if notes:
        lines += ["", "<details><summary>Notes</summary>", ""]
        lines += [f"- {escape_markdown(note)}" for note in notes]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
