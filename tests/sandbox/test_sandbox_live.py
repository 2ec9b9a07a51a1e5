"""The sandbox's data plane, live: `gameday sandbox up`, then requests to its HTTP front.

One sandbox for the module (WAF rate check every 2 s, integration timeout 3 s).
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from chaos.aws import subnets as ec2_subnets
from chaos.sandbox.demo.seed import orders_function_zip
from chaos.sandbox.process import control
from tests.sandbox.support import AZ_IDS, Reply, Sandbox, call, live_sandbox, metric_sum, wait_for

REPO = Path(__file__).resolve().parents[2]
WAF_CHECK_S = 2.0
INTEGRATION_TIMEOUT_S = 3.0
API_DIMENSIONS = {"ApiName": "orders-api", "Stage": "prod"}
LAMBDA_DIMENSIONS = {"FunctionName": "orders"}

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with live_sandbox(
        tmp_path_factory.mktemp("sandbox-live"),
        GAMEDAY_SANDBOX_WAF_CHECK_S=str(WAF_CHECK_S),
        GAMEDAY_SANDBOX_INTEGRATION_TIMEOUT_S=str(INTEGRATION_TIMEOUT_S),
        GAMEDAY_SANDBOX_POOL_MAX="8",
    ) as sandbox:
        yield sandbox


def test_env_prints_the_endpoint_and_a_request_reaches_the_demo_function(sandbox: Sandbox) -> None:
    assert f"export GAMEDAY_SANDBOX_ENDPOINT={sandbox.endpoint}" in control.env_lines(sandbox.state)
    assert sandbox.endpoint.startswith("http://127.0.0.1:") and sandbox.endpoint.endswith("/prod")
    reply = sandbox.request("/orders?x=1")
    assert reply.status == 200, reply.body
    assert reply.json() == {"orders": []} or "orders" in reply.json()
    assert reply.headers["content-type"] == "application/json"
    created = sandbox.request("/orders", method="POST", body=b'{"items": ["book"]}')
    assert created.status == 201 and created.json()["items"] == ["book"]
    # the orders live in DynamoDB: numbers come back as numbers, every environment sees them
    items = [{"sku": "sku-mug", "quantity": 2}, {"sku": "sku-beans", "quantity": 0.5}]
    counted = sandbox.request("/orders", method="POST", body=json.dumps({"items": items}).encode())
    assert counted.status == 201 and counted.json()["items"] == items
    listed = sandbox.request("/orders")
    assert listed.status == 200, listed.body
    assert {order["id"] for order in listed.json()["orders"]} >= {
        created.json()["id"],
        counted.json()["id"],
    }
    fetched = sandbox.request(f"/orders/{counted.json()['id']}")
    assert fetched.status == 200 and fetched.json()["items"] == items
    health = sandbox.request("/health").json()
    assert health["ok"] is True and health["az"] in AZ_IDS


USER_HANDLER = """
import json
import os

import shoutlib  # vendored in the deployment package


def handler(event, context):
    return {
        "statusCode": 207,
        "headers": {"X-Handler": "user"},
        "multiValueHeaders": {"X-Multi": ["1", "2"]},
        "body": json.dumps({"shout": shoutlib.shout("deployed"), "event": event,
                            "az": os.environ.get("GAMEDAY_SANDBOX_AZ_ID")}),
    }
