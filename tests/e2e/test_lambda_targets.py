"""Real Lambda targets on the sandbox: aliases, weights, refusals, and the fault that never
fired (issue "Real Lambda targets", acceptance 1-4). The alias, weight and refusal tests
run on the fast sandbox and under `--realism aws` (updates in progress, conflicts,
throttling, in-flight invocations on the old configuration)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chaos.aws import AwsClients
from chaos.sandbox.demo.seed import orders_function_zip
from chaos.sandbox.process import control
from tests.e2e.conftest import gameday_ok

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = REPO / "loadtests" / "orders.py"


def rest_api(sandbox_clients: AwsClients) -> tuple[Any, str, str]:
    """The stage's API client, API id and its {proxy+} resource id."""
    state = control.read_state()
    assert state is not None
    api_id = state.service["rest_api_id"]
    apigateway = sandbox_clients.client("apigateway")
    proxy = next(
        item
        for item in apigateway.get_resources(restApiId=api_id)["items"]
        if item.get("pathPart") == "{proxy+}"
    )
    return apigateway, api_id, proxy["id"]


def point_integration(sandbox_clients: AwsClients, function_ref: str) -> None:
    """Invoke `function_ref` (orders, orders:live) from ANY /{proxy+}, and deploy."""
    apigateway, api_id, resource_id = rest_api(sandbox_clients)
    arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_ref}"
    apigateway.put_integration(
        restApiId=api_id,
        resourceId=resource_id,
        httpMethod="ANY",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        timeoutInMillis=29000,
        uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations",
    )
    apigateway.create_deployment(restApiId=api_id, stageName="prod")


@pytest.fixture
def live(sandbox_clients: AwsClients) -> Iterator[Any]:
    """Version 1 of orders, alias live -> 1, and the prod stage invoking orders:live."""
    lambda_ = sandbox_clients.lambda_
    version = lambda_.publish_version(FunctionName="orders", Description="release 1")["Version"]
    lambda_.create_alias(FunctionName="orders", Name="live", FunctionVersion=version)
    point_integration(sandbox_clients, "orders:live")
    try:
        yield lambda_
    finally:
        point_integration(sandbox_clients, "orders")
        lambda_.delete_alias(FunctionName="orders", Name="live")
        lambda_.delete_function(FunctionName="orders", Qualifier=version)


