"""Issue 23, acceptance 1 and 2, end to end: `gameday run --sandbox` faults `orders` (Python)
and `orders-node` (Node.js 20) with every Lambda fault mode; each fires in the fault phase,
is seen by the clients and by `fault_effect`, and is gone after the restore, the
functions' configuration byte for byte as before. Then a user's own Node.js handler,
deployed to `orders-node` with update_function_code (a zip), the same way.

Every run is judged in full (the toolkit accepts Node.js functions and every mode).
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaos.aws import AwsClients
from chaos.clock import epoch_seconds
from chaos.sandbox.demo.seed import NODE_FUNCTION_NAME, orders_node_function_zip
from chaos.sandbox.functions.local import install_node_ric
from chaos.sandbox.functions.local.node_ric import NodeRuntimeUnavailable
from chaos.sandbox.process import control
from tests.e2e.conftest import function_state, gameday_ok
from tests.sandbox.support import call

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Target:
    function: str
    locustfile: Path
    table: str


TARGETS = {
    "orders": Target("orders", REPO / "loadtests" / "orders.py", "orders"),
    "orders-node": Target(NODE_FUNCTION_NAME, REPO / "loadtests" / "orders_node.py", "orders-node"),
}

# The fault block's mode lines (PRODUCT.md "Lambda fault modes"; extension/README.md).
MODES = {
    "latency": "latency: {ms: 300, rate: 1.0}",
    "error": "error: {status_code: 503, rate: 0.5}",
    "exception": "exception: {rate: 0.5}",
    "timeout": "timeout: {rate: 0.5}",
    "prevent_execution": "error: {status_code: 503, rate: 1.0, prevent_execution: true}",
    "match": (
        "error:\n      status_code: 503\n      rate: 1.0\n      match:\n"
        "        - {path: httpMethod, equals: POST}"
    ),
    "corruption": "corruption: {rate: 1.0, mode: replace, body: '{\"oops\":'}",
    "disk": "disk: {mb: 8, rate: 1.0}",
}
TIMEOUT_MODE_FUNCTION_TIMEOUT_S = 2  # the function's timeout while the timeout mode runs


@pytest.fixture(scope="module")
def node_client() -> None:
    try:
        install_node_ric()
    except NodeRuntimeUnavailable as error:
        pytest.skip(f"no Node.js runtime client on this machine: {error}")


def experiment(directory: Path, target: Target, mode: str, phases: str) -> Path:
    path = directory / f"{target.function}-{mode}.yaml"
    path.write_text(
        "version: 1\nkind: experiment\n"
        f"name: {target.function}-{mode.replace('_', '-')}\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        f"phases: {phases}\n"
        "max_duration: 5m\n"
        "faults:\n"
        f"  - type: lambda-extension\n    functions: [{target.function}]\n"
        f"    {MODES[mode]}\n"
        "load:\n"
        f"  locustfile: {target.locustfile}\n"
        "  users: 6\n  spawn_rate: 6\n"
    )
    return path


def run(home: Path, path: Path, report_dir: Path) -> tuple[int, dict[str, Any] | None, str]:
    done = gameday_ok(
        home, "run", "--sandbox", str(path), "--yes", "--report-dir", str(report_dir), timeout=240
    )
    result_path = report_dir / "result.json"
    result = json.loads(result_path.read_text()) if result_path.exists() else None
    return done.returncode, result, done.stdout + done.stderr


def order_times(clients: AwsClients, table: str) -> list[float]:
    """When each order in the table was written (the handler's own `at`, epoch seconds)."""
    dynamodb = clients.client("dynamodb")
    try:
        items = dynamodb.scan(TableName=table)["Items"]
    except dynamodb.exceptions.ResourceNotFoundException:
        return []
    return [float(json.loads(item["order"]["S"])["at"]) for item in items]


#: Invocations already running when the fault came in force, or started by an environment
#: recycled a moment later, may still finish; so may the first ones after the restore.
IN_FORCE_MARGIN_S = 1.0


def assert_no_order_written_while_in_force(
    clients: AwsClients, table: str, result: dict[str, Any]
) -> None:
    """prevent_execution: the handler never ran while the fault was in force, although the
    clients sent orders then (the load runs before and after the fault too, so the table
    may grow outside that window)."""
    (fault,) = result["faults"]
    start = epoch_seconds(fault["effective_at"]) + IN_FORCE_MARGIN_S
    end = epoch_seconds(result["phases"]["fault"]["ended_at"]) - IN_FORCE_MARGIN_S
    assert end - start > 3, (start, end)
    assert result["phases"]["fault"]["requests"] > 0, result["phases"]["fault"]
    written = [at for at in order_times(clients, table) if start <= at <= end]
    assert written == [], f"{len(written)} order(s) written while the fault was in force"


@pytest.fixture
def function_timeout(sandbox_clients: AwsClients, request: pytest.FixtureRequest) -> Iterator[None]:
    """The timeout mode runs with a short function timeout (set before, reset after)."""
    target, mode = request.node.callspec.params["target_name"], request.node.callspec.params["mode"]
    name = TARGETS[target].function
    original = sandbox_clients.lambda_.get_function_configuration(FunctionName=name)["Timeout"]
    if mode == "timeout":
        sandbox_clients.lambda_.update_function_configuration(
            FunctionName=name, Timeout=TIMEOUT_MODE_FUNCTION_TIMEOUT_S
        )
    try:
        yield
    finally:
        sandbox_clients.lambda_.update_function_configuration(FunctionName=name, Timeout=original)


def assert_no_fault_after_run(target: Target) -> None:
    """The function's routes answer unfaulted once the run is over."""
    state = control.read_state()
    assert state is not None and state.api_endpoint
    prefix = "/node" if target.function == NODE_FUNCTION_NAME else ""
    replies = [call(f"{state.api_endpoint}{prefix}/health") for _ in range(3)]
    assert [reply.status for reply in replies] == [200] * 3, [r.body for r in replies]
    assert not any("x-gameday-chaos-fault" in reply.headers for reply in replies)


def judge_clients(mode: str, result: dict[str, Any]) -> None:
    """What the clients saw in the fault phase, against the baseline."""
    baseline, fault = result["phases"]["baseline"], result["phases"]["fault"]
    assert fault["requests"] > 0, fault
    if mode == "latency":
        # every fault-phase request waits the 300 ms first: a lower bound, whatever the
        # baseline's cold starts on a loaded machine did to its percentiles
        assert fault["latency_ms"]["p50"] >= 300, (baseline["latency_ms"], fault["latency_ms"])
    elif mode in ("error", "exception", "timeout", "match"):
        assert fault["error_rate"] > 0, fault
    elif mode == "prevent_execution":
        assert fault["error_rate"] == 1.0, fault
    # corruption (a 200 with a broken body) and disk (a fuller /tmp) show in the clients'
    # marked responses and the extension's telemetry: fault_effect judges them
    assert baseline["error_rate"] == 0.0, baseline


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("target_name", list(TARGETS))
def test_every_mode_fires_on_python_and_node_and_is_restored_byte_for_byte(
    node_client: None,
    sandbox_home: Path,
    sandbox_clients: AwsClients,
    function_timeout: None,
    tmp_path: Path,
    target_name: str,
    mode: str,
    request: pytest.FixtureRequest,
) -> None:
    target = TARGETS[target_name]
    before = function_state(sandbox_clients, target.function)
    # prevent_execution: the only phase is the fault phase, so the table must not change
    phases = (
        "{baseline: 0s, fault: 8s, recovery: 0s}"
        if mode == "prevent_execution"
        else "{baseline: 5s, fault: 10s, recovery: 5s}"
    )
    code, result, output = run(
        sandbox_home, experiment(tmp_path, target, mode, phases), tmp_path / "reports"
    )
    assert code == 0, output
    assert result is not None
    if mode == "prevent_execution":
        assert_no_order_written_while_in_force(sandbox_clients, target.table, result)
    else:
        judge_clients(mode, result)
        if mode != "timeout":  # an invocation held past its deadline may end after restore
            assert result["phases"]["recovery"]["error_rate"] == 0.0, result["phases"]
    assert_no_fault_after_run(target)
    (entry,) = result["faults"]
    assert entry["restore_status"] == "restored", entry
    effect = [check for check in result["slo"] if check["sli"] == "fault_effect"]
    assert effect and all(check["passed"] for check in effect), effect
    assert function_state(sandbox_clients, target.function) == before


USER_HANDLER = """
exports.handler = async (event) => ({
  statusCode: 200,
  headers: {"Content-Type": "application/json"},
  body: JSON.stringify({mine: true, path: event.path}),
});
"""


@pytest.fixture
def users_own_handler(sandbox_clients: AwsClients) -> Iterator[None]:
    """orders-node running the user's own index.js (zip), put back as seeded afterwards."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.js", USER_HANDLER)
    lambda_ = sandbox_clients.lambda_
    lambda_.update_function_code(FunctionName=NODE_FUNCTION_NAME, ZipFile=buffer.getvalue())
    try:
        yield
    finally:
        lambda_.update_function_code(
            FunctionName=NODE_FUNCTION_NAME, ZipFile=orders_node_function_zip()
        )


def test_a_users_own_node_handler_is_faulted_and_restored(
    node_client: None,
    sandbox_home: Path,
    sandbox_clients: AwsClients,
    users_own_handler: None,
    tmp_path: Path,
) -> None:
    before = function_state(sandbox_clients, NODE_FUNCTION_NAME)
    code_before = sandbox_clients.lambda_.get_function(FunctionName=NODE_FUNCTION_NAME)[
        "Configuration"
    ]["CodeSha256"]
    path = experiment(
        tmp_path, TARGETS["orders-node"], "error", "{baseline: 5s, fault: 10s, recovery: 5s}"
    )
    code, result, output = run(sandbox_home, path, tmp_path / "reports")
    assert code == 0, output
    assert result is not None
    judge_clients("error", result)
    assert result["phases"]["recovery"]["error_rate"] == 0.0
    effect = [check for check in result["slo"] if check["sli"] == "fault_effect"]
    assert effect and all(check["passed"] for check in effect), effect
    assert function_state(sandbox_clients, NODE_FUNCTION_NAME) == before
    assert (
        sandbox_clients.lambda_.get_function(FunctionName=NODE_FUNCTION_NAME)["Configuration"][
            "CodeSha256"
        ]
        == code_before
    )
