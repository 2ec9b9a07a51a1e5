"""The automatic `fault_effect` check of lambda-extension faults, in an assembled result.

Evidence of an injection: the extension's telemetry (InjectedFaults, CloudWatch EMF) once
settled, or responses the clients saw marked (error faults mark theirs; latency and
exception faults mark none). Missing or unsettled evidence fails the check as such,
never as "the fault never fired" and never as a pass.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from chaos.metrics.catalog import FAULT_EFFECT
from chaos.result.assemble import fault_effect_checks
from chaos.result.refresh import refresh_server_side
from tests.unit.assembled import EXPERIMENT, FUNCTION_ARN, assembled, fault_entry, server_side

SECOND_FUNCTION_ARN = FUNCTION_ARN.replace(":orders", ":orders-get")


def effect_checks(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [check for check in result["slo"] if check["sli"] == FAULT_EFFECT]


def effect(result: dict[str, Any]) -> dict[str, Any]:
    [check] = effect_checks(result)
    return check


def evidence(result: dict[str, Any], index: int = 0) -> dict[str, Any]:
    return dict(result["faults"][index]["observed_injections"])


def test_settled_telemetry_proves_a_latency_fault_that_marked_nothing(tmp_path: Path) -> None:
    result = assembled(tmp_path, server="settled", injected=57.0, marked_in_fault=0)
    assert evidence(result) == {
        "telemetry": 57,
        "client_marked_responses": 0,
        "telemetry_by_mode": {"latency": 57},
    }
    check = effect(result)
    assert (check["observed"], check["passed"], check.get("note")) == (57, True, None)
    assert result["outcome"] == "passed"


def test_marked_responses_prove_the_fault_without_telemetry(tmp_path: Path) -> None:
    for server in ("settled", "not settled", "unavailable"):
        result = assembled(tmp_path, server=server, injected=0.0, marked_in_fault=9)
        assert evidence(result)["client_marked_responses"] == 9, server
        assert result["phases"]["fault"]["injected_responses"] == 9
        check = effect(result)
        assert (check["observed"], check["passed"]) == (9, True), server


def test_settled_telemetry_of_zero_and_no_marked_response_never_fired(tmp_path: Path) -> None:
    result = assembled(tmp_path, server="settled", injected=None, marked_in_fault=0)
    assert evidence(result) == {
        "telemetry": 0,
        "client_marked_responses": 0,
        "telemetry_by_mode": {},
    }
    check = effect(result)
    assert (check["observed"], check["passed"]) == (0, False)
    assert check["note"] == "the fault never fired: no injection observed"
    assert result["outcome"] == "failed"


def test_unsettled_telemetry_fails_as_not_settled_not_as_never_fired(tmp_path: Path) -> None:
    result = assembled(tmp_path, server="not settled", injected=57.0, marked_in_fault=0)
    observed = evidence(result)
    assert observed["telemetry"] is None and observed["client_marked_responses"] == 0
    assert observed["telemetry_note"].startswith("not settled:")
    check = effect(result)
    assert (check["observed"], check["passed"]) == (None, False)
    assert check["note"].startswith("not settled: the extension's telemetry (InjectedFaults)")
    assert "gameday report --refresh" in check["note"]
    assert "never fired" not in check["note"]
    assert result["outcome"] == "failed"


@pytest.mark.parametrize(
    ("server", "why"),
    [
        ("unavailable", "server-side metrics unavailable: CloudWatch endpoint unreachable"),
        ("none", "the extension's InjectedFaults metric was not read"),
    ],
)
def test_unreadable_telemetry_fails_as_not_measured(tmp_path: Path, server: str, why: str) -> None:
    result = assembled(tmp_path, server=server, marked_in_fault=0)  # type: ignore[arg-type]
    assert evidence(result)["telemetry"] is None
    check = effect(result)
    assert (check["observed"], check["passed"]) == (None, False)
    assert check["note"] == (
        f"not measured: the extension's telemetry (InjectedFaults) is missing ({why}) and no "
        "client saw a marked response (latency and exception faults mark none)"
    )


def test_refresh_with_settled_telemetry_judges_the_fault_again(tmp_path: Path) -> None:
    result = assembled(tmp_path, server="not settled", injected=57.0)
    assert effect(result)["passed"] is False
    figures = server_side("settled", 57.0)
    assert figures is not None
    refresh_server_side(result, copy.deepcopy(figures))
    assert evidence(result) == {
        "telemetry": 57,
        "client_marked_responses": 0,
        "telemetry_by_mode": {"latency": 57},
    }
    assert (effect(result)["observed"], effect(result)["passed"]) == (57, True)
    assert result["outcome"] == "passed"


def test_two_lambda_faults_count_only_their_own_telemetry(tmp_path: Path) -> None:
    two_faults = [fault_entry(0), fault_entry(1, SECOND_FUNCTION_ARN)]
    text = EXPERIMENT.replace(
        "load:\n",
        "  - type: lambda-extension\n    functions: [orders-get]\n    latency: {ms: 100}\nload:\n",
    )
    settled = assembled(
        tmp_path,
        server="settled",
        injected=12.0,
        marked_in_fault=5,
        entries=two_faults,
        experiment_text=text,
    )
    # The double answers 12 for the function `orders` and for `orders-get` alike; marked
    # responses cannot say which fault made them.
    assert [evidence(settled, index) for index in (0, 1)] == [
        {"telemetry": 12, "client_marked_responses": None, "telemetry_by_mode": {"latency": 12}}
    ] * 2
    assert [check["passed"] for check in effect_checks(settled)] == [True, True]
    unsettled = assembled(
        tmp_path,
        server="not settled",
        injected=12.0,
        marked_in_fault=5,
        entries=two_faults,
        experiment_text=text,
    )
    checks = effect_checks(unsettled)
    assert [(check["observed"], check["passed"]) for check in checks] == [(None, False)] * 2
    assert all("cannot be told apart" in check["note"] for check in checks)


def test_a_fault_that_changed_no_target_and_one_without_load() -> None:
    no_target = {
        "fault_kinds": ["lambda-extension"],
        "faults": [],
        "phases": {"fault": {"requests": 10}},
    }
    [check] = fault_effect_checks(no_target)
    assert (check["observed"], check["passed"], check["note"]) == (
        0,
        False,
        "the fault changed no target",
    )
    idle = {"fault_kinds": ["lambda-extension"], "faults": [], "phases": {"fault": {"requests": 0}}}
    [check] = fault_effect_checks(idle)
    assert (check["passed"], check["note"]) == (True, "not judged: no load in the fault phase")


def test_expect_effect_false_adds_no_check(tmp_path: Path) -> None:
    result = assembled(
        tmp_path,
        server="settled",
        injected=None,
        experiment_text=EXPERIMENT + "expect_effect: false\n",
    )
    assert effect_checks(result) == [] and result["outcome"] == "passed"


@pytest.mark.parametrize("mode", ["corruption", "disk", "error", "timeout"])
def test_telemetry_of_every_mode_proves_the_fault(tmp_path: Path, mode: str) -> None:
    """The extension counts InjectedFaults under FaultType = the mode (extension/README.md,
    "Telemetry"): a corruption- or disk-only fault is proved by its own count, not judged
    "never fired" because only the first four modes were read."""
    result = assembled(tmp_path, server="settled", injected=7.0, marked_in_fault=0, mode=mode)
    assert evidence(result)["telemetry_by_mode"] == {mode: 7}
    check = effect(result)
    assert (check["observed"], check["passed"]) == (7, True)


def test_an_extension_that_failed_open_is_reported(tmp_path: Path) -> None:
    result = assembled(tmp_path, server="settled", injected=None, marked_in_fault=0, fail_open=3.0)
    assert evidence(result)["fail_open_environments"] == 3
    check = effect(result)
    assert (check["observed"], check["passed"]) == (0, False)
    assert "failed open in 3 execution environment(s) (ExtensionFailOpen" in check["note"]
