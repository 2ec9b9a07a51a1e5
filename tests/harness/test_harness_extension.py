"""Acceptance tests of the fault-injection extension, through the real runtime clients.

Every test runs a local Lambda execution environment (chaos.sandbox.functions.local) with the layer
zip built by chaos.faults.lambda_extension.layer, the Go extension started from the extracted
layer, and the real
runtime client started through the layer's exec wrapper - the code path Lambda uses -
under Python's awslambdaric and Node.js's aws-lambda-ric alike.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
from gameday_chaos import config as chaos_config
from harness_support import OWN_ERROR_TYPE, RUNTIMES, binomial_interval, config_json, emf_lines

pytestmark = pytest.mark.timeout(180)

ALL_ZERO = {
    "latency": {"ms": 500, "jitter_ms": 0, "rate": 0.0},
    "error": {"status_code": 503, "rate": 0.0},
    "exception": {"rate": 0.0},
    "timeout": {"rate": 0.0},
    "corruption": {"rate": 0.0},
    "disk": {"mb": 4, "rate": 0.0},
}
each_runtime = pytest.mark.parametrize("runtime", RUNTIMES)


def _without_request_id(payload: bytes) -> dict:
    document = json.loads(payload)
    document.pop("requestId", None)
    document.pop("trace", None)
    document.pop("stackTrace", None)
    return document


def _echo_body(result) -> dict:
    return json.loads(result.json()["body"])


def _proxy_address(env) -> str:
    return f"127.0.0.1:{env.user_env[chaos_config.PORT_ENV_KEY]}"


# -- pass-through -----------------------------------------------------------------------


@each_runtime
def test_normal_response_and_function_exception_pass_through_unchanged(make_env, runtime):
    plain = make_env(layer=False, runtime=runtime)
    chaos = make_env(config_json(ALL_ZERO), runtime=runtime)
    event = json.dumps({"order": 42, "items": ["a", "b"]}).encode()
    for env in (plain, chaos):
        env.start()
    a, b = plain.invoke(event), chaos.invoke(event)
    assert a.function_error is None and b.function_error is None
    body_a, body_b = _echo_body(a), _echo_body(b)
    assert body_a["echo"] == body_b["echo"] == {"order": 42, "items": ["a", "b"]}
    # the runtime really talked to the proxy (wrapper redirect) in the chaos environment
    assert body_b["runtime_api"] == _proxy_address(chaos)
    assert body_a["runtime_api"] != body_b["runtime_api"]

    err_a = plain.invoke(b'{"raise": true}')
    err_b = chaos.invoke(b'{"raise": true}')
    assert err_a.function_error == err_b.function_error == "Unhandled"
    assert err_b.error_type == OWN_ERROR_TYPE[runtime]
    assert _without_request_id(err_a.payload) == _without_request_id(err_b.payload)
    assert emf_lines(chaos) == []


@each_runtime
def test_invalid_config_logs_one_line_and_passes_everything_through(make_env, runtime):
    for bad in (
        '{"version": 2, "faults": ',
        json.dumps(
            {
                "version": 2,
                "run_id": "r",
                "expires_at": time.time() + 600,
                "faults": {"error": {"rate": 2}},
            }
        ),
    ):
        env = make_env(bad, runtime=runtime)
        ok = env.invoke(b'{"x": 1}')
        assert ok.function_error is None and _echo_body(ok)["echo"] == {"x": 1}
        assert _echo_body(ok)["runtime_api"] == _proxy_address(env)
        failed = env.invoke(b'{"raise": true}')
        assert failed.error_type == OWN_ERROR_TYPE[runtime]
        env.shutdown()  # drains the output pipes
        invalid = [line for line in env.logs("extension") if "invalid" in line.text]
        assert len(invalid) == 1, env.logs("extension")
        assert chaos_config.CONFIG_ENV_KEY in invalid[0].text
        assert emf_lines(env) == []


@pytest.mark.parametrize("value", ["1", "true", "TRUE"])
def test_disable_key_turns_injection_off(make_env, value):
    config = config_json({"error": {"status_code": 500, "rate": 1.0}})
    env = make_env(config, extra_env={chaos_config.DISABLE_ENV_KEY: value})
    result = env.invoke(b'{"x": 1}')
    assert result.function_error is None
    body = _echo_body(result)
    assert body["echo"] == {"x": 1}
    # the wrapper did not redirect: the runtime talks to the Runtime API directly
    assert body["runtime_api"] != _proxy_address(env)
    assert emf_lines(env) == []  # (shuts down: every log line is captured)
    assert any("disabled" in line.text for line in env.logs("extension"))


@each_runtime
def test_expiry_turns_injection_off_without_restart(make_env, runtime):
    expires_in = 3.0
    env = make_env(
        config_json({"error": {"status_code": 503, "rate": 1.0}}, expires_in=expires_in),
        runtime=runtime,
    )
    expires_at = json.loads(env.user_env[chaos_config.CONFIG_ENV_KEY])["expires_at"]
    env.start()
    assert time.time() < expires_at, "environment start took longer than the expiry window"
    before = env.invoke(b'{"x": 1}')
    assert before.json()["statusCode"] == 503
    time.sleep(max(0.0, expires_at - time.time()) + 0.05)
    after = env.invoke(b'{"x": 2}')
    assert after.function_error is None
    assert after.json()["statusCode"] == 200 and _echo_body(after)["echo"] == {"x": 2}
    assert len(env.init_reports) == 1  # same environment, same extension process
    assert len(emf_lines(env)) == 1


# -- every fault kind ---------------------------------------------------------------------


@each_runtime
def test_latency_fault_delays_the_handler(make_env, runtime):
    env = make_env(
        config_json({"latency": {"ms": 300, "jitter_ms": 0, "rate": 1.0}}),
        runtime=runtime,
        timeout_s=3,
    )
    result = env.invoke(b'{"x": 1}')
    assert result.function_error is None
    body = _echo_body(result)
    assert body["echo"] == {"x": 1}
    # the sleep happened before the handler ran: it ate into the handler's remaining time
    assert body["remaining_ms"] <= 3000 - 300
    assert result.duration_ms >= 300  # a lower bound only: sleeping never takes less
    (line,) = emf_lines(env)
    assert line["FaultType"] == "latency" and line["latency_ms"] == 300
    assert line["request_id"] == result.request_id


@each_runtime
def test_error_fault_replaces_the_response_with_an_api_gateway_error(make_env, runtime):
    env = make_env(
        config_json({"error": {"status_code": 503, "rate": 1.0}}, run_id="r-err"), runtime=runtime
    )
    for event in (b'{"x": 1}', b'{"raise": true}'):
        result = env.invoke(event)
        assert result.function_error is None
        response = result.json()
        assert response["statusCode"] == 503
        assert response["headers"]["Content-Type"] == "application/json"
        assert response["headers"][chaos_config.MARKER_HEADER] == "error"
        assert response["isBase64Encoded"] is False
        body = json.loads(response["body"])
        assert body["injected_fault"] == "error" and body["run_id"] == "r-err"
    lines = emf_lines(env)
    assert [line["FaultType"] for line in lines] == ["error", "error"]
    line = lines[0]
    directive = line["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "Chaos"
    assert directive["Metrics"] == [{"Name": "InjectedFaults", "Unit": "Count"}]
    assert directive["Dimensions"] == [["FunctionName", "FaultType"]]
    assert line["FunctionName"] == "orders-create" and line["InjectedFaults"] == 1
    assert line["run_id"] == "r-err" and line["status_code"] == 503
    assert line["format"] == "api-gateway-rest"


def test_error_fault_answers_in_the_format_of_the_invoking_integration(make_env):
    env = make_env(config_json({"error": {"status_code": 503, "rate": 1.0}}))
    alb = {
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:t"}},
        "httpMethod": "GET",
        "path": "/",
        "headers": {"host": "h"},
        "body": "",
    }
    url = {
        "version": "2.0",
        "rawPath": "/",
        "requestContext": {
            "domainName": "abc.lambda-url.us-east-1.on.aws",
            "http": {"method": "GET"},
        },
    }
    assert env.invoke(json.dumps(alb).encode()).json()["statusDescription"] == (
        "503 Service Unavailable"
    )
    assert "statusDescription" not in env.invoke(json.dumps(url).encode()).json()
    assert [line["format"] for line in emf_lines(env)] == ["alb", "function-url"]


@each_runtime
def test_exception_fault_reports_a_function_error(make_env, runtime):
    env = make_env(config_json({"exception": {"rate": 1.0}}), runtime=runtime)
    result = env.invoke(b'{"x": 1}')
    assert result.function_error == "GamedayChaos.InjectedException"
    assert result.error_type == "GamedayChaos.InjectedException"
    assert "injected exception" in result.json()["errorMessage"]
    assert [line["FaultType"] for line in emf_lines(env)] == ["exception"]


@each_runtime
def test_timeout_fault_holds_the_response_past_the_deadline(make_env, runtime):
    env = make_env(config_json({"timeout": {"rate": 1.0}}), runtime=runtime, timeout_s=1.0)
    env.start()
    result = env.invoke(b'{"x": 1}')
    assert result.timed_out
    assert result.function_error == "Sandbox.Timedout"
    assert result.duration_ms >= 1000
    assert "Task timed out" in result.json()["errorMessage"]
    assert [line["FaultType"] for line in emf_lines(env)] == ["timeout"]


@each_runtime
@pytest.mark.parametrize("mode", ["error", "exception"])
def test_prevent_execution_answers_without_running_the_handler(
    make_env, runtime, mode, tmp_path: Path
):
    spec = {"rate": 1.0, "prevent_execution": True}
    env = make_env(config_json({mode: spec}), runtime=runtime)
    marks = tmp_path / "marks"
    result = env.invoke(json.dumps({"mark": str(marks)}).encode())
    if mode == "error":
        assert result.function_error is None and result.json()["statusCode"] == 503
    else:
        assert result.function_error == "GamedayChaos.InjectedException"
    assert not marks.exists(), "the handler ran: its side effect happened"
    (line,) = emf_lines(env)
    assert line["FaultType"] == mode and line["prevent_execution"] is True
    # without prevent_execution the handler runs (and its result is replaced)
    running = make_env(config_json({mode: {"rate": 1.0}}), runtime=runtime)
    running.invoke(json.dumps({"mark": str(marks)}).encode())
    assert marks.read_text() == "ran\n"


@each_runtime
def test_match_faults_only_the_matching_requests(make_env, runtime):
    faults = {
        "error": {
            "status_code": 500,
            "rate": 1.0,
            "match": [
                {"path": "httpMethod", "equals": "POST"},
                {"path": "path", "prefix": "/orders"},
            ],
        }
    }
    env = make_env(config_json(faults), runtime=runtime)
    statuses = {}
    for method, path in (("POST", "/orders/7"), ("GET", "/orders/7"), ("POST", "/users")):
        event = {"httpMethod": method, "path": path, "requestContext": {"resourceId": "r"}}
        statuses[(method, path)] = env.invoke(json.dumps(event).encode()).json()["statusCode"]
    assert statuses == {
        ("POST", "/orders/7"): 500,
        ("GET", "/orders/7"): 200,
        ("POST", "/users"): 200,
    }
    assert len(emf_lines(env)) == 1


@each_runtime
def test_corruption_mangles_or_replaces_the_handlers_body(make_env, runtime):
    mangle = make_env(config_json({"corruption": {"rate": 1.0}}), runtime=runtime)
    plain = make_env(layer=False, runtime=runtime)
    event = json.dumps({"x": "a fairly long value to cut in half"}).encode()
    own = plain.invoke(event).json()
    corrupted = mangle.invoke(event).json()
    assert corrupted["statusCode"] == 200
    assert corrupted["headers"][chaos_config.MARKER_HEADER] == "corruption"
    assert corrupted["body"] == own["body"][: len(own["body"]) // 2]
    with pytest.raises(ValueError):
        json.loads(corrupted["body"])
    replace = make_env(
        config_json({"corruption": {"rate": 1.0, "mode": "replace", "body": "<h1>oops</h1>"}}),
        runtime=runtime,
    )
    assert replace.invoke(event).json()["body"] == "<h1>oops</h1>"
    # a function error is not a body to corrupt: it passes through
    assert mangle.invoke(b'{"raise": true}').error_type == OWN_ERROR_TYPE[runtime]
    assert [line["mode"] for line in emf_lines(mangle)] == ["mangle"]


@each_runtime
def test_disk_fault_fills_tmp_while_the_handler_runs(make_env, runtime, tmp_path: Path):
    env = make_env(config_json({"disk": {"mb": 8, "rate": 1.0}}), runtime=runtime)
    result = env.invoke(json.dumps({"disk_dir": str(tmp_path)}).encode())
    assert _echo_body(result)["disk"] == {".gameday-chaos-disk-fill": 8 * 1024 * 1024}
    assert list(tmp_path.iterdir()) == []  # freed once the handler has answered
    (line,) = emf_lines(env)
    assert line["FaultType"] == "disk" and line["disk_mb"] == 8 and line["filled_mb"] == 8


def test_rate_over_2000_real_invocations_is_within_the_binomial_interval(make_env):
    n, p = 2000, 0.1
    env = make_env(config_json({"error": {"status_code": 500, "rate": p}}))
    env.start()
    injected = 0
    for i in range(n):
        result = env.invoke(b'{"i": %d}' % i)
        assert result.function_error is None
        status = result.json()["statusCode"]
        assert status in (200, 500)
        injected += status == 500
    lo, hi = binomial_interval(n, p)
    assert lo <= injected <= hi, f"{injected} of {n} injected, 99.9% interval [{lo}, {hi}]"
    assert len(env.init_reports) == 1
    assert len(emf_lines(env)) == injected


# -- payloads -------------------------------------------------------------------------------


@each_runtime
def test_6mb_payloads_arrive_intact(make_env, runtime):
    env = make_env(config_json(ALL_ZERO), runtime=runtime)
    size = 6 * 1024 * 1024 - 64  # the response is the JSON string: two quotes added
    event = json.dumps({"size": size, "pad": "p" * (6 * 1024 * 1024 - 100)}).encode()
    assert 6 * 1024 * 1024 - 100 < len(event) <= 6 * 1024 * 1024
    result = env.invoke(event, timeout_s=30)
    assert result.function_error is None
    expected = json.dumps("y" * size).encode()
    assert len(result.payload) == len(expected)
    assert hashlib.sha256(result.payload).digest() == hashlib.sha256(expected).digest()


def test_streamed_response_arrives_intact_with_trailers(make_env):
    plain = make_env(layer=False, streaming=True)
    chaos = make_env(config_json(ALL_ZERO), streaming=True)
    expected = b"".join(b"part-%d;" % i * (i + 1) for i in range(8))
    for env in (plain, chaos):
        result = env.invoke(b'{"chunks": 8}')
        assert result.function_error is None
        assert result.streamed and result.chunks == 8
        assert result.payload == expected
        failed = env.invoke(b'{"chunks": 3, "fail_midway": true}')
        assert failed.function_error == "StreamBroke"
        assert failed.json() == {"errorType": "StreamBroke", "errorMessage": "midway"}


def test_a_streamed_response_is_passed_through_untouched_whatever_was_drawn(make_env):
    env = make_env(config_json({"error": {"status_code": 502, "rate": 1.0}}), streaming=True)
    result = env.invoke(b'{"chunks": 4}')
    assert result.streamed and result.chunks == 4
    assert result.payload == b"".join(b"part-%d;" % i * (i + 1) for i in range(4))
    assert emf_lines(env) == []  # nothing injected, and nothing counted
    assert any("relayed untouched" in line.text for line in env.logs("extension"))


# -- lifecycle and safety ---------------------------------------------------------------------


@each_runtime
def test_shutdown_ends_the_extension_cleanly(make_env, runtime):
    env = make_env(config_json(ALL_ZERO), runtime=runtime)
    report = env.start()
    assert set(report.extensions_ms) == {"gameday-chaos"}
    env.invoke(b"{}")
    shutdown = env.shutdown()
    assert shutdown is not None
    ext = shutdown.extensions["gameday-chaos"]
    assert ext.clean and ext.exit_code == 0
    assert any("shutdown (spindown)" in line.text for line in env.logs("extension"))
    # a new invoke starts a fresh environment
    assert env.invoke(b'{"x": 3}').function_error is None
    assert len(env.init_reports) == 2


def test_layer_without_config_leaves_the_runtime_alone(make_env):
    env = make_env(None)
    result = env.invoke(b'{"x": 1}')
    body = _echo_body(result)
    assert body["runtime_api"] != _proxy_address(env)
    assert any("not set: idle" in line.text for line in env.logs("extension"))


@each_runtime
def test_a_taken_proxy_port_fails_open_and_says_so(make_env, runtime):
    """Another program on the port: no proxy of ours, so the wrapper hands the runtime the
    real Runtime API; the function runs unfaulted and the log stream says why."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(8)
        port = blocker.getsockname()[1]
        env = make_env(
            config_json({"error": {"rate": 1.0}}, run_id="r-open"),
            runtime=runtime,
            extra_env={chaos_config.PORT_ENV_KEY: str(port)},
        )
        env.start()
        result = env.invoke(b'{"x": 1}')
    assert result.function_error is None and _echo_body(result)["echo"] == {"x": 1}
    assert _echo_body(result)["runtime_api"] != f"127.0.0.1:{port}"
    (fail_open,) = emf_lines(env, metric="ExtensionFailOpen")
    assert fail_open["run_id"] == "r-open" and fail_open["FunctionName"] == "orders-create"
    assert emf_lines(env) == []
    assert any("failing open" in line.text for line in env.logs("extension"))
    assert any("FAIL OPEN" in line.text for line in env.logs("runtime"))


