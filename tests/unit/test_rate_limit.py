"""Lambda requests are paced at the account's documented rates."""

from __future__ import annotations

from chaos.aws.rate_limit import TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_a_burst_is_spread_at_the_rate() -> None:
    fake = FakeTime()
    bucket = TokenBucket(15.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(45):  # 3 s worth of requests at once
        bucket.take()
    # 15 go at once (the saved-up burst), the next 30 take two seconds.
    assert abs(fake.now - 2.0) < 1e-9
    assert len(fake.slept) == 30


def test_an_idle_bucket_refills_but_never_beyond_its_burst() -> None:
    fake = FakeTime()
    bucket = TokenBucket(10.0, clock=fake.clock, sleep=fake.sleep)
    for _ in range(10):
        bucket.take()
    fake.now += 60.0
    for _ in range(10):
        assert bucket.take() == 0.0
    assert bucket.take() > 0.0
