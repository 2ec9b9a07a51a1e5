"""The automatic `fault_effect` check of az-loss: capacity must have left the lost AZ ID."""

from __future__ import annotations

from typing import Any

from chaos.result.assemble import _fault_effect, fault_effect_checks


def pinned(
    before: dict[str, int],
    during: dict[str, int],
    unit: str = "running tasks",
    target: str = "ecs:shop/web",
) -> dict[str, Any]:
    return {
        "type": "az-loss",
        "target": target,
        "injected_at": "2030-01-01T00:00:00.000Z",
        "evidence": {"az_id": "use1-az1", "unit": unit, "before": before, "during": during},
    }


def test_a_target_counts_when_its_capacity_left_the_lost_az_id() -> None:
    moved = pinned({"use1-az1": 1, "use1-az2": 1}, {"use1-az2": 2})
    lambda_pinned = pinned({"use1-az1": 1, "use1-az2": 1}, {"use1-az2": 1}, "subnets")
    assert _fault_effect("az-loss", [moved, lambda_pinned]) == (2, None)


def test_a_target_still_in_the_lost_az_fails_the_fault_whatever_the_others_did() -> None:
    stuck = pinned({"use1-az1": 1, "use1-az2": 1}, {"use1-az1": 1, "use1-az2": 1}, target="asg:web")
    moved = pinned({"use1-az1": 1, "use1-az2": 1}, {"use1-az2": 2})
    assert _fault_effect("az-loss", [stuck, moved]) == (
        0,
        "capacity stayed in the lost AZ ID: asg:web",
    )


def test_a_target_never_in_the_lost_az_does_not_count() -> None:
    never_there = pinned({"use1-az2": 2}, {"use1-az2": 2})
    assert _fault_effect("az-loss", [never_there]) == (
        0,
        "no target's capacity left the lost AZ ID",
    )


def test_blackhole_entries_count_the_subnets_cut_off() -> None:
    acl = {"type": "az-loss", "injected_at": "2030-01-01T00:00:00.000Z", "evidence": {}}
    assert _fault_effect("az-loss", [acl]) == (1, None)


def test_a_pin_whose_capacity_during_the_fault_was_not_read_proves_nothing() -> None:
    unread = {
        "type": "az-loss",
        "target": "lambda:orders",
        "changed": {"action": "pin"},
        "injected_at": "2030-01-01T00:00:00.000Z",
        "evidence": {"az_id": "use1-az1", "converged": False},
    }
    # Not a blackhole's subnet (those count when injected): not measured, not passed.
    assert _fault_effect("az-loss", [unread]) == (
        None,
        "not measured: the capacity per AZ ID during the fault could not be read for lambda:orders",
    )
    # Judged per target: the other target's move does not vouch for the unread one.
    moved = pinned({"use1-az1": 1, "use1-az2": 1}, {"use1-az2": 2})
    assert _fault_effect("az-loss", [unread, moved]) == _fault_effect("az-loss", [unread])


def test_a_pin_that_moved_nothing_next_to_an_unread_one_fails() -> None:
    unread = {
        "type": "az-loss",
        "target": "ecs:orders/web",
        "changed": {"action": "pin"},
        "injected_at": "2030-01-01T00:00:00.000Z",
        "evidence": {"az_id": "use1-az1"},
    }
    stuck = pinned({"use1-az1": 1}, {"use1-az1": 1})
    # What was read decides: one target's capacity stayed, the AZ did not empty.
    assert _fault_effect("az-loss", [stuck, unread]) == (
        0,
        "capacity stayed in the lost AZ ID: ecs:shop/web",
    )


