"""Acceptance tests of the fault-injection extension, through the real runtime client.

Every test runs a local Lambda execution environment (chaos.lambda_local) with the
layer zip built by chaos.layer, the extension started from the extracted layer, and
awslambdaric started through the layer's exec wrapper - the code path Lambda uses.
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
from harness_support import binomial_interval, config_json, emf_lines

from chaos.lambda_local import InitError

pytestmark = pytest.mark.timeout(120)

ALL_ZERO = {
    "latency": {"ms": 500, "jitter_ms": 0, "rate": 0.0},
    "error": {"status_code": 503, "rate": 0.0},
    "exception": {"rate": 0.0},
    "timeout": {"rate": 0.0},
}


def _without_request_id(payload: bytes) -> dict:
    document = json.loads(payload)
    document.pop("requestId", None)
    return document


def _echo_body(result) -> dict:
    return json.loads(result.json()["body"])


# -- pass-through -----------------------------------------------------------------------


def test_normal_response_and_function_exception_pass_through_unchanged(make_env):
    plain = make_env(layer=False)
    chaos = make_env(config_json(ALL_ZERO))
    event = json.dumps({"order": 42, "items": ["a", "b"]}).encode()
    for env in (plain, chaos):
        env.start()
    a, b = plain.invoke(event), chaos.invoke(event)
    assert a.function_error is None and b.function_error is None
    body_a, body_b = _echo_body(a), _echo_body(b)
    assert body_a["echo"] == body_b["echo"] == {"order": 42, "items": ["a", "b"]}
    # the runtime really talked to the proxy (wrapper redirect) in the chaos environment
    port = chaos.user_env[chaos_config.PORT_ENV_KEY]
    assert body_b["runtime_api"] == f"127.0.0.1:{port}"
    assert body_a["runtime_api"] != body_b["runtime_api"]

    err_a = plain.invoke(b'{"raise": true}')
    err_b = chaos.invoke(b'{"raise": true}')
    assert err_a.function_error == err_b.function_error == "Unhandled"
    assert err_b.error_type == "ValueError"
    assert _without_request_id(err_a.payload) == _without_request_id(err_b.payload)
    assert emf_lines(chaos) == []


def test_invalid_config_logs_one_line_and_passes_everything_through(make_env):
    for bad in (
        '{"version": 1, "faults": ',
        json.dumps(
            {
                "version": 1,
                "run_id": "r",
                "expires_at": time.time() + 600,
                "faults": {"error": {"rate": 2}},
            }
        ),
    ):
        env = make_env(bad)
        ok = env.invoke(b'{"x": 1}')
        assert ok.function_error is None and _echo_body(ok)["echo"] == {"x": 1}
        failed = env.invoke(b'{"raise": true}')
        assert failed.error_type == "ValueError"
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
    assert body["runtime_api"] != f"127.0.0.1:{env.user_env[chaos_config.PORT_ENV_KEY]}"
    assert emf_lines(env) == []  # (shuts down: every log line is captured)
    assert any("disabled" in line.text for line in env.logs("extension"))


def test_expiry_turns_injection_off_without_restart(make_env):
    expires_in = 2.0
    env = make_env(config_json({"error": {"status_code": 503, "rate": 1.0}}, expires_in=expires_in))
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


def test_latency_fault_delays_the_handler(make_env):
    env = make_env(config_json({"latency": {"ms": 300, "jitter_ms": 0, "rate": 1.0}}), timeout_s=3)
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


def test_error_fault_replaces_the_response_with_an_api_gateway_error(make_env):
    env = make_env(config_json({"error": {"status_code": 503, "rate": 1.0}}, run_id="r-err"))
    for event in (b'{"x": 1}', b'{"raise": true}'):
        result = env.invoke(event)
        assert result.function_error is None
        response = result.json()
        assert response["statusCode"] == 503
        assert response["headers"]["Content-Type"] == "application/json"
        assert response["isBase64Encoded"] is False
        body = json.loads(response["body"])
        assert body["injected_fault"] == "error" and body["run_id"] == "r-err"
        assert "error" in body
    lines = emf_lines(env)
    assert [line["FaultType"] for line in lines] == ["error", "error"]
    line = lines[0]
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Chaos"
    assert line["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [
        {"Name": "InjectedFaults", "Unit": "Count"}
    ]
    assert line["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["FunctionName", "FaultType"]]
    assert line["FunctionName"] == "orders-create" and line["InjectedFaults"] == 1
    assert line["run_id"] == "r-err" and line["status_code"] == 503


def test_exception_fault_reports_a_function_error(make_env):
    env = make_env(config_json({"exception": {"rate": 1.0}}))
    result = env.invoke(b'{"x": 1}')
    assert result.function_error == "GamedayChaos.InjectedException"
    assert result.error_type == "GamedayChaos.InjectedException"
    assert "injected exception" in result.json()["errorMessage"]
    assert [line["FaultType"] for line in emf_lines(env)] == ["exception"]


def test_timeout_fault_holds_the_response_past_the_deadline(make_env):
    env = make_env(config_json({"timeout": {"rate": 1.0}}), timeout_s=1.0)
    result = env.invoke(b'{"x": 1}')
    assert result.timed_out
    assert result.function_error == "Sandbox.Timedout"
    assert result.duration_ms >= 1000
    assert "Task timed out" in result.json()["errorMessage"]
    assert [line["FaultType"] for line in emf_lines(env)] == ["timeout"]


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


def test_6mb_payloads_arrive_intact(make_env):
    env = make_env(config_json(ALL_ZERO))
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


def test_error_fault_replaces_a_streamed_response(make_env):
    env = make_env(config_json({"error": {"status_code": 502, "rate": 1.0}}), streaming=True)
    result = env.invoke(b'{"chunks": 4}')
    assert result.json()["statusCode"] == 502
    assert not result.streamed


# -- lifecycle and safety ---------------------------------------------------------------------


def test_shutdown_ends_the_extension_cleanly(make_env):
    env = make_env(config_json(ALL_ZERO))
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
    assert body["runtime_api"] != f"127.0.0.1:{env.user_env[chaos_config.PORT_ENV_KEY]}"


def test_busy_proxy_port_fails_init_loudly(make_env):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        port = blocker.getsockname()[1]
        env = make_env(config_json(ALL_ZERO), extra_env={chaos_config.PORT_ENV_KEY: str(port)})
        with pytest.raises(InitError) as info:
            env.start()
    assert info.value.error_type == "Extension.GamedayChaosInitError"
    assert "cannot listen" in info.value.message


def test_unreachable_runtime_api_fails_the_extension_at_start(layer_zip: Path, tmp_path: Path):
    with zipfile.ZipFile(layer_zip) as archive:
        archive.extractall(tmp_path)
    launcher = tmp_path / "extensions" / "gameday-chaos"
    launcher.chmod(0o755)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    env = {
        "PATH": os.environ["PATH"],
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{closed_port}",
        chaos_config.CONFIG_ENV_KEY: config_json(ALL_ZERO),
    }
    done = subprocess.run(
        [str(launcher)], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode != 0
    assert "FATAL: cannot reach the Lambda Runtime API" in done.stderr


def _interpreters() -> list[str]:
    found = []
    for version in ("3.9", "3.10", "3.12", "3.13"):
        for candidate in (
            Path.home() / ".pyenv" / "versions" / version / "bin" / "python3",
            *sorted((Path.home() / ".pyenv" / "versions").glob(f"{version}.*/bin/python3")),
        ):
            if candidate.exists():
                found.append(str(candidate))
                break
    return found


@pytest.mark.parametrize("python", _interpreters() or [pytest.param("", marks=pytest.mark.skip)])
def test_extension_runs_on_other_runtime_pythons(make_env, python):
    """The extension runs on the function runtime's own Python (3.9 to 3.13)."""
    env = make_env(
        config_json({"error": {"status_code": 504, "rate": 1.0}}),
        extra_env={"GAMEDAY_CHAOS_PYTHON": python},
    )
    assert env.invoke(b'{"x": 1}').json()["statusCode"] == 504
    shutdown = env.shutdown()
    assert shutdown is not None and shutdown.extensions["gameday-chaos"].clean
    version = python.split("/versions/")[1][:4].rstrip(".")
    assert any(f"(python {version})" in line.text for line in env.logs("extension"))


def test_an_environment_started_with_an_active_fault_reports_its_init_once(make_env):
    """One ExtensionInits line per cold start with the fault attached: the cold starts the
    injection itself caused; none once the config has expired."""
    env = make_env(config_json({"latency": {"ms": 1, "rate": 1.0}}))
    env.start()
    env.invoke(b'{"x": 1}')
    env.invoke(b'{"x": 2}')
    (init,) = emf_lines(env, metric="ExtensionInits")
    assert init["FunctionName"] and init["ExtensionInits"] == 1
    expired = make_env(config_json({"latency": {"ms": 1, "rate": 1.0}}, expires_in=-60.0))
    expired.start()
    expired.invoke(b'{"x": 1}')
    assert emf_lines(expired, metric="ExtensionInits") == []
