"""The one schema of the fault config (gameday_chaos.config)."""

from __future__ import annotations

import json
import math

import pytest
from gameday_chaos import config as c

EXPIRES = 1_900_000_000.0
FULL = {
    "latency": {"ms": 300, "jitter_ms": 100, "rate": 1.0},
    "error": {"status_code": 503, "rate": 0.05},
    "exception": {"rate": 0.01},
    "timeout": {"rate": 0.0},
}


def test_public_constants():
    assert c.CONFIG_ENV_KEY == "GAMEDAY_CHAOS_CONFIG"
    assert c.DISABLE_ENV_KEY == "GAMEDAY_CHAOS_DISABLE"
    assert c.EXEC_WRAPPER_ENV_KEY == "AWS_LAMBDA_EXEC_WRAPPER"
    assert c.WRAPPER_PATH == "/opt/gameday-chaos-wrapper"
    assert c.PORT_ENV_KEY == "GAMEDAY_CHAOS_PORT" and c.DEFAULT_PORT == 9140
    assert c.EXTENSION_NAME == "gameday-chaos"
    assert c.OWNED_ENV_KEYS == (c.CONFIG_ENV_KEY, c.EXEC_WRAPPER_ENV_KEY)


def test_dump_then_parse_round_trips():
    text = c.dump_config(FULL, run_id="run-1", expires_at=EXPIRES)
    assert " " not in text  # compact
    assert len(text.encode()) < 400
    document = json.loads(text)
    filled = dict(
        FULL,
        error={**FULL["error"], "format": "auto", "prevent_execution": False},
        exception={**FULL["exception"], "prevent_execution": False},
    )
    assert document == {"version": 2, "run_id": "run-1", "expires_at": EXPIRES, "faults": filled}
    parsed = c.parse_config(text)
    assert parsed.run_id == "run-1" and parsed.expires_at == EXPIRES
    assert parsed.latency == c.LatencyFault(ms=300, jitter_ms=100, rate=1.0)
    assert parsed.error == c.ErrorFault(status_code=503, rate=0.05)
    assert parsed.exception == c.ExceptionFault(rate=0.01)
    assert parsed.timeout == c.TimeoutFault(rate=0.0)
    assert parsed.faults() == filled
    assert c.parse_config(parsed.to_json()) == parsed


def test_new_modes_round_trip_with_their_conditions():
    faults = {
        "error": {
            "status_code": 502,
            "rate": 0.5,
            "format": "alb",
            "prevent_execution": True,
            "match": [
                {"path": "httpMethod", "equals": "POST"},
                {"path": "path", "prefix": "/orders"},
            ],
        },
        "corruption": {"rate": 0.25, "mode": "replace", "body": "oops"},
        "disk": {"mb": 128, "rate": 1.0, "match": [{"path": "headers.x-tenant", "regex": "^t-1$"}]},
    }
    parsed = c.parse_config(c.dump_config(faults, run_id="r", expires_at=EXPIRES))
    assert parsed.error == c.ErrorFault(
        status_code=502,
        rate=0.5,
        format="alb",
        prevent_execution=True,
        match=(
            c.MatchCondition("httpMethod", "equals", "POST"),
            c.MatchCondition("path", "prefix", "/orders"),
        ),
    )
    assert parsed.corruption == c.CorruptionFault(rate=0.25, mode="replace", body="oops")
    assert parsed.disk == c.DiskFault(
        mb=128, rate=1.0, match=(c.MatchCondition("headers.x-tenant", "regex", "^t-1$"),)
    )
    assert parsed.faults()["disk"]["match"] == faults["disk"]["match"]


def test_disk_is_bounded_by_the_functions_ephemeral_storage():
    faults = {"disk": {"mb": 600, "rate": 1.0}}
    assert c.dump_config(faults, run_id="r", expires_at=EXPIRES, ephemeral_storage_mb=1024)
    with pytest.raises(
        c.ConfigError, match="faults.disk.mb is 600, more than the function's ephemeral storage"
    ):
        c.dump_config(faults, run_id="r", expires_at=EXPIRES, ephemeral_storage_mb=512)


def test_version_1_documents_are_still_read():
    text = json.dumps({"version": 1, "run_id": "r", "expires_at": EXPIRES, "faults": FULL})
    parsed = c.parse_config(text)
    assert parsed.version == 1 and parsed.latency == c.LatencyFault(300, 100, 1.0)
    assert json.loads(parsed.to_json())["version"] == 2


def test_defaults_and_single_fault():
    parsed = c.parse_config(
        c.dump_config({"latency": {"ms": 10, "rate": 1}}, run_id="r", expires_at=EXPIRES)
    )
    assert parsed.latency == c.LatencyFault(ms=10, jitter_ms=0, rate=1.0)
    assert parsed.error is None and parsed.exception is None and parsed.timeout is None
    parsed = c.parse_config(c.dump_config({"error": {"rate": 0.5}}, run_id="r", expires_at=EXPIRES))
    assert parsed.error == c.ErrorFault(status_code=503, rate=0.5)


