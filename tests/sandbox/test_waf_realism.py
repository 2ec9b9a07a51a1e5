"""AWS WAF as AWS counts (`aws` realism): an estimated rate, blocks that take effect late."""

from __future__ import annotations

from typing import Any

import pytest

from chaos.sandbox.realism import Realism
from chaos.sandbox.waf.engine import WafEngine
from chaos.sandbox.waf.rate import AWS_MAX_DETECTION_DELAY_S, RateCheckModel, estimated_count
from chaos.sandbox.waf.request import WebRequest
from tests.fake_clock import FakeClock

WINDOW_S = 60
LIMIT = 100
START = 60_000.0  # the start of a fixed 60 s window


def rate_acl() -> dict[str, Any]:
    return {
        "Name": "acl",
        "DefaultAction": {"Allow": {}},
        "VisibilityConfig": {"MetricName": "acl"},
        "Rules": [
            {
                "Name": "rate",
                "Priority": 0,
                "Action": {"Block": {}},
                "VisibilityConfig": {"MetricName": "rate"},
                "Statement": {
                    "RateBasedStatement": {
                        "Limit": LIMIT,
                        "EvaluationWindowSec": WINDOW_S,
                        "AggregateKeyType": "IP",
                    }
                },
            }
        ],
    }


def aws_engine(clock: FakeClock, *, seed: int = 7, time_scale: float = 1.0) -> WafEngine:
    realism = Realism(mode="aws", time_scale=time_scale, seed=seed)
    engine = WafEngine.for_realism(realism, fast_check_interval_s=2.0)
    engine.clock = clock
    engine.configure(rate_acl())
    return engine


def request(ip: str) -> WebRequest:
    return WebRequest(source_ip=ip, method="GET", uri_path="/orders")


def send(engine: WafEngine, count: int, ip: str) -> list[bool]:
    return [engine.evaluate(request(ip)).blocked for _ in range(count)]


def test_aws_realism_checks_every_10_s_scaled_and_fast_keeps_its_setting() -> None:
    assert WafEngine.for_realism(Realism(mode="aws", time_scale=0.2), 2.0).check_interval_s == 2
    assert WafEngine.for_realism(Realism(mode="aws"), 2.0).check_interval_s == 10
    fast = WafEngine.for_realism(Realism(), 3.0)
    assert fast.check_interval_s == 3 and not fast.model.estimated and fast.model.max_delay_s == 0


def test_the_estimate_weights_the_previous_window_by_its_overlap() -> None:
    steady = {int(START) - 60 + second: 2 for second in range(90)}  # 2 req/s for 90 s
    assert estimated_count(steady, START + 30, WINDOW_S) == 120, "a steady rate is exact"
    recent_burst = {int(START) - 5: 90, int(START) + 10: 20}
    # exactly 110 in the trailing 60 s, but the previous window weighs 1 - 30/60
    assert estimated_count(recent_burst, START + 30, WINDOW_S) == 20 + 90 * 0.5
    old_burst = {int(START) - 55: 150, int(START) + 5: 30}
    # exactly 30 in the trailing 60 s (the burst is 67 s old), estimated 30 + 150 * 0.8
    assert estimated_count(old_burst, START + 12, WINDOW_S) == 150


def test_a_key_the_estimate_puts_under_the_limit_is_not_blocked() -> None:
    clock = FakeClock(START - 5)
    engine = aws_engine(clock)
    send(engine, 90, "10.0.0.1")
    clock.now = START + 10
    send(engine, 20, "10.0.0.1")
    clock.now = START + 30  # 110 requests in the trailing minute, estimated 65
    engine.check()
    assert engine.status()["blocks"]["rate"] == {}
    clock.now = START + 30 + AWS_MAX_DETECTION_DELAY_S
    engine.check()
    assert not engine.evaluate(request("10.0.0.1")).blocked


def test_a_key_over_the_estimate_is_blocked_after_its_seeded_delay_of_at_most_30_s() -> None:
    clock = FakeClock(START + 1)
    engine = aws_engine(clock)
    send(engine, LIMIT + 1, "10.0.0.1")
    clock.now = START + 10
    engine.check()
    block = engine.status()["blocks"]["rate"]["10.0.0.1"]
    delay = block["blocks_at"] - block["over_since"]
    assert block["over_since"] == START + 1, "over since its requests' second, not the check"
    assert 0 <= delay <= AWS_MAX_DETECTION_DELAY_S
    expected = RateCheckModel.for_realism(Realism(mode="aws", seed=7)).delay_s(
        "rate", ("10.0.0.1",), "block"
    )
    # the same seed draws the same delay for the same key; never before the check saw it
    assert block["blocks_at"] == pytest.approx(max(START + 10, START + 1 + expected))
    clock.now = block["blocks_at"] - 0.001
    assert send(engine, 5, "10.0.0.1") == [False] * 5, "still over, not blocked yet"
    assert not engine.evaluate(request("10.0.0.2")).blocked
    clock.now = block["blocks_at"]
    assert engine.evaluate(request("10.0.0.1")).blocked
    assert engine.blocked_keys("rate") == {("10.0.0.1",)}


