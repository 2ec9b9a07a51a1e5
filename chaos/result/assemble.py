"""result.json: the run's contract with its users (PRODUCT.md, "Result").

Assembled from a :class:`RunRecord` of explicit inputs (the measured load, the journal's
entries, the server-side figures), never from the run's mutable context; judged by
chaos.verdict, read again by chaos.result.refresh, rendered by chaos.report.
:class:`chaos.result.view.RunResult` is a typed view of it for Python callers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args

from chaos.clock import epoch_seconds, iso_from_epoch
from chaos.faults import FAULT_KINDS, FaultKind
from chaos.faults.base import Effect, RestoreStatus
from chaos.metrics.catalog import FAULT_EFFECT, WAF_BLOCKED_REQUESTS
from chaos.metrics.measurement import measure_load, measure_windows
from chaos.metrics.waf_slis import waf_slis
from chaos.phases import PHASES as PHASE_NAMES
from chaos.verdict.slo import PreviousFor, evaluate_slos, run_verdict

if TYPE_CHECKING:
    from chaos.experiment import Experiment
    from chaos.journal import JournalEntry
    from chaos.load.waf import RateRule
    from chaos.load.waf_traffic import WafTrafficPlan
    from chaos.metrics.aggregate import PhaseClock, RunAggregator
    from chaos.outcome import Outcome

__all__ = [
    "RESULT_VERSION",
    "LoadRecord",
    "RunRecord",
    "add_server_side",
    "assemble_result",
    "fault_entries",
    "judge",
]

RESULT_VERSION = 1


@dataclass
class LoadRecord:
    """What the load measured, and what its WAF SLIs need."""

    aggregator: RunAggregator
    rule: RateRule | None = None
    waf_plan: WafTrafficPlan | None = None
    abusive_stopped_at: float | None = None


@dataclass
class RunRecord:
    """Everything a finished run hands to the result."""

    run_id: str
    experiment: Experiment
    experiment_path: Path
    sandbox: bool
    started_at: str
    ended_at: str
    outcome: Outcome
    abort_reason: str | None
    phase_times: Mapping[str, Mapping[str, str]]
    journal_entries: Sequence[JournalEntry]
    load: LoadRecord | None = None
    server_side: Mapping[str, Any] | None = None  # chaos.metrics.server_side.read_settled
    notes: list[str] = field(default_factory=list)
    clock: PhaseClock | None = None  # the run's segments (the aggregator's, with load)
    #: Earlier runs for `previous` objectives (chaos.verdict.slo.PreviousFor); None: no history.
    previous_for: PreviousFor | None = None


def assemble_result(record: RunRecord) -> dict[str, Any]:
    faults = fault_entries(record.journal_entries)
    outcome: str = record.outcome
    if outcome == "passed" and any(f["restore_status"] == "failed" for f in faults):
        outcome = "error"
    notes = list(record.notes)
    result: dict[str, Any] = {
        "version": RESULT_VERSION,
        "outcome": outcome,
        "run_id": record.run_id,
        "experiment": record.experiment.name,
        "experiment_path": str(record.experiment_path),
        "sandbox": record.sandbox,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "abort_reason": record.abort_reason,
        "faults": faults,
        "fault_timing": fault_timing(faults),
        "fault_kinds": [spec.type for spec in record.experiment.faults],
        "expect_effect": record.experiment.expect_effect,
        "notes": notes,
    }
    _add_load(result, record)
    if record.load is None:
        notes.append("no load in this experiment: per-phase SLIs were not measured")
    add_server_side(result, record.server_side)
    result["gate"] = record.experiment.gate.model_dump()
    result["slo"] = evaluate_slos(record.experiment.slo, result, record.previous_for)
    judge(result, outcome)
    return result


def judge(result: dict[str, Any], run_outcome: str) -> None:
    """Add the automatic `fault_effect` checks and set the outcome from every check."""
    result["slo"] = [check for check in result["slo"] if check.get("sli") != FAULT_EFFECT]
    if result.get("expect_effect", True):
        result["slo"].extend(fault_effect_checks(result))
    for check in result["slo"]:  # checks judged on their observed value: two-way verdicts
        check.setdefault("verdict", "passed" if check.get("passed") else "failed")
        check.setdefault("interval", None)
    result["outcome"] = run_verdict(result["slo"], run_outcome)


def _add_load(result: dict[str, Any], record: RunRecord) -> None:
    if record.load is None:
        measured = (
            measure_windows(record.clock, record.phase_times)
            if record.clock
            else {"phases": {name: dict(times) for name, times in record.phase_times.items()}}
        )
        result.update(measured, overall=None, recovery_time_s=None, timeline=[])
        return
    aggregator = record.load.aggregator
    result.update(measure_load(aggregator, record.phase_times))
    for name, scope in result.get("phases", {}).items():
        if name in PHASE_NAMES and isinstance(scope, dict):
            scope["evidence"] = aggregator.evidence(name)  # what the SLO verdicts judge
    result["load"] = {"workers": worker_entries(aggregator), "late_rows": aggregator.late_rows}
    load = record.load
    if load.rule is not None and load.waf_plan is not None:
        legit = aggregator.all_totals()
        result["waf"] = waf_slis(
            aggregator.identities,
            load.rule,
            load.waf_plan,
            legit_blocked=legit.blocked,
            other_403=legit.other_403,
            abusive_stopped_at=load.abusive_stopped_at,
        )


def worker_entries(aggregator: RunAggregator) -> list[dict[str, Any]]:
    """`load.workers`: per Locust process, its requests over the run and per phase.

    `requests_by_phase` names every phase (0 when the worker sent nothing in it), the
    `transition` between them, and `outside` (ramp-up before the baseline); every traffic
    kind counts (abusive WAF clients too).
    """
    return [
        {"worker": worker, "requests": sum(by_segment.values()), "requests_by_phase": by_segment}
        for worker, by_segment in aggregator.worker_requests_by_segment().items()
    ]


def add_server_side(result: dict[str, Any], server_side: Mapping[str, Any] | None) -> None:
    """The server-side figures (chaos.metrics.server_side.read_settled) into `result`, and
    the fault evidence read off them."""
    if server_side is not None:
        _place_server_side(result, server_side)
    _add_fault_evidence(result)


def _place_server_side(result: dict[str, Any], server_side: Mapping[str, Any]) -> None:
    result["notes"].extend(server_side.get("notes", []))
    for name, values in (server_side.get("phases") or {}).items():
        if name in result.get("phases", {}):
            result["phases"][name]["server_side"] = values
    if server_side.get("run") is not None:
        result["server_side"] = server_side["run"]
    if "waf" in result:
        result["waf"]["cloudwatch_blocked_requests"] = (server_side.get("run") or {}).get(
            WAF_BLOCKED_REQUESTS
        )
        result["waf"]["cloudwatch_settled"] = server_side.get("settled", True)
    if server_side.get("query") is not None:
        result["server_side_query"] = server_side["query"]


def _add_fault_evidence(result: dict[str, Any]) -> None:
    """Per fault entry, what shows it acted, as its kind reads it (FaultKind.add_evidence)."""
    for type_name in dict.fromkeys(fault["type"] for fault in result["faults"]):
        if type_name in FAULT_KINDS:
            FAULT_KINDS[type_name].add_evidence(result)


def fault_effect_checks(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The automatic `fault_effect` check of each fault (PRODUCT.md, "Fault effect").

    It fails when the fault phase had load and the fault did nothing: no injection seen
    by the extension's telemetry nor by the clients (lambda-extension), no target
    changed (az-loss). Evidence that is missing or not settled fails the check too, as
    such (observed None and a note saying why), never as "the fault never fired".
    """
    fault_phase = (result.get("phases") or {}).get("fault") or {}
    had_load = bool(fault_phase.get("requests"))
    checks = []
    for index, fault_type in enumerate(result.get("fault_kinds") or []):
        entries = [fault for fault in result["faults"] if fault.get("fault_index") == index]
        observed, note = _fault_effect(fault_type, entries)
        passed = observed is not None and observed > 0
        if not had_load and FAULT_KINDS.get(fault_type, FaultKind).effect_needs_load:
            passed, note = True, "not judged: no load in the fault phase"
        item: dict[str, Any] = {
            "sli": FAULT_EFFECT,
            "phase": "fault",
            "objective": "> 0",
            "observed": observed,
            "passed": passed,
            "fault": f"faults[{index}] {fault_type}",
        }
        if note:
            item["note"] = note
        checks.append(item)
    return checks