def target_state(lambda_: Any) -> dict[str, Any]:
    latest = lambda_.get_function_configuration(FunctionName="orders")
    alias = lambda_.get_alias(FunctionName="orders", Name="live")
    return {
        "layers": latest.get("Layers"),
        "environment": latest.get("Environment"),
        "alias_version": alias["FunctionVersion"],
        "alias_weights": (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {},
        "versions": [
            item["Version"]
            for item in lambda_.list_versions_by_function(FunctionName="orders")["Versions"]
        ],
    }


def experiment(
    directory: Path, name: str, fault: str, *, phases: str, users: int = 10, extra: str = ""
) -> Path:
    path = directory / f"{name}.yaml"
    path.write_text(
        "version: 1\nkind: experiment\n"
        f"name: {name}\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        f"phases: {phases}\n"
        "max_duration: 5m\n"
        f"faults:\n{fault}"
        "load:\n"
        f"  locustfile: {LOCUSTFILE}\n"
        f"  users: {users}\n"
        f"  spawn_rate: {users}\n" + extra
    )
    return path


def run(
    sandbox_home: Path, path: Path, report_dir: Path, timeout: float = 240
) -> tuple[int, dict[str, Any] | None, str]:
    done = gameday_ok(
        sandbox_home,
        "run",
        "--sandbox",
        str(path),
        "--yes",
        "--report-dir",
        str(report_dir),
        timeout=timeout,
    )
    result_path = report_dir / "result.json"
    result = json.loads(result_path.read_text()) if result_path.exists() else None
    return done.returncode, result, done.stdout + done.stderr


@pytest.mark.parametrize("sandbox_home", ["fast", "aws"], indirect=True)
def test_a_fault_on_the_alias_reaches_the_endpoint_and_leaves_it_as_it_was(
    sandbox_home: Path, sandbox_clients: AwsClients, live: Any, tmp_path: Path
) -> None:
    before = target_state(live)
    path = experiment(
        tmp_path,
        "alias-latency",
        "  - type: lambda-extension\n    functions: [orders:live]\n"
        "    latency: {ms: 250, rate: 1.0}\n",
        phases="{baseline: 10s, fault: 15s, recovery: 5s}",
    )
    code, result, output = run(sandbox_home, path, tmp_path / "reports")
    assert code == 0, output
    assert result is not None
    baseline = result["phases"]["baseline"]["latency_ms"]["p50"]
    fault = result["phases"]["fault"]["latency_ms"]["p50"]
    assert fault >= baseline + 200, (baseline, fault)
    assert target_state(live) == before
    (entry,) = result["faults"]
    assert entry["restore_status"] == "restored" and len(entry["steps"]) == 3
    assert entry["apply_s"] is not None and entry["effective_at"] is not None
    effect = [check for check in result["slo"] if check["sli"] == "fault_effect"]
    assert effect and all(check["passed"] for check in effect), effect


@pytest.mark.parametrize("sandbox_home", ["fast", "aws"], indirect=True)
def test_targeting_latest_while_the_endpoint_invokes_the_alias_is_refused(
    sandbox_home: Path, sandbox_clients: AwsClients, live: Any, tmp_path: Path
) -> None:
    before = target_state(live)
    path = experiment(
        tmp_path,
        "latest-only",
        "  - type: lambda-extension\n    functions: [orders]\n    latency: {ms: 250, rate: 1.0}\n",
        phases="{baseline: 1s, fault: 2s, recovery: 1s}",
    )
    code, result, output = run(sandbox_home, path, tmp_path / "reports", timeout=60)
    assert code == 2, output
    errors = [line for line in output.splitlines() if line.startswith("gameday:")]
    assert len(errors) == 1 and "orders:live" in errors[0], output
    assert result is None and target_state(live) == before


@pytest.mark.parametrize("sandbox_home", ["fast", "aws"], indirect=True)
def test_a_weighted_alias_errors_on_its_share_of_the_traffic(
    sandbox_home: Path, sandbox_clients: AwsClients, live: Any, tmp_path: Path
) -> None:
    path = experiment(
        tmp_path,
        "alias-weight",
        "  - type: lambda-extension\n    functions: [orders:live]\n"
        "    weight: 0.25\n    error: {status_code: 503, rate: 1.0}\n",
        phases="{baseline: 8s, fault: 25s, recovery: 8s}",
        users=24,
    )
    code, result, output = run(sandbox_home, path, tmp_path / "reports")
    assert result is not None, output
    fault = result["phases"]["fault"]
    assert fault["requests"] >= 300, fault["requests"]
    assert abs(fault["error_rate"] - 0.25) <= 0.07, fault["error_rate"]
    # No injected error outside the fault phase (a 5xx there can be the function throttled
    # while the restore recycles its environments: API Gateway's 500, not the fault's 503).
    for name in ("baseline", "recovery"):
        phase = result["phases"][name]
        assert phase["injected_responses"] == 0, (name, phase["status_classes"])


@pytest.fixture
def payments(sandbox_clients: AwsClients) -> Iterator[str]:
    """A second Python function that the endpoint never invokes."""
    lambda_ = sandbox_clients.lambda_
    config = lambda_.get_function_configuration(FunctionName="orders")
    lambda_.create_function(
        FunctionName="payments",
        Runtime=config["Runtime"],
        Role=config["Role"],
        Handler=config["Handler"],
        Code={"ZipFile": orders_function_zip()},
        Timeout=10,
    )
    try:
        yield "payments"
    finally:
        lambda_.delete_function(FunctionName="payments")


@pytest.mark.parametrize("expect_effect", [True, False])
def test_a_fault_that_never_fires_fails_the_run(
    sandbox_home: Path, payments: str, tmp_path: Path, expect_effect: bool
) -> None:
    path = experiment(
        tmp_path,
        f"never-fires-{str(expect_effect).lower()}",
        f"  - type: lambda-extension\n    functions: [{payments}]\n"
        "    latency: {ms: 250, rate: 1.0}\n",
        phases="{baseline: 3s, fault: 8s, recovery: 3s}",
        users=4,
        extra="" if expect_effect else "expect_effect: false\n",
    )
    code, result, output = run(sandbox_home, path, tmp_path / "reports")
    assert result is not None, output
    effect = [check for check in result["slo"] if check["sli"] == "fault_effect"]
    if expect_effect:
        assert (code, result["outcome"]) == (1, "failed"), output
        assert [check["passed"] for check in effect] == [False]
        junit = (tmp_path / "reports" / "junit.xml").read_text()
        assert "fault_effect" in junit and "<failure" in junit
    else:
        assert (code, result["outcome"]) == (0, "passed"), output
        assert effect == []
