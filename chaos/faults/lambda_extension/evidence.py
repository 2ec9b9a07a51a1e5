"""What shows a `lambda-extension` fault acted: the extension's telemetry (CloudWatch EMF,
its InjectedFaults and ExtensionInits metrics) and the responses the clients saw marked.

Per fault, `telemetry_by_mode` splits the telemetry by the extension's FaultType (latency,
disk, timeout, exception, error, corruption). The extension also emits ExtensionFailOpen
(its wrapper found no working proxy and ran the handler unfaulted): no injection, never
evidence, but reported (`fail_open_environments`) and named when the fault never fired.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chaos.faults.base import Effect
from chaos.metrics.cloudwatch import function_name

__all__ = ["add_evidence", "fault_effect"]

TYPE_NAME = "lambda-extension"


def add_evidence(result: dict[str, Any]) -> None:
    """Per fault entry, what shows it acted: `observed_injections` (lambda-extension).

    `telemetry` is the extension's InjectedFaults count (CloudWatch EMF) once settled, None
    when it is not known; `telemetry_note` then says why (not settled, or not read).
    """
    server = result.get("server_side") or {}
    settled = server.get("settled", True) is not False
    detail = (server.get("detail") or {}) if settled else {}
    injected = detail.get("injected_faults")
    inits = detail.get("extension_inits") or {}
    fail_open = detail.get("extension_fail_open") or {}
    fault_phase = (result.get("phases") or {}).get("fault") or {}
    markers = fault_phase.get("injected_responses")
    lambda_faults = {
        fault.get("fault_index") for fault in result["faults"] if fault["type"] == TYPE_NAME
    }
    for fault in result["faults"]:
        if fault["type"] != TYPE_NAME:
            continue
        telemetry = None
        by_mode: dict[str, int] | None = None
        if isinstance(injected, Mapping):
            counts = injected.get(function_name(fault["target_arn"])) or {}
            by_mode = {mode: int(value) for mode, value in counts.items() if value}
            telemetry = sum(by_mode.values())
        cold_starts = (inits.get(function_name(fault["target_arn"])) or {}).get("inits")
        fault["cold_starts_caused"] = None if cold_starts is None else int(cold_starts)
        evidence: dict[str, Any] = {
            "telemetry": telemetry,
            # Marked responses cannot tell which fault injected them: counted only when
            # one lambda-extension fault ran.
            "client_marked_responses": markers if len(lambda_faults) == 1 else None,
        }
        if by_mode is not None:
            evidence["telemetry_by_mode"] = by_mode
        if telemetry is None:
            evidence["telemetry_note"] = _telemetry_missing(result, server, settled)
        failed_open = (fail_open.get(function_name(fault["target_arn"])) or {}).get("environments")
        if failed_open:
            evidence["fail_open_environments"] = int(failed_open)
        fault["observed_injections"] = evidence


def _telemetry_missing(result: Mapping[str, Any], server: Mapping[str, Any], settled: bool) -> str:
    """Why the extension's telemetry of a fault is not known."""
    if server and not settled:
        return (
            "not settled: CloudWatch was still changing when the wait ended "
            "(gameday report --refresh reads it again)"
        )
    why = next(
        (
            note
            for note in result.get("notes") or []
            if note.startswith("server-side metrics unavailable")
        ),
        "the extension's InjectedFaults metric was not read",
    )
    return f"not measured: {why}"


def fault_effect(entries: Sequence[Mapping[str, Any]]) -> Effect:
    """Injections seen by the extension's telemetry or by the clients (marked responses).

    Latency and exception faults mark no response: without settled telemetry of every
    target, zero marked responses prove nothing.
    """
    evidence = [entry.get("observed_injections") or {} for entry in entries]
    telemetry = [item["telemetry"] for item in evidence if item.get("telemetry") is not None]
    markers = [
        item["client_marked_responses"]
        for item in evidence
        if item.get("client_marked_responses") is not None
    ]
    observed = max(sum(telemetry), max(markers, default=0))
    if observed > 0:
        return observed, None
    failed_open = sum(int(item.get("fail_open_environments") or 0) for item in evidence)
    if len(telemetry) == len(entries):
        if failed_open:
            return observed, (
                f"the fault never fired: the extension failed open in {failed_open} "
                "execution environment(s) (ExtensionFailOpen: the runtime talked to Lambda "
                "directly, unfaulted)"
            )
        return observed, "the fault never fired: no injection observed"
    why = [
        str(item.get("telemetry_note") or "not measured")
        for item in evidence
        if item.get("telemetry") is None
    ]
    reason = next((note for note in why if note.startswith("not settled")), why[0])
    clients = (
        "no client saw a marked response (latency and exception faults mark none)"
        if markers
        else "marked responses cannot be told apart between several lambda-extension faults"
    )
    if reason.startswith("not settled"):
        return None, (
            "not settled: the extension's telemetry (InjectedFaults) had not settled "
            f"when the wait ended and {clients}; gameday report --refresh reads it "
            "again"
        )
    _, _, detail = reason.partition(": ")
    return None, (
        f"not measured: the extension's telemetry (InjectedFaults) is missing "
        f"({detail or 'not read'}) and {clients}"
    )
