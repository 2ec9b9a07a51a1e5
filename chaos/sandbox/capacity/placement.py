"""ECS tasks and Auto Scaling instances that follow their service's / group's subnets over time.

moto stores ECS services and Auto Scaling groups but schedules nothing: a service has no
tasks, a group starts every instance in its first subnet, and a change of subnets moves
nothing. In the sandbox process a :class:`PlacementController` does what the two
schedulers do on AWS (:mod:`chaos.sandbox.capacity.ecs`,
:mod:`chaos.sandbox.capacity.asg`): spread the capacity evenly over the Availability
Zones of the current subnets and, when the subnets change, start the replacements first
and let the old tasks / instances drain - for ``GAMEDAY_SANDBOX_DRAIN_S`` (default 20 s,
scaled by the realism time scale) with ``aws`` realism, at once with ``fast`` realism.
Changes through the API apply within the API call that makes them (a hook on moto's
backend), then a background loop carries them on.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from chaos.sandbox.capacity.asg import AsgScheduler
from chaos.sandbox.capacity.az_spread import DEFAULT_DRAIN_S, MoveTiming
from chaos.sandbox.capacity.ecs import EcsScheduler
from chaos.sandbox.realism import Realism

log = logging.getLogger(__name__)

TICK_S = 0.25
MAX_SETTLE_STEPS = 20


class Scheduler(Protocol):
    def step(self, now: float, timing: MoveTiming) -> bool:
        """Move every service / group one step on; True if anything changed."""

    def api_changes(self) -> list[tuple[Any, str]]:
        """The (moto backend, method) calls after which placement must follow at once."""

    def status(self) -> list[dict[str, Any]]: ...


def call_after(backend: Any, method: str, after: Callable[[], None]) -> None:
    """Make this backend object's `method` run `after` once it has returned."""
    original = getattr(backend, method)

    @functools.wraps(original)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        after()
        return result

    setattr(backend, method, wrapped)


class PlacementController:
    """Runs the ECS and Auto Scaling schedulers: on every API change and every tick."""

    def __init__(
        self,
        schedulers: Mapping[str, Scheduler],
        timing: MoveTiming,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.schedulers = dict(schedulers)
        self.timing = timing
        self.clock = clock
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @classmethod
    def for_sandbox(
        cls, region: str, account_id: str, realism: Realism, drain_s: float = DEFAULT_DRAIN_S
    ) -> PlacementController:
        return cls(
            {
                "ecs_services": EcsScheduler.of(region, account_id),
                "auto_scaling_groups": AsgScheduler.of(region, account_id),
            },
            MoveTiming.for_realism(realism, drain_s),
        )

    def reconcile(self, timing: MoveTiming | None = None) -> None:
        """One step of every scheduler; with immediate timing, steps until nothing changes."""
        timing = timing or self.timing
        with self._lock:
            for _ in range(MAX_SETTLE_STEPS if timing.immediate else 1):
                changed = False
                for scheduler in self.schedulers.values():
                    changed = scheduler.step(self.clock(), timing) or changed
                if not changed:
                    return

    def settle(self) -> None:
        """Bring the seeded services and groups to their steady state at once."""
        self.reconcile(MoveTiming(drain_s=0.0, immediate=True))

    def follow_api_changes(self) -> None:
        """Reconcile right after every API call that changes a service's or group's placement."""
        for scheduler in self.schedulers.values():
            for backend, method in scheduler.api_changes():
                call_after(backend, method, self._reconcile_safely)

    def start(self) -> None:
        self.follow_api_changes()
        self.settle()
        self._thread = threading.Thread(target=self._run, name="sandbox-placement", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            self._reconcile_safely()

    def _reconcile_safely(self) -> None:
        try:
            self.reconcile()
        except Exception:  # noqa: BLE001 - neither the API call nor the loop may fail on it
            log.warning("placement step failed", exc_info=True)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {
                "drain_s": self.timing.drain_s,
                "immediate": self.timing.immediate,
                **{name: scheduler.status() for name, scheduler in self.schedulers.items()},
            }