def test_unreachable_runtime_api_fails_the_extension_at_start(layer_zip: Path, tmp_path: Path):
    with zipfile.ZipFile(layer_zip) as archive:
        archive.extractall(tmp_path)
    binary = tmp_path / "extensions" / "gameday-chaos"
    binary.chmod(0o755)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env = {
        "PATH": os.environ["PATH"],
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{closed_port}",
        chaos_config.CONFIG_ENV_KEY: config_json(ALL_ZERO),
    }
    done = subprocess.run(
        [str(binary)], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode != 0
    assert "FATAL: cannot reach the Lambda Runtime API" in done.stderr


@each_runtime
def test_an_environment_started_with_an_active_fault_reports_its_init_once(make_env, runtime):
    """One ExtensionInits line per cold start with the fault attached: the cold starts the
    injection itself caused; none once the config has expired."""
    env = make_env(config_json({"latency": {"ms": 1, "rate": 1.0}}), runtime=runtime)
    env.start()
    env.invoke(b'{"x": 1}')
    env.invoke(b'{"x": 2}')
    (init,) = emf_lines(env, metric="ExtensionInits")
    assert init["FunctionName"] and init["ExtensionInits"] == 1
    expired = make_env(
        config_json({"latency": {"ms": 1, "rate": 1.0}}, expires_in=-60.0), runtime=runtime
    )
    expired.start()
    expired.invoke(b'{"x": 1}')
    assert emf_lines(expired, metric="ExtensionInits") == []
