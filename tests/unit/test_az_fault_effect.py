"""The automatic `fault_effect` check of az-loss: capacity must have left the lost AZ ID."""

from __future__ import annotations

from typing import Any

from chaos.result import _fault_effect


def pinned(before: dict[str, int], during: dict[str, int], unit: str = "running tasks"
           ) -> dict[str, Any]:
    return {"type": "az-loss", "injected_at": "2030-01-01T00:00:00.000Z", "evidence": {
        "az_id": "use1-az1", "unit": unit, "before": before, "during": during}}


def test_a_target_counts_when_its_capacity_left_the_lost_az_id() -> None:
    moved = pinned({"use1-az1": 1, "use1-az2": 1}, {"use1-az2": 2})
    lambda_pinned = pinned({"use1-az1": 1, "use1-az2": 1}, {"use1-az2": 1}, "subnets")
    assert _fault_effect("az-loss", [moved, lambda_pinned]) == (2, None)


def test_a_target_still_in_the_lost_az_or_never_there_does_not_count() -> None:
    stuck = pinned({"use1-az1": 1, "use1-az2": 1}, {"use1-az1": 1, "use1-az2": 1})
    never_there = pinned({"use1-az2": 2}, {"use1-az2": 2})
    assert _fault_effect("az-loss", [stuck, never_there]) == (
        0, "no target's capacity left the lost AZ ID")


def test_blackhole_entries_count_the_subnets_cut_off() -> None:
    acl = {"type": "az-loss", "injected_at": "2030-01-01T00:00:00.000Z", "evidence": {}}
    assert _fault_effect("az-loss", [acl]) == (1, None)
