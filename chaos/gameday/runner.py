"""Running several experiments in order (a directory or a `kind: gameday` plan).

The plan's consolidated report lists each experiment's outcome and links its own
reports; the exit code is the worst one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

from chaos.clock import utc_now
from chaos.files import PUBLIC, write_atomically
from chaos.journal import gameday_home
from chaos.outcome import EXIT_PASSED, label_of_exit, worst_exit


@dataclass
class ExperimentRun:
    path: Path
    exit_code: int
    result_path: Path | None

    @property
    def outcome(self) -> str:
        return label_of_exit(self.exit_code)


@dataclass
class GamedayRun:
    name: str
    report_dir: Path
    runbook: str | None = None
    stop_on_failure: bool = False
    started_at: str = field(default_factory=utc_now)
    runs: list[ExperimentRun] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return worst_exit(run.exit_code for run in self.runs)

    def experiment_report_dir(self, path: Path) -> Path:
        return self.report_dir / path.stem

    def execute(
        self, paths: list[Path], run_one: Callable[[Path, Path], tuple[int, Path | None]]
    ) -> int:
        for index, path in enumerate(paths):
            code, result_path = run_one(path, self.experiment_report_dir(path))
            self.runs.append(ExperimentRun(path, code, result_path))
            if code != EXIT_PASSED and self.stop_on_failure:
                self.skipped = paths[index + 1 :]
                break
        self.write()
        return self.exit_code

    def summary(self) -> dict[str, Any]:
        return {
            "gameday": self.name,
            "started_at": self.started_at,
            "ended_at": utc_now(),
            "outcome": label_of_exit(EXIT_PASSED) if self.exit_code == EXIT_PASSED else "failed",
            "exit_code": self.exit_code,
            "runbook": self.runbook,
            "experiments": [
                {
                    "path": str(run.path),
                    "outcome": run.outcome,
                    "exit_code": run.exit_code,
                    "result": str(run.result_path) if run.result_path else None,
                }
                for run in self.runs
            ],
            "skipped": [str(path) for path in self.skipped],
        }

    def write(self) -> dict[str, Path]:
        summary = self.summary()
        self.report_dir.mkdir(parents=True, exist_ok=True)
        paths = {
            "json": self.report_dir / "gameday.json",
            "md": self.report_dir / "gameday.md",
            "html": self.report_dir / "gameday.html",
        }
        write_atomically(paths["json"], json.dumps(summary, indent=2) + "\n", mode=PUBLIC)
        write_atomically(paths["md"], render_markdown(summary, self.report_dir), mode=PUBLIC)
        write_atomically(paths["html"], render_html(summary, self.report_dir), mode=PUBLIC)
        return paths


def default_report_dir(name: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return gameday_home() / "gamedays" / f"{stamp}-{name}"


def _relative(result: str | None, base: Path) -> str | None:
    if not result:
        return None
    try:
        return str(Path(result).parent.relative_to(base))
    except ValueError:
        return str(Path(result).parent)


def render_markdown(summary: dict[str, Any], base: Path) -> str:
    lines = [
        f"# Game day `{summary['gameday']}`: {summary['outcome']}",
        "",
        f"{summary['started_at']} → {summary['ended_at']}",
        "",
        "| experiment | outcome | reports |",
        "|---|---|---|",
    ]
    for run in summary["experiments"]:
        where = _relative(run["result"], base)
        lines.append(
            f"| `{run['path']}` | {run['outcome']} | "
            + (f"[report]({where}/report.md)" if where else "-")
            + " |"
        )
    for path in summary["skipped"]:
        lines.append(f"| `{path}` | skipped (stop_on_failure) | - |")
    if summary["runbook"]:
        lines += ["", "## Runbook", "", summary["runbook"].strip()]
    return "\n".join(lines) + "\n"


def render_html(summary: dict[str, Any], base: Path) -> str:
    rows = []
    for run in summary["experiments"]:
        where = _relative(run["result"], base)
        link = f'<a href="{escape(where)}/report.html">report</a>' if where else "-"
        rows.append(
            f"<tr><td><code>{escape(run['path'])}</code></td>"
            f'<td class="{escape(run["outcome"])}">{escape(run["outcome"])}</td>'
            f"<td>{link}</td></tr>"
        )
    rows += [
        f"<tr><td><code>{escape(path)}</code></td><td>skipped</td><td>-</td></tr>"
        for path in summary["skipped"]
    ]
    runbook = (
        f"<h2>Runbook</h2><pre>{escape(summary['runbook'])}</pre>" if summary["runbook"] else ""
    )
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'\">"
        f"<title>Game day {escape(summary['gameday'])}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em}td,th{padding:4px 10px;"
        "border-bottom:1px solid #ddd}.passed{color:#17803d}.failed,.aborted,"
        ".rollback_incomplete,.invalid{color:#b42318;font-weight:600}</style></head><body>"
        f"<h1>Game day {escape(summary['gameday'])}: {escape(summary['outcome'])}</h1>"
        f"<p>{escape(summary['started_at'])} → {escape(summary['ended_at'])}</p>"
        "<table><tr><th>experiment</th><th>outcome</th><th>reports</th></tr>"
        + "".join(rows)
        + "</table>"
        + runbook
        + "</body></html>\n"
    )