def _fault_effect(fault_type: str, entries: Sequence[Mapping[str, Any]]) -> Effect:
    if not entries:
        return 0, "the fault changed no target"
    # A kind no longer registered (an old result refreshed): the targets it changed.
    return FAULT_KINDS.get(fault_type, FaultKind).fault_effect(entries)


def fault_entries(entries: Sequence[JournalEntry]) -> list[dict[str, Any]]:
    """One entry per fault and target; environment keys are named, values never shown.

    A resource changed in several steps (an alias target: $LATEST, the fault version,
    the alias) is one entry with its `steps`; its restore status is the worst step's.
    """
    by_id = {entry.entry_id: entry for entry in entries}
    parts: dict[str, list[JournalEntry]] = {}
    for entry in entries:
        root = by_id.get(entry.part_of or "")
        same_resource = root is not None and root.target_arn == entry.target_arn
        key = root.entry_id if same_resource and root is not None else entry.entry_id
        parts.setdefault(key, []).append(entry)
    return [_fault_entry(steps) for steps in parts.values()]


def _fault_entry(steps: list[JournalEntry]) -> dict[str, Any]:
    root = steps[0]
    statuses = [restore_status(step.status) for step in steps]
    status = next(
        (worst for worst in ("failed", "refused", "drifted") if worst in statuses), "restored"
    )
    effective = _latest(step.effective_at for step in steps)
    restored = _latest(step.restored_at for step in steps)
    restore_started = _earliest(step.restore_started_at for step in steps)
    item: dict[str, Any] = {
        "type": root.fault_type,
        "fault_index": root.fault_index,
        "target": root.target,
        "target_arn": root.target_arn,
        "changed": describe_change(root.intended),
        "injected_at": root.injected_at,
        "effective_at": effective,
        "restored_at": restored,
        "restore_status": status,
        "apply_s": _seconds_between(root.journaled_at, effective),
        "restore_s": _seconds_between(restore_started, restored),
        "detail": "; ".join(step.detail for step in steps if step.detail),
    }
    evidence = {key: value for step in steps for key, value in step.evidence.items()}
    if evidence:
        item["evidence"] = evidence
    if len(steps) > 1:
        item["steps"] = [
            {
                "target": step.target,
                "changed": describe_change(step.intended),
                "restore_status": restore_status(step.status),
                "detail": step.detail,
            }
            for step in steps
        ]
    return item


