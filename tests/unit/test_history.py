"""Run history: records keyed by experiment and target, written once, read back distrustfully,
pooled for `previous` objectives, and shown as a trend."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chaos.experiment.model import Experiment
from chaos.history import (
    HistoryConflict,
    LocalHistoryStore,
    RunHistory,
    entry_from_record,
    history_key,
    history_record,
    key_digest,
    trend_lines,
    trend_rows,
)
from chaos.verdict import Relative, judge
from chaos.verdict.history import HistoryKey
from chaos.verdict.sample import sample_to_record
from tests.unit.verdict_data import sample_of

KEY = HistoryKey("lambda-faults", "123456789012", "us-east-1", "sandbox", ("orders",))


def experiment(**target: Any) -> Experiment:
    return Experiment.model_validate(
        {
            "version": 1,
            "kind": "experiment",
            "name": "lambda-faults",
            "target": {"region": "us-east-1", "endpoint": "sandbox", **target},
            "phases": {"baseline": "10s", "fault": "10s", "recovery": "10s"},
            "faults": [
                {
                    "type": "lambda-extension",
                    "functions": ["orders", "orders-node"],
                    "latency": {"ms": 300, "rate": 1.0},
                },
                {
                    "type": "az-loss",
                    "az_id": "use1-az1",
                    "targets": {"lambda": ["orders"], "ecs_services": ["orders/web"]},
                },
            ],
        }
    )


def result(
    run_id: str,
    ended_at: str,
    outcome: str = "passed",
    latency: float = 20.0,
    seconds: int = 20,
    per_second: int = 50,
) -> dict[str, Any]:
    """A result.json as the run assembles it, with per-second evidence in every phase."""
    evidence = sample_to_record(sample_of([[latency] * per_second] * seconds))
    phase = {
        "requests": seconds * per_second,
        "availability": 1.0,
        "error_rate": 0.0,
        "latency_ms": {"p50": latency, "p99": latency},
        "throughput_rps": per_second,
        "evidence": evidence,
    }
    return {
        "run_id": run_id,
        "started_at": ended_at,
        "ended_at": ended_at,
        "outcome": outcome,
        "phases": {"baseline": dict(phase), "fault": dict(phase), "recovery": dict(phase)},
        "timeline": [
            {"phase": "fault", "status_classes": {"2xx": 3, "5xx": 1}},
            {"phase": "fault", "status_classes": {"2xx": 2}},
            {"phase": "baseline", "status_classes": {"2xx": 9}},
        ],
        "slo": [
            {
                "sli": "latency_p99_ms",
                "phase": "fault",
                "objective": "<= 1.2x previous",
                "observed": latency,
                "passed": outcome == "passed",
                "verdict": "passed",
                "interval": {
                    "low": latency - 1,
                    "high": latency + 1,
                    "confidence": 0.95,
                    "method": "test",
                },
            }
        ],
    }


def record_runs(history: RunHistory, *runs: dict[str, Any], key: HistoryKey = KEY) -> None:
    for run in runs:
        history.append(key, history_record(run, key))


def test_key_is_experiment_and_target_not_the_code() -> None:
    key = history_key(experiment(), "123456789012")
    assert key == HistoryKey(
        "lambda-faults",
        "123456789012",
        "us-east-1",
        "sandbox",
        ("ecs_services:orders/web", "lambda:orders", "orders", "orders-node"),
    )
    other_account = history_key(experiment(), "210987654321")
    assert key_digest(other_account) != key_digest(key)
    assert key_digest(history_key(experiment(), "123456789012")) == key_digest(key)


def test_record_keeps_slis_status_classes_evidence_and_verdicts() -> None:
    record = history_record(result("r1", "2026-12-01T00:00:00Z"), KEY)
    assert record["key"]["experiment"] == "lambda-faults"
    fault = record["phases"]["fault"]
    assert fault["status_classes"] == {"2xx": 5, "5xx": 1}
    assert fault["slis"]["latency_ms"]["p99"] == 20.0 and len(fault["evidence"]) == 20
    assert record["slo"][0]["interval"]["high"] == 21.0
    entry = entry_from_record(json.loads(json.dumps(record)))
    assert entry.key == KEY and entry.phases["fault"].total_requests == 1000


def test_a_record_is_written_once(gameday_home: Path) -> None:
    history = RunHistory([LocalHistoryStore()])
    record_runs(history, result("r1", "2026-12-01T00:00:00Z"))
    with pytest.raises(HistoryConflict):
        record_runs(history, result("r1", "2026-12-01T00:00:00Z", latency=99.0))
    (kept,) = history.records(KEY)
    assert kept["phases"]["fault"]["slis"]["latency_ms"]["p99"] == 20.0
    assert not list((gameday_home / "history" / key_digest(KEY)).glob(".*"))  # no temp left


def test_previous_needs_three_earlier_passing_runs_on_the_same_target(gameday_home: Path) -> None:
    history = RunHistory([LocalHistoryStore()])
    other_target = HistoryKey("lambda-faults", "123456789012", "eu-west-1", "sandbox", ("orders",))
    record_runs(
        history,
        result("r1", "2026-12-01T00:00:00Z"),
        result("r2", "2026-12-02T00:00:00Z"),
        result("r3", "2026-12-03T00:00:00Z", outcome="aborted"),
        result("r4", "2026-12-04T00:00:00Z", outcome="error"),
    )
    record_runs(history, result("r5", "2026-12-05T00:00:00Z"), key=other_target)
    reference = history.reference_for(KEY, "fault", current_run_id="now")
    assert reference.sample is None and sorted(reference.run_ids) == ["r1", "r2"]
    assert reference.reason is not None and "2 earlier passing run(s)" in reference.reason

    record_runs(history, result("r6", "2026-12-06T00:00:00Z"))
    reference = history.reference_for(KEY, "fault", current_run_id="now")
    assert reference.reason is None and sorted(reference.run_ids) == ["r1", "r2", "r6"]
    assert reference.sample is not None and reference.sample.total_requests == 3000


def test_records_that_lie_about_their_key_or_are_malformed_are_skipped(gameday_home: Path) -> None:
    history = RunHistory([LocalHistoryStore()])
    record_runs(history, result("r1", "2026-12-01T00:00:00Z"))
    folder = gameday_home / "history" / key_digest(KEY)
    foreign = history_record(result("r2", "2026-12-02T00:00:00Z"), KEY)
    foreign["key"]["region"] = "eu-west-1"  # copied here from another target's folder
    (folder / "r2.json").write_text(json.dumps(foreign))
    (folder / "r3.json").write_text("{not json")
    broken = history_record(result("r4", "2026-12-04T00:00:00Z"), KEY)
    broken["phases"]["fault"]["evidence"] = [[1, 0]]
    (folder / "r4.json").write_text(json.dumps(broken))
    assert [record["run_id"] for record in history.records(KEY)] == ["r1"]
    assert len(history.skipped) == 2  # the lie and the broken evidence (r3: not JSON)


def test_a_regression_fails_against_previous(gameday_home: Path) -> None:
    """Three earlier runs at 20 ms; this run puts 10 % of its requests at 200 ms."""
    history = RunHistory([LocalHistoryStore()])
    record_runs(history, *(result(f"r{day}", f"2026-12-0{day}T00:00:00Z") for day in (1, 2, 3)))
    reference = history.reference_for(KEY, "fault", current_run_id="now")
    current = sample_of([[20.0] * 45 + [200.0] * 5] * 20)
    verdict = judge(
        "latency_p99_ms", current, Relative("<=", "previous", 1.2), 0.95, reference=reference.sample
    )
    assert verdict.verdict == "failed"
    unchanged = judge(
        "latency_p99_ms",
        sample_of([[20.0] * 50] * 20),
        Relative("<=", "previous", 1.2),
        0.95,
        reference=reference.sample,
    )
    assert unchanged.verdict == "passed"


def test_trend_shows_one_line_per_run_with_intervals_and_marks_this_one() -> None:
    records = [
        history_record(result("r1", "2026-12-01T00:00:00Z"), KEY),
        history_record(result("r2", "2026-12-02T00:00:00Z", outcome="failed", latency=45.5), KEY),
    ]
    lines = trend_lines(records, current_run_id="r2")
    assert len(lines) == 2 and lines[1].startswith("* 2026-12-02T00:00:00Z")
    assert "failed" in lines[1] and "latency_p99_ms@fault 45.5 [44.5, 46.5]" in lines[1]
    assert lines[0].startswith("  2026-12-01") and "passed" in lines[0]
    rows = trend_rows(records, "r2", limit=1)
    assert [row["run_id"] for row in rows] == ["r2"] and rows[0]["current"]


def waiting_for_history(run_id: str, ended_at: str, other_failure: bool = False) -> dict[str, Any]:
    """A run whose `previous` check was inconclusive for want of earlier runs."""
    run = result(run_id, ended_at, outcome="failed")
    run["slo"] = [
        {
            "sli": "latency_p99_ms",
            "phase": "fault",
            "objective": "<= 1.2x previous",
            "observed": 20.0,
            "passed": False,
            "verdict": "inconclusive",
            "note": "inconclusive: 1 earlier passing run(s) of x on this target with "
            "requests in phase fault, 3 needed",
        }
    ]
    if other_failure:
        run["slo"].append(
            {
                "sli": "availability",
                "phase": "fault",
                "objective": ">= 99%",
                "observed": 0.5,
                "passed": False,
                "verdict": "failed",
            }
        )
    return run


def test_runs_failed_only_for_want_of_history_start_the_history(gameday_home: Path) -> None:
    """With the default gate (inconclusive fails) a `previous` objective fails its first
    runs; they still serve as references, unless another check failed."""
    history = RunHistory([LocalHistoryStore()])
    record_runs(
        history,
        waiting_for_history("r1", "2026-12-01T00:00:00Z"),
        waiting_for_history("r2", "2026-12-02T00:00:00Z"),
        waiting_for_history("r3", "2026-12-03T00:00:00Z", other_failure=True),
    )
    reference = history.reference_for(KEY, "fault", current_run_id="now")
    assert sorted(reference.run_ids) == ["r1", "r2"] and reference.sample is None
    record_runs(history, waiting_for_history("r4", "2026-12-04T00:00:00Z"))
    assert history.reference_for(KEY, "fault", current_run_id="now").reason is None
