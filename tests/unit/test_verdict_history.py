"""Which earlier runs a `previous` objective compares with."""

from __future__ import annotations

from chaos.verdict.history import HistoryEntry, HistoryKey, no_reference, previous_reference
from chaos.verdict.model import GateSettings, gate_passes
from tests.unit.verdict_data import sample_of

KEY = HistoryKey(
    "orders-az-loss", "123456789012", "us-east-1", "https://x/prod", ("orders-create",)
)


def entry(
    run_id: str,
    ended_at: str,
    outcome: str = "passed",
    key: HistoryKey = KEY,
    latency: float = 10.0,
) -> HistoryEntry:
    return HistoryEntry(
        run_id, key, outcome, ended_at, {"baseline": sample_of([[latency] * 3, [latency] * 2])}
    )


def test_three_earlier_passing_runs_are_needed() -> None:
    history = [
        entry("r1", "2026-01-01T00:00:00Z"),
        entry("r2", "2026-01-02T00:00:00Z"),
        entry("r3", "2026-01-03T00:00:00Z", outcome="aborted"),
        entry(
            "r4",
            "2026-01-04T00:00:00Z",
            key=HistoryKey(
                "orders-az-loss", "123456789012", "eu-west-1", "https://x/prod", ("orders-create",)
            ),
        ),
        entry("now", "2026-01-05T00:00:00Z"),
    ]
    pooled, runs, reason = previous_reference(history, KEY, "baseline", current_run_id="now")
    assert pooled is None and sorted(runs) == ["r1", "r2"]
    assert reason is not None and reason.startswith("inconclusive: 2 earlier passing run(s)")
    verdict = no_reference(reason, "<=", 1.2)
    assert verdict.verdict == "inconclusive" and not gate_passes(verdict, GateSettings())


def test_the_most_recent_passing_runs_are_pooled() -> None:
    history = [
        entry(f"r{day}", f"2026-01-{day:02d}T00:00:00Z", latency=float(day)) for day in range(1, 9)
    ]
    history.append(entry("failed", "2026-01-20T00:00:00Z", outcome="failed", latency=99.0))
    pooled, runs, reason = previous_reference(history, KEY, "baseline", current_run_id="x")
    assert reason is None and pooled is not None
    assert runs == ["r8", "r7", "r6", "r5", "r4"]
    assert pooled.seconds == 10 and pooled.latency_values.tolist() == [4.0, 5.0, 6.0, 7.0, 8.0]


def test_a_phase_without_requests_does_not_count() -> None:
    empty = HistoryEntry("e", KEY, "passed", "2026-01-09T00:00:00Z", {"baseline": sample_of([[]])})
    history = [entry("r1", "2026-01-01T00:00:00Z"), entry("r2", "2026-01-02T00:00:00Z"), empty]
    assert previous_reference(history, KEY, "baseline", "x")[0] is None
