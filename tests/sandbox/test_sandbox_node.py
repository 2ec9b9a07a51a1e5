"""The sandbox's Node.js function `orders-node`, live: its routes under /node, the real
Node.js runtime interface client, and the fault extension's every mode on it and on
`orders` - the layer and AWS_LAMBDA_EXEC_WRAPPER set through the Lambda API, the way the
toolkit sets them - gone again once the configuration is restored byte for byte.

One sandbox for the module (integration timeout 6 s); one more, without Node.js on its
PATH, for the line `gameday sandbox up` prints then.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chaos.aws import AwsClients
from chaos.faults.lambda_extension.layer import build_layer_zip
from chaos.sandbox.demo.seed import NODE_FUNCTION_NAME, orders_node_function_zip
from chaos.sandbox.functions.local import install_node_ric
from chaos.sandbox.functions.local.node_ric import NodeRuntimeUnavailable
from tests.sandbox.support import AZ_IDS, Sandbox, call, live_sandbox, metric_sum, wait_for

REPO = Path(__file__).resolve().parents[2]
INTEGRATION_TIMEOUT_S = 6.0
WRAPPER = "/opt/gameday-chaos-wrapper"
# What a configuration change may change besides what the test set and restored.
VOLATILE_KEYS = {
    "LastModified",
    "RevisionId",
    "ResponseMetadata",
    "LastUpdateStatus",
    "LastUpdateStatusReason",
    "LastUpdateStatusReasonCode",
    "State",
    "StateReason",
    "StateReasonCode",
}

pytestmark = pytest.mark.timeout(180)


def _node_client_or_skip() -> None:
    try:
        install_node_ric()
    except NodeRuntimeUnavailable as error:
        pytest.skip(f"no Node.js runtime client on this machine: {error}")


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    _node_client_or_skip()
    with live_sandbox(
        tmp_path_factory.mktemp("sandbox-node"),
        GAMEDAY_SANDBOX_INTEGRATION_TIMEOUT_S=str(INTEGRATION_TIMEOUT_S),
        GAMEDAY_SANDBOX_POOL_MAX="4",
    ) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def layer_arn(sandbox: Sandbox) -> str:
    return str(
        sandbox.clients.lambda_.publish_layer_version(
            LayerName="gameday-chaos",
            Content={"ZipFile": build_layer_zip("x86_64")},
            CompatibleRuntimes=["python3.12", "nodejs20.x"],
        )["LayerVersionArn"]
    )


def test_orders_node_answers_its_routes_with_node_in_the_functions_subnets(
    sandbox: Sandbox,
) -> None:
    health = sandbox.request("/node/health")
    assert health.status == 200, health.body
    assert health.json()["runtime"].startswith("node v") and health.json()["az"] in AZ_IDS
    created = sandbox.request("/node/orders", method="POST", body=b'{"items": ["cup"]}')
    assert created.status == 201 and created.json()["items"] == ["cup"], created.body
    fetched = sandbox.request(f"/node/orders/{created.json()['id']}")
    assert fetched.status == 200 and fetched.json() == created.json()
    assert created.json()["id"] in {
        order["id"] for order in sandbox.request("/node/orders").json()["orders"]
    }
    assert sandbox.request("/node/nothing").status == 404
    assert sandbox.request("/health").json()["ok"] is True  # orders keeps /{proxy+}
    [pool] = [p for p in sandbox.status()["functions"] if p["function"] == NODE_FUNCTION_NAME]
    assert {env["az_id"] for env in pool["environments"]} <= set(AZ_IDS)
    node = sandbox.status()["runtimes"]["nodejs"]
    assert node["state"] == "ready" and node["cache_dir"], node
    config = sandbox.clients.lambda_.get_function_configuration(FunctionName=NODE_FUNCTION_NAME)
    orders = sandbox.clients.lambda_.get_function_configuration(FunctionName="orders")
    assert (config["Runtime"], config["Handler"]) == ("nodejs20.x", "index.handler")
    assert config["VpcConfig"]["SubnetIds"] == orders["VpcConfig"]["SubnetIds"]
    assert orders["Runtime"] == "python3.12"


def _table_count(clients: AwsClients, table: str) -> int:
    """Items in the table (0 before the function's first write creates it)."""
    dynamodb = clients.client("dynamodb")
    try:
        return int(dynamodb.scan(TableName=table, Select="COUNT")["Count"])
    except dynamodb.exceptions.ResourceNotFoundException:
        return 0


def _faults_config(faults: dict[str, Any]) -> str:
    from gameday_chaos.config import dump_config

    return str(dump_config(faults, run_id="r-node-test", expires_at=time.time() + 600))


def _comparable(config: Mapping[str, Any]) -> str:
    return json.dumps({k: v for k, v in config.items() if k not in VOLATILE_KEYS}, sort_keys=True)


@dataclass(frozen=True)
class Target:
    function: str
    prefix: str  # its routes under the stage
    table: str
    reports_tmp: bool  # its health route says how full /tmp is (the Node.js demo does)


TARGETS = {
    "orders": Target("orders", "", "orders", False),
    "orders-node": Target(NODE_FUNCTION_NAME, "/node", "orders-node", True),
}


@dataclass(frozen=True)
class Mode:
    faults: dict[str, Any]
    fault_type: str  # FaultType of its InjectedFaults metric
    observe: Callable[[Sandbox, Target], None]  # what the clients see while it is on
    timeout_s: int | None = None  # the function's timeout for the run


def _see_latency(sandbox: Sandbox, target: Target) -> None:
    replies = [sandbox.request(f"{target.prefix}/health") for _ in range(3)]
    assert all(reply.status == 200 for reply in replies)
    assert min(reply.elapsed_s for reply in replies) >= 0.3  # a lower bound: a delay added


def _see_error(sandbox: Sandbox, target: Target) -> None:
    reply = sandbox.request(f"{target.prefix}/health")
    assert reply.status == 503 and reply.headers.get("x-gameday-chaos-fault") == "error"
    assert reply.json()["injected_fault"] == "error"


def _see_exception(sandbox: Sandbox, target: Target) -> None:
    reply = sandbox.request(f"{target.prefix}/health")
    assert reply.status == 502, reply.body


def _see_timeout(sandbox: Sandbox, target: Target) -> None:
    reply = sandbox.request(f"{target.prefix}/health", timeout=30)
    assert reply.status in (502, 504), (reply.status, reply.body)


def _see_prevent_execution(sandbox: Sandbox, target: Target) -> None:
    before = _table_count(sandbox.clients, target.table)
    replies = [
        sandbox.request(f"{target.prefix}/orders", method="POST", body=b'{"items": [1]}')
        for _ in range(3)
    ]
    assert [reply.status for reply in replies] == [503] * 3
    assert _table_count(sandbox.clients, target.table) == before  # the handler never ran


def _see_match(sandbox: Sandbox, target: Target) -> None:
    posted = sandbox.request(f"{target.prefix}/orders", method="POST", body=b'{"items": [2]}')
    listed = sandbox.request(f"{target.prefix}/orders")
    health = sandbox.request(f"{target.prefix}/health")
    assert posted.status == 503 and posted.headers.get("x-gameday-chaos-fault") == "error"
    assert (listed.status, health.status) == (200, 200)
    assert "x-gameday-chaos-fault" not in listed.headers


def _see_corruption(sandbox: Sandbox, target: Target) -> None:
    reply = sandbox.request(f"{target.prefix}/health")
    assert reply.status == 200 and reply.body == b'{"oops":'
    assert reply.headers.get("x-gameday-chaos-fault") == "corruption"


def _see_disk(sandbox: Sandbox, target: Target) -> None:
    reply = sandbox.request(f"{target.prefix}/health")
    assert reply.status == 200, reply.body
    if target.reports_tmp:
        assert reply.json()["tmp_used_mb"] >= 8, reply.json()


MODES = {
    "latency": Mode({"latency": {"ms": 300, "rate": 1.0}}, "latency", _see_latency),
    "error": Mode({"error": {"status_code": 503, "rate": 1.0}}, "error", _see_error),
    "exception": Mode({"exception": {"rate": 1.0}}, "exception", _see_exception),
    "timeout": Mode({"timeout": {"rate": 1.0}}, "timeout", _see_timeout, timeout_s=2),
    "prevent_execution": Mode(
        {"error": {"status_code": 503, "rate": 1.0, "prevent_execution": True}},
        "error",
        _see_prevent_execution,
    ),
    "match": Mode(
        {
            "error": {
                "status_code": 503,
                "rate": 1.0,
                "match": [
                    {"path": "httpMethod", "equals": "POST"},
                    {"path": "path", "regex": "/orders$"},
                ],
            }
        },
        "error",
        _see_match,
    ),
    "corruption": Mode(
        {"corruption": {"rate": 1.0, "mode": "replace", "body": '{"oops":'}},
        "corruption",
        _see_corruption,
    ),
    "disk": Mode({"disk": {"mb": 8, "rate": 1.0}}, "disk", _see_disk),
}


def _injected(sandbox: Sandbox, function: str, fault_type: str) -> float:
    return metric_sum(
        sandbox.clients,
        "Chaos",
        "InjectedFaults",
        {"FunctionName": function, "FaultType": fault_type},
    )


@pytest.mark.parametrize("mode_name", list(MODES))
@pytest.mark.parametrize("target_name", list(TARGETS))
def test_every_fault_mode_fires_through_the_exec_wrapper_and_is_gone_after_restore(
    sandbox: Sandbox, layer_arn: str, target_name: str, mode_name: str
) -> None:
    target, mode = TARGETS[target_name], MODES[mode_name]
    lambda_ = sandbox.clients.lambda_
    original = lambda_.get_function_configuration(FunctionName=target.function)
    injected_before = _injected(sandbox, target.function, mode.fault_type)
    variables = dict(original["Environment"]["Variables"])
    faulted = {
        **variables,
        "AWS_LAMBDA_EXEC_WRAPPER": WRAPPER,
        "GAMEDAY_CHAOS_CONFIG": _faults_config(mode.faults),
    }
    lambda_.update_function_configuration(
        FunctionName=target.function,
        Layers=[layer_arn],
        Environment={"Variables": faulted},
        Timeout=mode.timeout_s or original["Timeout"],
    )
    try:
        mode.observe(sandbox, target)
        wait_for(
            lambda: _injected(sandbox, target.function, mode.fault_type) > injected_before,
            timeout=30,
            what=f"an InjectedFaults datapoint for {mode.fault_type}",
        )
    finally:
        lambda_.update_function_configuration(
            FunctionName=target.function,
            Layers=[],
            Environment={"Variables": variables},
            Timeout=original["Timeout"],
        )
    restored = lambda_.get_function_configuration(FunctionName=target.function)
    assert _comparable(restored) == _comparable(original)
    after = [sandbox.request(f"{target.prefix}/health") for _ in range(3)]
    assert [reply.status for reply in after] == [200] * 3
    assert not any("x-gameday-chaos-fault" in reply.headers for reply in after)
    if target.reports_tmp:
        assert after[-1].json()["tmp_used_mb"] < 8


USER_HANDLER = """
const os = require("node:os");
exports.handler = async (event, context) => ({
  statusCode: 200,
  headers: {"Content-Type": "application/json"},
  body: JSON.stringify({mine: true, path: event.path, fn: context.functionName,
                        wrapper: process.env.AWS_LAMBDA_EXEC_WRAPPER || null}),
});
"""


def _user_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("lib/handler.js", USER_HANDLER)
    return buffer.getvalue()


def test_a_users_own_node_handler_deployed_as_a_zip_runs_and_is_faulted(
    sandbox: Sandbox, layer_arn: str
) -> None:
    lambda_ = sandbox.clients.lambda_
    original = lambda_.get_function_configuration(FunctionName=NODE_FUNCTION_NAME)
    lambda_.update_function_code(FunctionName=NODE_FUNCTION_NAME, ZipFile=_user_zip())
    lambda_.update_function_configuration(
        FunctionName=NODE_FUNCTION_NAME, Handler="lib/handler.handler"
    )
    try:
        mine = sandbox.request("/node/anything")
        assert mine.status == 200, mine.body
        assert mine.json() == {
            "mine": True,
            "path": "/node/anything",
            "fn": NODE_FUNCTION_NAME,
            "wrapper": None,
        }
        variables = dict(original["Environment"]["Variables"])
        lambda_.update_function_configuration(
            FunctionName=NODE_FUNCTION_NAME,
            Layers=[layer_arn],
            Environment={
                "Variables": {
                    **variables,
                    "AWS_LAMBDA_EXEC_WRAPPER": WRAPPER,
                    "GAMEDAY_CHAOS_CONFIG": _faults_config(
                        {"error": {"status_code": 500, "rate": 1.0}}
                    ),
                }
            },
        )
        faulted = sandbox.request("/node/anything")
        assert faulted.status == 500 and faulted.headers["x-gameday-chaos-fault"] == "error"
        lambda_.update_function_configuration(
            FunctionName=NODE_FUNCTION_NAME, Layers=[], Environment={"Variables": variables}
        )
        again = sandbox.request("/node/anything")
        assert again.status == 200 and again.json()["mine"] is True
    finally:
        lambda_.update_function_code(
            FunctionName=NODE_FUNCTION_NAME, ZipFile=orders_node_function_zip()
        )
        lambda_.update_function_configuration(
            FunctionName=NODE_FUNCTION_NAME,
            Handler="index.handler",
            Layers=[],
            Environment={"Variables": dict(original["Environment"]["Variables"])},
        )
    assert sandbox.request("/node/health").status == 200


def test_without_nodejs_sandbox_up_says_why_in_one_line_and_the_python_service_runs(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    env = {
        **os.environ,
        "GAMEDAY_HOME": str(home),
        "GAMEDAY_CACHE_DIR": str(tmp_path / "cache"),
        "PATH": str(Path(sys.executable).parent),
    }  # no node, no npm
    try:
        done = subprocess.run(
            [sys.executable, "-m", "chaos", "sandbox", "up"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=150,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        lines = [line for line in done.stdout.splitlines() if NODE_FUNCTION_NAME in line]
        assert len(lines) == 1, done.stdout
        assert "unavailable" in lines[0] and "Node.js is not installed" in lines[0], lines
        assert "the Python service runs" in lines[0]
        front = json.loads((home / "sandbox.json").read_text())["http_front"]
        reply = call(front + "/prod/health")
        assert reply.status == 200, reply.body
        unavailable = call(front + "/prod/node/health")
        assert unavailable.status == 502, unavailable.body
    finally:
        subprocess.run(
            [sys.executable, "-m", "chaos", "sandbox", "down"],
            cwd=REPO,
            env=env,
            capture_output=True,
            timeout=60,
            check=False,
        )
