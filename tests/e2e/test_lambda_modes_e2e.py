"""The toolkit's side of issue 23 end to end on `orders` (Python): a match-filtered
corruption fault is planned with its own line, fires only on the matching requests,
is proved per mode by fault_effect, and the function is restored byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.aws import AwsClients
from tests.e2e.conftest import function_state, gameday_ok
from tests.e2e.test_node_sandbox_faults import TARGETS, run

pytestmark = pytest.mark.e2e

CORRUPT_POSTS = (
    "corruption:\n      rate: 1.0\n      mode: replace\n      body: 'not json'\n"
    "      match:\n        - {path: httpMethod, equals: POST}"
)


def test_match_filtered_corruption_on_orders(
    sandbox_home: Path, sandbox_clients: AwsClients, tmp_path: Path
) -> None:
    target = TARGETS["orders"]
    before = function_state(sandbox_clients, target.function)
    path = tmp_path / "orders-corruption.yaml"
    path.write_text(
        "version: 1\nkind: experiment\nname: orders-corruption\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        "phases: {baseline: 4s, fault: 10s, recovery: 4s}\nmax_duration: 5m\n"
        "faults:\n  - type: lambda-extension\n    functions: [orders]\n"
        f"    {CORRUPT_POSTS}\n"
        f"load:\n  locustfile: {target.locustfile}\n  users: 6\n  spawn_rate: 6\n"
    )
    plan = gameday_ok(sandbox_home, "plan", "--sandbox", str(path), timeout=120)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert (
        "fault corruption: the handler's response body replaced by a fixed one on 100% of "
        "invocations where httpMethod equals 'POST'"
    ) in plan.stdout

    code, result, output = run(sandbox_home, path, tmp_path / "reports")
    assert code == 0, output
    assert result is not None
    (entry,) = result["faults"]
    evidence = entry["observed_injections"]
    # only the POSTs were corrupted: the GETs of the same load were not
    assert evidence["telemetry_by_mode"].get("corruption", 0) > 0, evidence
    assert set(evidence["telemetry_by_mode"]) == {"corruption"}, evidence
    fault = result["phases"]["fault"]
    assert 0 < evidence["telemetry"] < fault["requests"], (evidence, fault)
    effect = [check for check in result["slo"] if check["sli"] == "fault_effect"]
    assert effect and all(check["passed"] for check in effect), effect
    assert entry["restore_status"] == "restored", entry
    assert function_state(sandbox_clients, target.function) == before
