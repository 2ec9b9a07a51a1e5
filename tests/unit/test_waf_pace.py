"""WAF clients keep their pace and, spawned together, do not send in the same instant."""

from __future__ import annotations

import random

from chaos.load.pace import next_send_at


def test_clients_spawned_together_spread_their_first_requests_over_the_interval() -> None:
    draw = random.Random(7)
    firsts = sorted(next_send_at(None, 100.0, 1.0, draw) for _ in range(20))
    assert all(100.0 <= first <= 101.0 for first in firsts)
    # Each tenth of the second holds at most a few of the 20 clients, not all of them.
    per_tenth = [
        sum(1 for first in firsts if 100.0 + k / 10 <= first < 100.0 + (k + 1) / 10)
        for k in range(10)
    ]
    assert max(per_tenth) <= 6 and sum(1 for count in per_tenth if count) >= 6


def test_a_client_keeps_its_interval_without_drift() -> None:
    sent = [100.25]
    for _ in range(9):
        sent.append(next_send_at(sent[-1], sent[-1] + 0.01, 0.5))
    assert sent[-1] == 100.25 + 9 * 0.5


def test_a_client_that_fell_behind_restarts_from_now() -> None:
    assert next_send_at(100.0, 105.0, 1.0) == 105.0
    assert next_send_at(100.0, 101.5, 1.0) == 101.0