def fault_timing(faults: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """When the first and the last change came in force, and the spread between them."""
    moments = sorted(epoch_seconds(f["effective_at"]) for f in faults if f.get("effective_at"))
    if not moments:
        return None
    return {
        "first_effective_at": iso_from_epoch(moments[0]),
        "last_effective_at": iso_from_epoch(moments[-1]),
        "effective_spread_s": round(moments[-1] - moments[0], 3),
    }


def _latest(moments: Iterable[str | None]) -> str | None:
    present = [moment for moment in moments if moment]
    return max(present, key=epoch_seconds) if present else None


def _earliest(moments: Iterable[str | None]) -> str | None:
    present = [moment for moment in moments if moment]
    return min(present, key=epoch_seconds) if present else None


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round(epoch_seconds(end) - epoch_seconds(start), 3)


def restore_status(entry_status: str) -> RestoreStatus:
    """An entry's restore status (chaos.faults.base.RestoreStatus); any other: failed."""
    # refused: the restore found the resource without the run's lock (or a journaled value
    # the account did not confirm) and wrote nothing (chaos.journal).
    for status in get_args(RestoreStatus):
        if entry_status == status:
            return status
    return "failed"


def describe_change(intended: dict[str, Any]) -> dict[str, Any]:
    described: dict[str, Any] = {}
    for key, value in intended.items():
        if key == "environment" and isinstance(value, dict):
            described["environment_keys"] = sorted(value)
        else:
            described[key] = value
    return described