def test_config_is_frozen():
    parsed = c.parse_config(c.dump_config(FULL, run_id="r", expires_at=EXPIRES))
    with pytest.raises(AttributeError):
        parsed.run_id = "other"  # type: ignore[misc]


def test_active_until_expiry():
    parsed = c.parse_config(c.dump_config(FULL, run_id="r", expires_at=EXPIRES))
    assert parsed.active(EXPIRES - 0.001)
    assert not parsed.active(EXPIRES)
    assert not parsed.active(EXPIRES + 10)


@pytest.mark.parametrize(
    ("faults", "message"),
    [
        ({}, "at least one"),
        ({"latncy": {"ms": 1, "rate": 1}}, "unknown fault type(s) latncy"),
        ({"latency": {"rate": 1}}, "faults.latency.ms is required"),
        ({"latency": {"ms": -1, "rate": 1}}, "faults.latency.ms must be an integer"),
        ({"latency": {"ms": 1.5, "rate": 1}}, "faults.latency.ms must be an integer"),
        ({"latency": {"ms": True, "rate": 1}}, "faults.latency.ms must be an integer"),
        ({"latency": {"ms": 10, "jitter_ms": "5", "rate": 1}}, "jitter_ms must be an integer"),
        ({"latency": {"ms": 10}}, "faults.latency.rate is required"),
        ({"latency": {"ms": 10, "rate": 1.01}}, "faults.latency.rate must be a number from 0 to 1"),
        ({"latency": {"ms": 10, "rate": -0.1}}, "rate must be a number"),
        ({"latency": {"ms": 10, "rate": math.nan}}, "rate must be a number"),
        ({"latency": {"ms": 10, "rate": 1, "extra": 1}}, "unknown field(s) extra"),
        ({"error": {"status_code": 302, "rate": 1}}, "status_code must be an integer from 400"),
        ({"error": {"status_code": 600, "rate": 1}}, "status_code must be an integer from 400"),
        ({"exception": {"rate": "1"}}, "faults.exception.rate"),
        ({"timeout": []}, "faults.timeout must be an object"),
        (
            {"error": {"rate": 0.6}, "exception": {"rate": 0.5}},
            "rates must add up to at most 1",
        ),
    ],
)
def test_dump_rejects_invalid_faults(faults, message):
    with pytest.raises(c.ConfigError) as info:
        c.dump_config(faults, run_id="r", expires_at=EXPIRES)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("run_id", "expires_at", "message"),
    [
        ("", EXPIRES, "run_id"),
        ("x" * 129, EXPIRES, "run_id"),
        ("a\nb", EXPIRES, "run_id"),
        ("r", 0, "expires_at"),
        ("r", math.inf, "expires_at"),
        ("r", "soon", "expires_at"),
    ],
)
def test_dump_rejects_invalid_run_id_and_expiry(run_id, expires_at, message):
    with pytest.raises(c.ConfigError) as info:
        c.dump_config({"exception": {"rate": 0.1}}, run_id=run_id, expires_at=expires_at)
    assert message in str(info.value)


def test_config_error_is_a_value_error():
    assert issubclass(c.ConfigError, ValueError)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "is empty"),
        ("{not json", "not valid JSON"),
        ("[1]", "must be a JSON object"),
        ('{"version": 1}', "run_id is required"),
        (
            json.dumps({"version": 3, "run_id": "r", "expires_at": EXPIRES, "faults": FULL}),
            "version must be 1 or 2",
        ),
        (
            json.dumps(
                {"version": 1, "run_id": "r", "expires_at": EXPIRES, "faults": FULL, "x": 1}
            ),
            "unknown top-level field(s) x",
        ),
    ],
)
def test_parse_rejects_invalid_documents(text, message):
    with pytest.raises(c.ConfigError) as info:
        c.parse_config(text)
    assert message in str(info.value)


def test_size_limit_keeps_the_env_small():
    text = c.dump_config(FULL, run_id="r" * c.MAX_RUN_ID_LENGTH, expires_at=EXPIRES)
    assert len(text) <= c.MAX_CONFIG_BYTES < 4096
    long_conditions = [{"path": "p" * 200, "prefix": "x" * 200}] * 8
    with pytest.raises(c.ConfigError, match="more than 2048"):
        c.dump_config(
            {"error": {"rate": 1, "match": long_conditions}}, run_id="r", expires_at=EXPIRES
        )


@pytest.mark.parametrize(
    ("value", "disabled"),
    [
        ("1", True),
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("0", False),
        ("", False),
        ("false", False),
        ("yes", False),
        (" 1", False),
    ],
)
def test_is_disabled(value, disabled):
    assert c.is_disabled({c.DISABLE_ENV_KEY: value}) is disabled
    assert c.is_disabled({}) is False


def test_proxy_port():
    assert c.proxy_port({}) == 9140
    assert c.proxy_port({c.PORT_ENV_KEY: "9200"}) == 9200
    for bad in ("0", "70000", "abc", "-1"):
        with pytest.raises(c.ConfigError):
            c.proxy_port({c.PORT_ENV_KEY: bad})