def test_a_pin_reverted_during_the_fault_fails_it_even_though_it_converged() -> None:
    rolled_back = pinned({"use1-az1": 1, "use1-az2": 1}, {"use1-az2": 2})
    rolled_back["evidence"]["reverted"] = "subnet(s) subnet-1 of the lost AZ ID back (ECS ...)"
    moved = pinned({"use1-az1": 1, "use1-az2": 1}, {"use1-az2": 2}, target="asg:web")
    assert _fault_effect("az-loss", [moved, rolled_back]) == (
        0,
        "reverted: ecs:shop/web: subnet(s) subnet-1 of the lost AZ ID back (ECS ...)",
    )
    result: dict[str, Any] = {
        "fault_kinds": ["az-loss"],
        "phases": {"fault": {"requests": 40}},
        "faults": [{**entry, "fault_index": 0} for entry in (moved, rolled_back)],
    }
    [check] = fault_effect_checks(result)
    assert (check["observed"], check["passed"]) == (0, False)
    assert check["note"].startswith("reverted: ecs:shop/web: ")


def test_a_fault_with_no_entry_changed_no_target() -> None:
    assert _fault_effect("az-loss", []) == (0, "the fault changed no target")
    assert _fault_effect("lambda-extension", []) == (0, "the fault changed no target")


def test_another_kind_counts_the_targets_it_changed() -> None:
    changed = {"type": "other", "injected_at": "2030-01-01T00:00:00.000Z"}
    assert _fault_effect("other", [changed, {"type": "other"}]) == (1, None)
    assert _fault_effect("other", [{"type": "other"}]) == (0, "the fault changed no target")


def test_az_loss_checks_in_a_result_fail_when_nothing_moved() -> None:
    result: dict[str, Any] = {
        "fault_kinds": ["az-loss"],
        "phases": {"fault": {"requests": 40}},
        "faults": [{**pinned({"use1-az2": 2}, {"use1-az2": 2}), "fault_index": 0}],
    }
    [check] = fault_effect_checks(result)
    assert (check["observed"], check["passed"], check["fault"]) == (0, False, "faults[0] az-loss")
    result["faults"][0] = {
        **pinned({"use1-az1": 1, "use1-az2": 1}, {"use1-az2": 2}),
        "fault_index": 0,
    }
    [check] = fault_effect_checks(result)
    assert (check["observed"], check["passed"]) == (1, True)


def test_a_blackhole_result_says_what_it_did_not_cut_once() -> None:
    from chaos.faults.az_loss.evidence import add_blackhole_caveat

    blackhole = {"type": "az-loss", "changed": {"action": "create-acl"}}
    result: dict[str, Any] = {"faults": [blackhole, dict(blackhole)], "notes": []}
    add_blackhole_caveat(result)
    add_blackhole_caveat(result)
    [note] = result["notes"]
    assert "within a subnet" in note and "vpc-network-acls.html" in note
    pinned_only: dict[str, Any] = {
        "faults": [{"type": "az-loss", "changed": {"action": "pin"}}],
        "notes": [],
    }
    add_blackhole_caveat(pinned_only)
    assert pinned_only["notes"] == []


def test_az_loss_is_judged_without_load_its_evidence_is_the_placement() -> None:
    """A fault phase without load leaves a lambda-extension's effect not judged (it is
    what the clients and the telemetry saw); an az-loss's is the placement it read."""
    stuck = {
        **pinned({"use1-az1": 1, "use1-az2": 1}, {"use1-az1": 1, "use1-az2": 1}),
        "fault_index": 0,
    }
    injected_nothing = {"type": "lambda-extension", "target": "orders", "fault_index": 1}
    result: dict[str, Any] = {
        "fault_kinds": ["az-loss", "lambda-extension"],
        "phases": {"fault": {"requests": 0}},
        "faults": [stuck, injected_nothing],
    }
    az_loss, extension = fault_effect_checks(result)
    assert (az_loss["observed"], az_loss["passed"]) == (0, False)
    assert az_loss["note"] == "capacity stayed in the lost AZ ID: ecs:shop/web"
    assert (extension["passed"], extension["note"]) == (
        True,
        "not judged: no load in the fault phase",
    )
