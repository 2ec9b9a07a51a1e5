"""result.json as a file, and the SLO checks as the plain text the CLI and pytest print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chaos.files import PUBLIC, write_atomically
from chaos.report.sections import interval_text, verdict_word

RESULT_FILE = "result.json"


def write_result(directory: Path, result: dict[str, Any]) -> Path:
    path = directory / RESULT_FILE
    write_atomically(path, json.dumps(result, indent=2, sort_keys=False) + "\n", mode=PUBLIC)
    return path


def slo_text(result: dict[str, Any]) -> str:
    """The SLO checks as aligned text: sli, phase, observed vs objective, verdict."""
    rows = [("SLI", "phase", "observed", "objective", "", "")]
    for check in result.get("slo", []):
        observed = check.get("observed")
        sli = f"{check['sli']} ({check['fault']})" if check.get("fault") else str(check["sli"])
        rows.append(
            (
                sli,
                str(check.get("phase") or "-"),
                "not measured" if observed is None else f"{observed:g}",
                str(check["objective"]),
                _verdict_cell(check),
                interval_text(check),
            )
        )
    widths = [max(len(row[index]) for row in rows) for index in range(6)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _verdict_cell(check: dict[str, Any]) -> str:
    """ok / BREACHED, and INCONCLUSIVE (the evidence decides neither way; the gate's
    `inconclusive` setting made it fail, or pass: "ok (inconclusive)")."""
    inconclusive = verdict_word(check) == "inconclusive"
    if check.get("passed"):
        return "ok (inconclusive)" if inconclusive else "ok"
    return "INCONCLUSIVE" if inconclusive else "BREACHED"