"""


def user_package() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", USER_HANDLER)
        archive.writestr("shoutlib/__init__.py", "def shout(text):\n    return text.upper()\n")
        archive.writestr("shoutlib-1.0.dist-info/METADATA", "Name: shoutlib\nVersion: 1.0\n")
    return buffer.getvalue()


@pytest.fixture
def user_code(sandbox: Sandbox) -> Iterator[None]:
    sandbox.clients.lambda_.update_function_code(FunctionName="orders", ZipFile=user_package())
    yield
    sandbox.clients.lambda_.update_function_code(
        FunctionName="orders", ZipFile=orders_function_zip()
    )
    wait_for(
        lambda: sandbox.request("/health").status == 200,
        timeout=15,
        what="the demo code to be back",
    )


def test_user_deployed_code_with_vendored_dependency_gets_the_proxy_event(
    sandbox: Sandbox, user_code: None
) -> None:
    reply: Reply = wait_for(
        lambda: (
            (r := sandbox.request("/users?x=1&x=2&y=", headers={"X-Test": "yes"})).status == 207
            and r
        ),
        timeout=15,
        what="the user's code to serve",
    )
    document = reply.json()
    assert document["shout"] == "DEPLOYED"
    assert reply.headers["x-handler"] == "user"
    event = document["event"]
    assert event["path"] == "/users" and event["httpMethod"] == "GET"
    assert event["resource"] == "/{proxy+}" and event["pathParameters"] == {"proxy": "users"}
    assert event["queryStringParameters"] == {"x": "2", "y": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": [""]}
    assert event["headers"]["X-Test"] == "yes"
    assert event["requestContext"]["stage"] == "prod"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert event["body"] is None and event["isBase64Encoded"] is False
    assert document["az"] in AZ_IDS
    posted = sandbox.request("/users", method="POST", body=b"payload").json()["event"]
    assert posted["httpMethod"] == "POST" and posted["body"] == "payload"


def test_lambda_extension_fault_slows_and_breaks_requests_only_during_the_fault(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    experiment = tmp_path / "lambda-faults.yaml"
    experiment.write_text(
        "version: 1\nkind: experiment\nname: live-lambda-faults\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        "phases: {baseline: 0s, fault: 8s, recovery: 0s}\nmax_duration: 2m\n"
        "faults:\n  - type: lambda-extension\n    functions: [orders]\n"
        "    latency: {ms: 400, rate: 1.0}\n    error: {status_code: 503, rate: 0.5}\n"
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "chaos", "run", "--sandbox", str(experiment), "--yes"],
        cwd=REPO,
        env={**_environ(), "GAMEDAY_HOME": str(sandbox.home)},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    during: list[Reply] = []
    deadline = time.monotonic() + 60
    while run.poll() is None and time.monotonic() < deadline:
        during.append(sandbox.request("/orders"))
    stdout, stderr = run.communicate(timeout=30)
    assert run.returncode == 0, stdout + stderr
    slowed = [r for r in during if r.elapsed_s >= 0.4]
    injected = [
        r for r in during if r.status == 503 and r.headers.get("x-gameday-chaos-fault") == "error"
    ]
    assert len(slowed) >= 5, [round(r.elapsed_s, 3) for r in during]
    assert injected, [r.status for r in during]
    assert {r.status for r in during} <= {200, 503}

    # After the restore the environments recycle to the plain configuration.
    wait_for(
        lambda: sandbox.request("/orders").elapsed_s < 0.3,
        timeout=15,
        what="requests without the injected latency",
    )
    after = [sandbox.request("/orders") for _ in range(20)]
    assert [r.status for r in after] == [200] * 20
    assert not any("x-gameday-chaos-fault" in r.headers for r in after)
    assert statistics.median(r.elapsed_s for r in after) < 0.2

    # One EMF line per injected fault, each one a `Chaos` data point. The marked 503s are
    # exactly the injected errors, and each also had its latency injected (rate 1.0);
    # `slowed` is no lower bound: a cold start after the restore can take 0.4 s too.
    def emf(fault_type: str) -> float:
        return metric_sum(
            sandbox.clients,
            "Chaos",
            "InjectedFaults",
            {"FunctionName": "orders", "FaultType": fault_type},
        )

    wait_for(
        lambda: emf("error") >= len(injected) and emf("latency") >= len(injected),
        timeout=10,
        what="the extension's EMF metrics in CloudWatch",
    )


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ, PYTHONUNBUFFERED="1")


def _vpc(sandbox: Sandbox) -> tuple[dict[str, str], str]:
    service = sandbox.state.service
    return dict(service["subnet_ids_by_az_id"]), str(service["security_group_id"])


def _set_subnets(sandbox: Sandbox, az_ids: tuple[str, ...]) -> None:
    subnets, security_group = _vpc(sandbox)
    sandbox.clients.lambda_.update_function_configuration(
        FunctionName="orders",
        VpcConfig={
            "SubnetIds": [subnets[az] for az in az_ids],
            "SecurityGroupIds": [security_group],
        },
    )


def _round_az_ids(sandbox: Sandbox) -> set[str]:
    replies = sandbox.health_round()
    assert [r.status for r in replies] == [200] * len(replies)
    return {r.json()["az"] for r in replies}


def _all_served_in_every_az(sandbox: Sandbox) -> bool:
    replies = sandbox.health_round()
    return all(r.status == 200 for r in replies) and {r.json()["az"] for r in replies} == set(
        AZ_IDS
    )


def test_az_loss_pin_removes_capacity_in_the_lost_az_and_restore_brings_it_back(
    sandbox: Sandbox,
) -> None:
    wait_for(
        lambda: _round_az_ids(sandbox) == set(AZ_IDS),
        timeout=15,
        what="environments in all three AZs",
    )
    _set_subnets(sandbox, ("use1-az2", "use1-az3"))
    try:
        wait_for(
            lambda: (
                sandbox.environment_az_ids() <= {"use1-az2", "use1-az3"}
                and _round_az_ids(sandbox) <= {"use1-az2", "use1-az3"}
            ),
            timeout=15,
            what="the lost AZ's environments to drain",
        )
        for _ in range(3):
            assert _round_az_ids(sandbox) <= {"use1-az2", "use1-az3"}
        assert sandbox.environment_az_ids() == {"use1-az2", "use1-az3"}
    finally:
        _set_subnets(sandbox, AZ_IDS)
    wait_for(
        lambda: "use1-az1" in _round_az_ids(sandbox), timeout=15, what="capacity back in use1-az1"
    )
    assert sandbox.environment_az_ids() == set(AZ_IDS)


def _applied(home: Path) -> bool:
    for path in (home / "runs").glob("*/journal.json"):
        journal = json.loads(path.read_text())
        if journal["entries"] and all(e["status"] == "applied" for e in journal["entries"]):
            return True
    return False


def test_az_loss_fault_through_the_toolkit_drains_the_lost_az(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    wait_for(
        lambda: _round_az_ids(sandbox) == set(AZ_IDS),
        timeout=15,
        what="environments in all three AZs",
    )
    experiment = tmp_path / "az-loss.yaml"
    experiment.write_text(
        "version: 1\nkind: experiment\nname: live-az-loss\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        "phases: {baseline: 0s, fault: 6s, recovery: 0s}\nmax_duration: 2m\n"
        "faults:\n  - type: az-loss\n    az_id: use1-az1\n    mode: pin\n"
        "    targets: {lambda: [orders]}\n"
    )
    for old in (sandbox.home / "runs").glob("*/journal.json"):
        old.unlink()  # journals of earlier runs in this module
    run = subprocess.Popen(
        [sys.executable, "-m", "chaos", "run", "--sandbox", str(experiment), "--yes"],
        cwd=REPO,
        env={**_environ(), "GAMEDAY_HOME": str(sandbox.home)},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: _applied(sandbox.home) or run.poll() is not None,
            timeout=30,
            what="the az-loss fault to be applied",
        )
        assert run.poll() is None, run.communicate()
        wait_for(
            lambda: _round_az_ids(sandbox) <= {"use1-az2", "use1-az3"},
            timeout=5,
            what="use1-az1 to drain",
        )
        during = [_round_az_ids(sandbox) for _ in range(2)] if run.poll() is None else []
        stdout, stderr = run.communicate(timeout=40)
    finally:
        if run.poll() is None:
            run.terminate()
            run.communicate(timeout=30)
    assert run.returncode == 0, stdout + stderr
    assert all(azs <= {"use1-az2", "use1-az3"} for azs in during), during
    wait_for(
        lambda: _all_served_in_every_az(sandbox),
        timeout=15,
        what="all three AZ IDs after the restore",
    )


def _orders_round(sandbox: Sandbox, size: int = 6) -> list[Reply]:
    with ThreadPoolExecutor(size) as pool:
        return list(pool.map(lambda _: sandbox.request("/orders"), range(size)))


def test_blackhole_acl_cuts_the_lost_azs_outbound_calls_never_its_invocations(
    sandbox: Sandbox,
) -> None:
    """AZ network loss: a deny-all NACL on a subnet cuts the function's outbound traffic
    there; Lambda still invokes the environments in that subnet. The ACL is made as the
    blackhole fault makes it: a new, empty ACL (one denies all traffic), associated with
    the lost subnet instead of its own."""
    subnets, _ = _vpc(sandbox)
    lost = subnets["use1-az1"]
    wait_for(
        lambda: _round_az_ids(sandbox) == set(AZ_IDS),
        timeout=15,
        what="environments in all three AZs",
    )
    clients = sandbox.clients
    deny = ec2_subnets.create_acl(
        clients, sandbox.state.service["vpc_id"], {"gameday:test": "blackhole"}
    )
    current = ec2_subnets.acl_association(clients, lost)
    assert current is not None
    new_association = ec2_subnets.replace_acl(clients, current.association_id, deny)
    try:
        # in force when the API call returns
        assert lost in sandbox.status()["functions"][0]["blackholed_subnets"]
        health = sandbox.health_round() + sandbox.health_round()
        assert [r.status for r in health] == [200] * len(health)
        assert "use1-az1" in {r.json()["az"] for r in health}, "invocations still arrive"
        orders = _orders_round(sandbox) + _orders_round(sandbox)
        failed = [r for r in orders if r.status == 503]
        served = [r for r in orders if r.status == 200]
        assert failed, [r.status for r in orders]
        assert {r.json()["az"] for r in failed} == {"use1-az1"}
        # a NACL drops packets: the calls time out (connecting, or reading on a connection
        # opened before)
        assert all(
            r.json()["reason"] in ("connect: timed out", "read: timed out") for r in failed
        ), [r.json() for r in failed]
        assert served and {r.json()["az"] for r in served} <= {"use1-az2", "use1-az3"}
    finally:
        ec2_subnets.replace_acl(clients, new_association, current.network_acl_id)
        ec2_subnets.delete_acl(clients, deny)
    wait_for(
        lambda: all(r.status == 200 for r in _orders_round(sandbox)),
        timeout=20,
        what="use1-az1 to reach the orders table again",
    )


def test_waf_blocks_the_abusive_client_after_the_next_check_never_the_legit_one(
    sandbox: Sandbox,
) -> None:
    limit = 100
    abusive, legit = {"X-Forwarded-For": "203.0.113.10"}, {"X-Forwarded-For": "203.0.113.20"}
    abusive_log: list[tuple[float, int]] = []
    legit_statuses: list[int] = []
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        reply = sandbox.request("/health", headers=abusive)
        abusive_log.append((time.monotonic(), reply.status))
        # The legit client stays well under the limit however fast the abusive one runs
        # (at ~500 req/s, a 2 s check interval lets ~1,000 abusive requests through).
        if len(abusive_log) % 10 == 0 and len(legit_statuses) < limit // 2:
            legit_statuses.append(sandbox.request("/health", headers=legit).status)
        if reply.status == 403 and len(abusive_log) > limit + 5:
            break
        if reply.status == 403:
            continue
    statuses = [status for _, status in abusive_log]
    assert 403 in statuses, f"never blocked after {len(statuses)} requests"
    first_block = statuses.index(403)
    assert first_block >= limit, "blocked before the count exceeded the limit"
    assert set(statuses[:first_block]) == {200}
    crossed_at = abusive_log[limit][0]  # the (limit + 1)-th request
    assert abusive_log[first_block][0] - crossed_at <= 2 * WAF_CHECK_S
    assert set(statuses[first_block:]) == {403}, "a blocked client stays blocked"
    legit_statuses.extend(sandbox.request("/health", headers=legit).status for _ in range(5))
    assert legit_statuses and set(legit_statuses) == {200}
    blocked = wait_for(
        lambda: metric_sum(
            sandbox.clients,
            "AWS/WAFV2",
            "BlockedRequests",
            {"WebACL": "orders-acl", "Rule": "orders-rate-limit", "Region": "us-east-1"},
        ),
        timeout=10,
        what="WAF BlockedRequests in CloudWatch",
    )
    assert blocked >= len(statuses) - first_block


def test_a_throttled_function_reaches_clients_as_api_gateways_500(sandbox: Sandbox) -> None:
    """Reserved concurrency 0: Lambda refuses every invocation and API Gateway answers 500
    (services-apigateway-errors), never the function's 429."""
    lambda_ = sandbox.clients.lambda_
    lambda_.put_function_concurrency(FunctionName="orders", ReservedConcurrentExecutions=0)
    try:
        reply: Reply = wait_for(
            lambda: (r := sandbox.request("/health")).status == 500 and r,
            timeout=10,
            what="a throttled request",
        )
        assert reply.json() == {"message": "Internal server error"}
        assert reply.headers.get("x-amzn-errortype") == "InternalServerErrorException"
    finally:
        lambda_.delete_function_concurrency(FunctionName="orders")
    wait_for(
        lambda: sandbox.request("/health").status == 200, timeout=10, what="requests served again"
    )
    assert (
        wait_for(
            lambda: metric_sum(sandbox.clients, "AWS/Lambda", "Throttles", LAMBDA_DIMENSIONS),
            timeout=10,
            what="Throttles",
        )
        >= 1
    )


