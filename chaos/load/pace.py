"""When a paced WAF client sends next: evenly spaced, without drift, spread over the second.

Pure arithmetic (no Locust import), used by chaos.load.users.paced_wait inside the Locust
processes.
"""

from __future__ import annotations

import random


def next_send_at(
    previous: float | None, now: float, interval: float, draw: random.Random | None = None
) -> float:
    """The monotonic time of a client's next request, one `interval` after its previous.

    A client's first request is placed at a random point of its first interval: clients
    spawned together would otherwise all send in the same instant of every second, a
    sawtooth in the throughput chart and bursts the WAF and the function see as such. A
    client that fell more than an interval behind (slow responses) restarts from now.
    """
    if previous is None:
        return now + (draw or random).uniform(0.0, interval)
    scheduled = previous + interval
    return now if scheduled < now - interval else scheduled
