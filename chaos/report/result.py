"""result.json: the run's contract with its users (see PRODUCT.md, "Result")."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.files import PUBLIC, write_atomically
from chaos.journal import Journal

RESULT_VERSION = 1
RESULT_FILE = "result.json"


def fault_entries(journal: Journal) -> list[dict[str, Any]]:
    """One entry per fault and target; environment keys are named, values never shown."""
    return [
        {
            "type": entry.fault_type,
            "target": entry.target,
            "target_arn": entry.target_arn,
            "changed": describe_change(entry.intended),
            "injected_at": entry.injected_at,
            "restored_at": entry.restored_at,
            "restore_status": restore_status(entry.status),
            "detail": entry.detail,
        }
        for entry in journal.entries
    ]


def restore_status(entry_status: str) -> str:
    if entry_status in ("restored", "drifted"):
        return entry_status
    return "failed"


def describe_change(intended: dict[str, Any]) -> dict[str, Any]:
    described: dict[str, Any] = {}
    for key, value in intended.items():
        if key == "environment" and isinstance(value, dict):
            described["environment_keys"] = sorted(value)
        else:
            described[key] = value
    return described


def write_result(directory: Path, result: dict[str, Any]) -> Path:
    path = directory / RESULT_FILE
    write_atomically(path, json.dumps(result, indent=2, sort_keys=False) + "\n", mode=PUBLIC)
    return path


@dataclass(frozen=True)
class PhaseSlis:
    requests: int | None
    throughput_rps: float | None
    availability: float | None
    error_rate: float | None
    latency_ms: dict[str, float]


@dataclass(frozen=True)
class SloResult:
    sli: str
    phase: str | None
    objective: str
    observed: float | None
    passed: bool


@dataclass(frozen=True)
class RunResult:
    """A typed view of result.json (the dict stays the contract; this is for Python callers)."""

    outcome: str
    run_id: str
    exit_code: int
    phases: dict[str, PhaseSlis]
    slo: list[SloResult]
    waf: dict[str, Any] | None
    faults: list[dict[str, Any]]
    report_paths: dict[str, Path]
    raw: dict[str, Any] = field(repr=False)

    @property
    def passed(self) -> bool:
        return self.outcome == "passed"

    def failed_checks(self) -> list[SloResult]:
        return [check for check in self.slo if not check.passed]

    @classmethod
    def from_dict(cls, result: dict[str, Any], *, exit_code: int,
                  report_paths: dict[str, Path]) -> RunResult:
        phases = {
            name: PhaseSlis(
                requests=values.get("requests"),
                throughput_rps=values.get("throughput_rps"),
                availability=values.get("availability"),
                error_rate=values.get("error_rate"),
                latency_ms=dict(values.get("latency_ms") or {}),
            )
            for name, values in (result.get("phases") or {}).items()
        }
        slo = [
            SloResult(check["sli"], check.get("phase"), check["objective"], check.get("observed"),
                      bool(check.get("passed")))
            for check in result.get("slo", [])
        ]
        return cls(result["outcome"], result["run_id"], exit_code, phases, slo, result.get("waf"),
                   list(result.get("faults", [])), report_paths, result)


def slo_table(result: dict[str, Any]) -> str:
    """The SLO checks as aligned text: sli, phase, observed vs objective, verdict."""
    rows = [("SLI", "phase", "observed", "objective", "")]
    for check in result.get("slo", []):
        observed = check.get("observed")
        rows.append((
            str(check["sli"]), str(check.get("phase") or "-"),
            "not measured" if observed is None else f"{observed:g}",
            str(check["objective"]), "ok" if check.get("passed") else "BREACHED",
        ))
    widths = [max(len(row[index]) for row in rows) for index in range(5)]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
                     .rstrip()
                     for row in rows)
