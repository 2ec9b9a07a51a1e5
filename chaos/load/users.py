"""The base user class of gameday locustfiles: each simulated client's WAF identity and pace.

Imported only inside Locust processes (it imports Locust, hence gevent). A locustfile
derives its user class from `GamedayUser`; our plugin (chaos/load/locust_plugin.py)
derives the abusive and legit WAF clients from that class, so they send the same requests.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any, ClassVar

from locust import FastHttpUser
from locust.runners import WorkerRunner

from chaos.load.identity import client_index
from chaos.load.pace import next_send_at
from chaos.load.process_config import LoadPlan
from chaos.metrics.rows import Traffic

# One counter per traffic kind and process: identities stay distinct across user classes.
_COUNTERS: dict[str, Iterator[int]] = {}


class ActivePlan:
    """The run's load plan in this process, set by our plugin before any user starts."""

    plan = LoadPlan()


class AbusiveSwitch:
    """Set (by the driver, through our plugin) when abusive clients must stop abusing."""

    stopped = False


class GamedayUser(FastHttpUser):
    """A Locust user that carries the WAF identity of its traffic kind on every request."""

    abstract = True
    gameday_traffic: ClassVar[Traffic] = "normal"
    # Requests (tasks) per second for WAF clients; None: the locustfile's own wait_time.
    gameday_rps: ClassVar[float | None] = None

    def __init__(self, environment: Any) -> None:
        self.gameday_identity: str | None = None
        plan = ActivePlan.plan
        if plan.waf is not None:
            local = next(_COUNTERS.setdefault(self.gameday_traffic, itertools.count()))
            runner = environment.runner
            worker = runner.worker_index if isinstance(runner, WorkerRunner) else 0
            identity = plan.waf.identity.identity(
                self.gameday_traffic, client_index(local, worker, plan.workers)
            )
            self.gameday_identity = identity.label
            self.default_headers = {**(self.default_headers or {}), **identity.headers}
        # Built once: Locust copies it into every request's context.
        self._gameday_context = {
            "gameday": (type(self).__name__, self.gameday_traffic, self.gameday_identity)
        }
        self._gameday_next_at: float | None = None
        super().__init__(environment)

    def context(self) -> dict[str, Any]:
        return self._gameday_context


def paced_wait(user: GamedayUser) -> float:
    """A wait_time keeping a WAF client at its pace (see chaos.load.pace)."""
    rps = user.gameday_rps or 1.0
    waf = ActivePlan.plan.waf
    if user.gameday_traffic == "abusive" and AbusiveSwitch.stopped and waf is not None:
        rps = waf.legit_rps  # probes at the legit pace: they show when the block lifts
    now = time.monotonic()
    scheduled = next_send_at(user._gameday_next_at, now, 1.0 / rps)
    user._gameday_next_at = scheduled
    return max(0.0, scheduled - now)
