"""When an az-loss pin and its restore count as converged, and how long they wait."""

from __future__ import annotations

from chaos.aws.capacity import Capacity, back_to, lost_az_empty, wait_for


def reading(
    per_az: dict[str, int],
    *,
    steady: bool = True,
    occupied: dict[str, int] | None = None,
    blocked: str | None = None,
) -> Capacity:
    return Capacity(
        unit="running tasks",
        per_az=per_az,
        occupied=per_az if occupied is None else occupied,
        steady=steady,
        state="test",
        blocked=blocked,
    )


def test_a_pin_converges_once_steady_and_nothing_is_left_in_the_lost_az() -> None:
    goal = lost_az_empty("use1-az1")
    assert goal(reading({"use1-az2": 2, "use1-az3": 1}))
    assert not goal(reading({"use1-az2": 2, "use1-az3": 1}, steady=False))
    draining = reading(
        {"use1-az2": 2, "use1-az3": 1}, occupied={"use1-az1": 1, "use1-az2": 2, "use1-az3": 1}
    )
    assert not goal(draining), "a task still stopping in the lost AZ is still there"


def test_a_restore_converges_once_capacity_is_spread_as_before() -> None:
    even = back_to({"use1-az1": 1, "use1-az2": 1, "use1-az3": 1})
    assert even(reading({"use1-az1": 1, "use1-az2": 1, "use1-az3": 1}))
    assert not even(reading({"use1-az2": 2, "use1-az3": 1}))
    assert not even(reading({"use1-az1": 1, "use1-az2": 1, "use1-az3": 1}, steady=False))
    odd = back_to({"use1-az1": 2, "use1-az2": 1, "use1-az3": 1})
    assert odd(reading({"use1-az1": 1, "use1-az2": 2, "use1-az3": 1})), "AWS picks the odd one"
    assert not odd(reading({"use1-az1": 1, "use1-az2": 3, "use1-az3": 0}))
    scaled = back_to({"use1-az1": 1, "use1-az2": 1})
    assert scaled(reading({"use1-az1": 3, "use1-az2": 1})), "scaled meanwhile: the AZ IDs count"
    assert back_to({})(reading({}))


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_waiting_is_bounded_backs_off_and_stops_early_when_it_cannot_converge() -> None:
    clock = Clock()
    stuck = wait_for(
        lambda: reading({"use1-az1": 1}),
        lost_az_empty("use1-az1"),
        30.0,
        clock=clock,
        sleep=clock.sleep,
    )
    assert not stuck.converged and stuck.waited_s == 30.0
    assert clock.sleeps[0] == 0.5 and max(clock.sleeps) == 5.0 and len(clock.sleeps) < 20
    readings = iter([reading({"use1-az1": 1}), reading({"use1-az2": 1})])
    done = wait_for(
        lambda: next(readings),
        lost_az_empty("use1-az1"),
        30.0,
        clock=Clock(),
        sleep=lambda seconds: None,
    )
    assert done.converged and done.capacity is not None and done.capacity.per_az == {"use1-az2": 1}
    failed = wait_for(
        lambda: reading({"use1-az1": 1}, blocked="update failed"),
        lost_az_empty("use1-az1"),
        600.0,
        clock=Clock(),
        sleep=lambda seconds: None,
    )
    assert not failed.converged and failed.waited_s == 0.0
    gone = wait_for(
        lambda: None, lost_az_empty("use1-az1"), 600.0, clock=Clock(), sleep=lambda seconds: None
    )
    assert not gone.converged and gone.capacity is None
