"""A typed view of result.json for Python callers (the dict stays the contract)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["PhaseSlis", "RunResult", "SloResult"]


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
    def from_dict(
        cls, result: dict[str, Any], *, exit_code: int, report_paths: dict[str, Path]
    ) -> RunResult:
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
            SloResult(
                check["sli"],
                check.get("phase"),
                check["objective"],
                check.get("observed"),
                bool(check.get("passed")),
            )
            for check in result.get("slo", [])
        ]
        return cls(
            result["outcome"],
            result["run_id"],
            exit_code,
            phases,
            slo,
            result.get("waf"),
            list(result.get("faults", [])),
            report_paths,
            result,
        )
