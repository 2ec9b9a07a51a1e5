"""One run's history record: what a later run needs to compare with it, and its trend line.

A record (JSON, one per run) holds the key, the outcome and, per phase, the SLIs, the status
classes and the per-second evidence (``phases.<phase>.evidence`` of result.json: requests,
failures and latency counts per second, see `chaos.verdict.sample_to_record`), and the SLO
checks with their verdicts and intervals. Pooling earlier runs needs their seconds, not
only their merged histograms.

Records are read from disk or S3 that someone else can write: a record is parsed, never
trusted (`entry_from_record` raises ValueError on anything malformed; the reader skips it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaos.experiment.model import PHASE_NAMES
from chaos.history.key import key_from_dict, key_to_dict
from chaos.outcome import OUTCOMES
from chaos.verdict.history import HistoryEntry, HistoryKey
from chaos.verdict.sample import PhaseSample, sample_from_record

__all__ = [
    "RECORD_FORMAT",
    "entry_from_record",
    "history_record",
    "record_key",
    "serves_as_reference",
]

RECORD_FORMAT = 1
#: The phase SLIs a record keeps (the result's names; `latency_ms` holds p50 ... max).
_PHASE_SLIS = ("requests", "throughput_rps", "availability", "error_rate", "latency_ms")
#: How `chaos.verdict.history.previous_reference` says it found too few earlier runs.
_NO_EARLIER_RUNS = "earlier passing run(s)"
_SLO_KEYS = (
    "sli",
    "phase",
    "objective",
    "observed",
    "passed",
    "verdict",
    "interval",
    "threshold",
    "note",
)


def history_record(result: Mapping[str, Any], key: HistoryKey) -> dict[str, Any]:
    """The record of the run whose result.json is `result`."""
    phases = result.get("phases") or {}
    return {
        "format": RECORD_FORMAT,
        "run_id": result["run_id"],
        "started_at": result.get("started_at"),
        "ended_at": result["ended_at"],
        "outcome": result["outcome"],
        "key": key_to_dict(key),
        "gate": result.get("gate"),
        "phases": {
            name: _phase_record(name, phases[name], result.get("timeline") or [])
            for name in PHASE_NAMES
            if isinstance(phases.get(name), Mapping)
        },
        "slo": [
            {name: check[name] for name in _SLO_KEYS if name in check}
            for check in result.get("slo") or []
            if isinstance(check, Mapping)
        ],
    }


def _phase_record(
    name: str, phase: Mapping[str, Any], timeline: list[Mapping[str, Any]]
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "slis": {sli: phase[sli] for sli in _PHASE_SLIS if sli in phase},
        "status_classes": phase.get("status_classes") or _status_classes(name, timeline),
    }
    if phase.get("evidence") is not None:
        record["evidence"] = phase["evidence"]
    return record


def _status_classes(phase: str, timeline: list[Mapping[str, Any]]) -> dict[str, int]:
    """Status classes of the phase's seconds (legitimate traffic), summed from the timeline."""
    totals: dict[str, int] = {}
    for row in timeline:
        if row.get("phase") != phase:
            continue
        for status, count in (row.get("status_classes") or {}).items():
            totals[status] = totals.get(status, 0) + int(count)
    return totals


def record_key(record: Any) -> HistoryKey:
    """The key a record states (ValueError when it has none)."""
    if not isinstance(record, Mapping):
        raise ValueError("a history record is a JSON object")
    return key_from_dict(record.get("key"))


def entry_from_record(record: Any) -> HistoryEntry:
    """The run as `chaos.verdict.previous_reference` pools it; ValueError when malformed.

    A phase without evidence (a run before the evidence was kept, or with no load) has no
    sample: it never serves as a reference for that phase.
    """
    key = record_key(record)
    run_id, ended_at, outcome = (record.get(name) for name in ("run_id", "ended_at", "outcome"))
    if not (isinstance(run_id, str) and isinstance(ended_at, str) and outcome in OUTCOMES):
        raise ValueError("a history record needs run_id, ended_at and a known outcome")
    if record.get("format") != RECORD_FORMAT:
        raise ValueError(f"history record format {record.get('format')!r} is not {RECORD_FORMAT}")
    phases = record.get("phases")
    if not isinstance(phases, Mapping):
        raise ValueError("a history record's phases must be an object")
    samples: dict[str, PhaseSample] = {}
    for name, phase in phases.items():
        evidence = phase.get("evidence") if isinstance(phase, Mapping) else None
        if evidence is None:
            continue
        if not isinstance(evidence, list):
            raise ValueError(f"phase {name}: evidence must be a list of seconds")
        try:
            samples[str(name)] = sample_from_record(evidence)
        except (TypeError, ValueError) as error:
            raise ValueError(f"phase {name}: {error}") from error
    eligible = "passed" if serves_as_reference(record) else str(outcome)
    return HistoryEntry(run_id, key, eligible, ended_at, samples)


def serves_as_reference(record: Mapping[str, Any]) -> bool:
    """Whether a later `previous` objective may compare with this run.

    A run that passed does. So does one whose only failed checks are `previous` checks left
    inconclusive for want of earlier runs: otherwise, with the default gate (inconclusive
    fails), no history could ever start. An aborted run or one that broke another check
    never does.
    """
    if record.get("outcome") == "passed":
        return True
    if record.get("outcome") != "failed":
        return False
    failed = [
        check
        for check in record.get("slo") or []
        if isinstance(check, Mapping) and check.get("passed") is not True
    ]
    return bool(failed) and all(_wants_earlier_runs(check) for check in failed)


def _wants_earlier_runs(check: Mapping[str, Any]) -> bool:
    return (
        check.get("verdict") == "inconclusive"
        and "previous" in str(check.get("objective") or "")
        and _NO_EARLIER_RUNS in str(check.get("note") or "")
    )