def test_the_stages_own_throttling_answers_429(sandbox: Sandbox) -> None:
    """API Gateway's stage throttling (a burst of 2, then 0.5 requests per second)."""
    apigateway = sandbox.clients.client("apigateway")
    limits = [
        {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "2"},
        {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "0.5"},
    ]
    apigateway.update_stage(restApiId=sandbox.rest_api_id, stageName="prod", patchOperations=limits)
    try:
        reply: Reply = wait_for(
            lambda: (r := sandbox.request("/health")).status == 429 and r,
            timeout=10,
            what="a request over the stage's limit",
        )
        assert reply.json() == {"message": "Too Many Requests"}
        assert reply.headers.get("x-amzn-errortype") == "TooManyRequestsException"
    finally:
        apigateway.update_stage(
            restApiId=sandbox.rest_api_id,
            stageName="prod",
            patchOperations=[
                {**op, "value": value} for op, value in zip(limits, ("5000", "10000"), strict=True)
            ],
        )
    wait_for(
        lambda: sandbox.request("/health").status == 200, timeout=10, what="requests served again"
    )


def test_metrics_are_visible_through_get_metric_data(sandbox: Sandbox) -> None:
    for _ in range(10):
        assert sandbox.request("/orders").status == 200
    assert sandbox.request("/no-such-route").status == 404
    clients = sandbox.clients

    def enough() -> bool:
        # Earlier tests' requests count too: wait for this test's own 404 as well.
        return (
            metric_sum(clients, "AWS/ApiGateway", "Count", API_DIMENSIONS) >= 11
            and metric_sum(clients, "AWS/Lambda", "Invocations", LAMBDA_DIMENSIONS) >= 11
            and metric_sum(clients, "AWS/ApiGateway", "4XXError", API_DIMENSIONS) >= 1
        )

    wait_for(enough, timeout=10, what="API Gateway and Lambda metrics")
    assert metric_sum(clients, "AWS/ApiGateway", "Latency", API_DIMENSIONS, "SampleCount") >= 11
    assert metric_sum(clients, "AWS/ApiGateway", "Latency", API_DIMENSIONS, "Maximum") > 0
    assert metric_sum(clients, "AWS/Lambda", "Duration", LAMBDA_DIMENSIONS, "SampleCount") >= 11
    assert (
        metric_sum(
            clients,
            "AWS/WAFV2",
            "AllowedRequests",
            {"WebACL": "orders-acl", "Rule": "ALL", "Region": "us-east-1"},
        )
        >= 11
    )


