"""Fault decisions, injected payloads and EMF telemetry (gameday_chaos.engine)."""

from __future__ import annotations

import io
import json
import random

import pytest
from gameday_chaos import config as c
from gameday_chaos.engine import INJECTED_EXCEPTION_TYPE, NO_FAULT, FaultEngine, Telemetry

NOW = 1_800_000_000.0


def engine(faults, seed=7, expires_at=NOW + 600):
    config = c.parse_config(c.dump_config(faults, run_id="r-9", expires_at=expires_at))
    return FaultEngine(config, random.Random(seed))


def test_rate_one_always_fires_and_rate_zero_never():
    always = engine({"error": {"status_code": 500, "rate": 1.0}})
    never = engine({"error": {"status_code": 500, "rate": 0.0}, "latency": {"ms": 5, "rate": 0}})
    for _ in range(500):
        assert always.decide(NOW).outcome == "error"
        assert never.decide(NOW) is NO_FAULT


def test_nothing_is_injected_after_expiry():
    e = engine({"exception": {"rate": 1.0}, "latency": {"ms": 10, "rate": 1.0}}, expires_at=NOW)
    assert e.decide(NOW - 1).outcome == "exception"
    assert e.decide(NOW) is NO_FAULT
    assert e.decide(NOW + 3600) is NO_FAULT


def test_outcome_shares_follow_their_rates():
    e = engine(
        {"error": {"rate": 0.3}, "exception": {"rate": 0.2}, "timeout": {"rate": 0.1}},
        seed=1234,
    )
    n = 20_000
    counts = {"error": 0, "exception": 0, "timeout": 0, None: 0}
    for _ in range(n):
        counts[e.decide(NOW).outcome] += 1
    for name, rate in (("error", 0.3), ("exception", 0.2), ("timeout", 0.1), (None, 0.4)):
        sd = (n * rate * (1 - rate)) ** 0.5
        assert abs(counts[name] - n * rate) < 4.5 * sd, (name, counts)


def test_latency_is_independent_and_jitter_is_bounded():
    e = engine({"latency": {"ms": 100, "jitter_ms": 40, "rate": 0.5}, "error": {"rate": 1.0}})
    values = []
    for _ in range(4000):
        d = e.decide(NOW)
        assert d.outcome == "error"
        if d.latency_ms:
            values.append(d.latency_ms)
    assert 1800 < len(values) < 2200
    assert all(60 <= v <= 140 for v in values)
    assert min(values) < 70 and max(values) > 130  # jitter spreads both ways


def test_jitter_never_makes_latency_negative():
    e = engine({"latency": {"ms": 5, "jitter_ms": 50, "rate": 1.0}})
    assert all(e.decide(NOW).latency_ms >= 0 for _ in range(1000))


def test_error_response_is_an_api_gateway_proxy_response():
    e = engine({"error": {"status_code": 429, "rate": 1.0}})
    response = json.loads(e.error_response())
    assert response["statusCode"] == 429
    assert response["headers"]["Content-Type"] == "application/json"
    assert response["isBase64Encoded"] is False
    body = json.loads(response["body"])
    assert body["injected_fault"] == "error" and body["run_id"] == "r-9"
    assert "429" in body["error"]


def test_exception_body_names_the_chaos_fault():
    document = json.loads(engine({"exception": {"rate": 1.0}}).exception_body())
    assert document["errorType"] == INJECTED_EXCEPTION_TYPE == "GamedayChaos.InjectedException"
    assert "r-9" in document["errorMessage"] and document["stackTrace"] == []


def test_telemetry_writes_one_emf_line_per_fault():
    stream = io.StringIO()
    telemetry = Telemetry("orders-get", stream)
    telemetry.emit("latency", "r-1", "req-1", {"latency_ms": 12.5})
    telemetry.emit("error", "r-1", "req-2")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    directive = first["_aws"]["CloudWatchMetrics"][0]
    assert directive == {
        "Namespace": "Chaos",
        "Dimensions": [["FunctionName", "FaultType"]],
        "Metrics": [{"Name": "InjectedFaults", "Unit": "Count"}],
    }
    assert isinstance(first["_aws"]["Timestamp"], int)
    assert first["FunctionName"] == "orders-get" and first["FaultType"] == "latency"
    assert first["InjectedFaults"] == 1 and first["run_id"] == "r-1"
    assert first["latency_ms"] == 12.5 and first["request_id"] == "req-1"
    assert json.loads(lines[1])["FaultType"] == "error"


def test_telemetry_never_raises_on_a_broken_stream():
    stream = io.StringIO()
    stream.close()
    Telemetry("f", stream).emit("error", "r", "q")


@pytest.mark.parametrize("rate", [0.1])
def test_decision_rate_over_2000_draws_within_999_interval(rate):
    """Unseeded (system randomness, like the extension): 0.1% false-failure rate by design."""
    config = c.parse_config(
        c.dump_config({"error": {"rate": rate}}, run_id="r", expires_at=NOW + 1)
    )
    e = FaultEngine(config)
    fired = sum(e.decide(NOW).outcome == "error" for _ in range(2000))
    assert 157 <= fired <= 245  # exact 99.9% binomial interval for n=2000, p=0.1