def test_block_delays_are_bounded_by_the_scaled_30_s_and_differ_per_key() -> None:
    model = RateCheckModel.for_realism(Realism(mode="aws", time_scale=0.2, seed=3))
    delays = [model.delay_s("rate", (f"10.0.1.{index}",), "block") for index in range(200)]
    assert all(0 <= delay <= 6.0 for delay in delays)
    assert len(set(delays)) == len(delays) and max(delays) > 4.5 and min(delays) < 1.5
    unseeded = RateCheckModel.for_realism(Realism(mode="aws"))
    assert 0 <= unseeded.delay_s("rate", ("10.0.0.1",), "block") <= AWS_MAX_DETECTION_DELAY_S


def test_a_key_back_under_the_limit_is_released_after_its_delay() -> None:
    clock = FakeClock(START + 1)
    engine = aws_engine(clock)
    send(engine, 2 * LIMIT, "10.0.0.1")
    clock.now = START + 10
    engine.check()
    clock.now = START + 10 + AWS_MAX_DETECTION_DELAY_S
    assert engine.evaluate(request("10.0.0.1")).blocked
    clock.now = START + 3 * WINDOW_S  # nothing left in the estimate
    engine.check()
    block = engine.status()["blocks"]["rate"]["10.0.0.1"]
    assert block["releases_at"] is not None
    assert 0 <= block["releases_at"] - clock.now <= AWS_MAX_DETECTION_DELAY_S
    clock.now = block["releases_at"]
    assert not engine.evaluate(request("10.0.0.1")).blocked


def test_a_key_back_under_before_its_block_takes_effect_is_never_blocked() -> None:
    def block_delay(seed: int) -> float:
        model = RateCheckModel.for_realism(Realism(mode="aws", seed=seed))
        return model.delay_s("rate", ("10.0.0.1",), "block")

    seed = next(seed for seed in range(300) if block_delay(seed) > 28)
    clock = FakeClock(START - 10)
    engine = aws_engine(clock, seed=seed)
    engine.check()
    clock.now = START - 5
    send(engine, 150, "10.0.0.1")  # over the limit from START - 5
    clock.now = START + 1  # estimated 150 * 59/60
    engine.check()
    block = engine.status()["blocks"]["rate"]["10.0.0.1"]
    assert block["over_since"] == START - 5 and block["blocks_at"] > START + 23
    clock.now = START + 22  # estimated 150 * 38/60 = 95: under before the block
    engine.check()
    assert engine.status()["blocks"]["rate"] == {}
    clock.now = START - 5 + AWS_MAX_DETECTION_DELAY_S
    assert not engine.evaluate(request("10.0.0.1")).blocked


def test_a_block_starts_at_most_30_s_after_the_key_first_exceeded_the_limit_over_seeds() -> None:
    """The delay counts from the crossing, not from the check that noticed it: with 10 s
    checks, a key crossing just after one would otherwise wait up to 40 s."""
    check_s, step_s = 10.0, 0.1
    after_crossing = []
    for seed in range(120):
        clock = FakeClock(START)
        engine = aws_engine(clock, seed=seed)
        engine.check()
        crossed_at = blocked_at = None
        for index in range(int(60 / step_s)):
            clock.now = START + 0.05 + index * step_s  # 10 req/s from a window's start
            if clock.now >= engine.last_check + check_s:  # type: ignore[operator]
                sent_at = clock.now
                clock.now = engine.last_check + check_s  # type: ignore[operator]
                engine.check()
                clock.now = sent_at
            if engine.evaluate(request("10.0.0.1")).blocked:
                blocked_at = clock.now
                break
            if index + 1 == LIMIT + 1:  # the estimate is exact here (no previous window)
                crossed_at = clock.now
        assert crossed_at is not None and blocked_at is not None, seed
        after_crossing.append(blocked_at - crossed_at)
    assert max(after_crossing) <= AWS_MAX_DETECTION_DELAY_S, max(after_crossing)
    # the bound is reached, not avoided: late draws block well after the next check, early
    # ones at the check that first sees the key over
    assert max(after_crossing) > 25 and min(after_crossing) <= check_s + step_s
