"""Reports of a run: result.json, junit.xml, report.md, report.html (all from the result dict)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from chaos.files import PUBLIC, write_atomically
from chaos.report.html import render_html
from chaos.report.junit import render_junit
from chaos.report.markdown import render_markdown
from chaos.report.text import RESULT_FILE, slo_text, write_result

__all__ = [
    "REPORT_FILES",
    "RESULT_FILE",
    "render_html",
    "render_junit",
    "render_markdown",
    "slo_text",
    "write_report",
    "write_reports",
    "write_result",
]

#: format -> (file name, renderer)
REPORT_FILES: dict[str, tuple[str, Callable[[Mapping[str, Any]], str]]] = {
    "junit": ("junit.xml", render_junit),
    "md": ("report.md", render_markdown),
    "html": ("report.html", render_html),
}


def write_report(result: Mapping[str, Any], directory: Path, report_format: str) -> Path:
    """Render one format (junit | md | html) into ``directory``; returns its path."""
    name, render = REPORT_FILES[report_format]
    path = Path(directory) / name
    write_atomically(path, render(result), mode=PUBLIC)
    return path


def write_reports(result: Mapping[str, Any], directory: Path) -> dict[str, Path]:
    """Write result.json and every report into ``directory``; format -> path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": write_result(directory, dict(result))}
    for report_format in REPORT_FILES:
        paths[report_format] = write_report(result, directory, report_format)
    return paths