def test_throughput_and_cold_start(sandbox: Sandbox) -> None:
    """A short bounded load run; prints the numbers docs/sandbox.md quotes."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(sandbox.endpoint)
    counts: list[int] = []
    errors: list[int] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + 3.0

    def client() -> None:
        connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
        done = failed = 0
        try:
            while time.monotonic() < stop_at:
                connection.request("GET", parts.path + "/health")
                response = connection.getresponse()
                response.read()
                done += 1
                failed += response.status != 200
        finally:
            connection.close()
        with lock:
            counts.append(done)
            errors.append(failed)

    threads = [threading.Thread(target=client) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    rps = sum(counts) / (time.monotonic() - started)
    cold_starts = sandbox.status()["functions"][0]["cold_starts_ms"]
    print(
        f"\nthroughput: {rps:.0f} requests/s (4 keep-alive clients, 3 s, GET /health); "
        f"cold start median {statistics.median(cold_starts):.0f} ms over {len(cold_starts)}"
    )
    assert sum(errors) == 0
    assert rps > 20
    assert cold_starts and all(ms > 0 for ms in cold_starts)


def test_front_answers_other_paths_like_api_gateway(sandbox: Sandbox) -> None:
    assert sandbox.state.http_front is not None
    assert call(sandbox.state.http_front + "/other/path").status == 403
    assert call(sandbox.endpoint).status == 403
