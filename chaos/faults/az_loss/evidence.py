"""What shows an `az-loss` fault acted: the capacity that left the lost AZ ID (pin) and
the subnets cut off (blackhole)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from chaos.faults.base import Effect

__all__ = ["add_blackhole_caveat", "fault_effect"]


def fault_effect(entries: Sequence[Mapping[str, Any]]) -> Effect:
    """Judged per target: every pinned target that had capacity in the lost AZ ID must have
    none there during the fault (`before` > 0, `during` 0); a blackhole counts the subnets
    it cut off (it moves no capacity).

    One target whose capacity stayed fails the check, whatever the others did (the AZ did
    not empty), as does one whose pin was reverted during the fault (`reverted`: an ECS
    deployment circuit breaker rolled it back). A pin whose capacity during the fault could
    not be read proves nothing: the check is then not measured rather than passed on the
    other targets' evidence.
    """
    pinned = [entry for entry in entries if _is_pin(entry)]
    reverted = [
        f"{entry.get('target')}: {(entry.get('evidence') or {})['reverted']}"
        for entry in pinned
        if (entry.get("evidence") or {}).get("reverted")
    ]
    if reverted:
        return 0, f"reverted: {'; '.join(reverted)}"
    stayed = [
        str(entry.get("target"))
        for entry in pinned
        if _stayed_in_lost_az(entry.get("evidence") or {})
    ]
    if stayed:
        return 0, f"capacity stayed in the lost AZ ID: {', '.join(stayed)}"
    unread = [
        str(entry.get("target"))
        for entry in pinned
        if "during" not in (entry.get("evidence") or {})
    ]
    if unread:
        return None, (
            "not measured: the capacity per AZ ID during the fault could not be "
            f"read for {', '.join(unread)}"
        )
    emptied = sum(1 for entry in pinned if _left_lost_az(entry.get("evidence") or {}))
    cut_off = sum(1 for entry in entries if entry not in pinned and entry.get("injected_at"))
    observed = emptied + cut_off
    if observed:
        return observed, None
    return observed, "no target's capacity left the lost AZ ID"


def _is_pin(entry: Mapping[str, Any]) -> bool:
    evidence = entry.get("evidence") or {}
    return (
        (entry.get("changed") or {}).get("action") == "pin"
        or "during" in evidence
        or "converged" in evidence
    )


def _left_lost_az(evidence: Mapping[str, Any]) -> bool:
    az_id = evidence.get("az_id")
    before, during = evidence.get("before") or {}, evidence.get("during")
    if during is None:
        return False
    return bool(before.get(az_id, 0) > 0 and during.get(az_id, 0) == 0)


def _stayed_in_lost_az(evidence: Mapping[str, Any]) -> bool:
    az_id = evidence.get("az_id")
    before, during = evidence.get("before") or {}, evidence.get("during")
    return during is not None and before.get(az_id, 0) > 0 and during.get(az_id, 0) > 0


def add_blackhole_caveat(result: dict[str, Any]) -> None:
    """The report says what a blackhole did not cut (chaos.faults.az_loss.kind)."""
    from chaos.faults.az_loss.restore import ACTION_CREATE_ACL, BLACKHOLE_CAVEAT

    blackholed = any(
        fault.get("type") == "az-loss"
        and (fault.get("changed") or {}).get("action") == ACTION_CREATE_ACL
        for fault in result.get("faults", [])
    )
    note = f"az-loss blackhole: {BLACKHOLE_CAVEAT}"
    if blackholed and note not in result.setdefault("notes", []):
        result["notes"].append(note)
