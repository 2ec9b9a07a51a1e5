"""`load.workers`: each Locust worker's requests over the run and per phase, streamed."""

from __future__ import annotations

from pathlib import Path

from chaos.metrics.aggregate import RunAggregator
from chaos.metrics.rows import SecondRow
from chaos.phases import OUTSIDE_SEGMENTS, SEGMENTS
from tests.unit.assembled import WORKERS, assembled


def row(second: int, worker: str | None, requests: int, traffic: str = "normal") -> SecondRow:
    item = SecondRow(
        second,
        "U",
        "GET /",
        traffic=traffic,  # type: ignore[arg-type]
        identity="198.51.100.9" if traffic == "abusive" else None,
        requests=requests,
        worker=worker,
    )
    item.histogram.record(10.0, requests)
    return item


def test_requests_are_counted_per_worker_and_segment_as_they_arrive() -> None:
    aggregator = RunAggregator(finalize_after_s=1)
    aggregator.add(row(99, "a", 4))  # ramp-up: before the first boundary
    aggregator.mark("baseline", 100.0)
    aggregator.add(row(100, "a", 2))
    aggregator.add(row(100, "b", 3, traffic="abusive"))
    aggregator.mark("transition", 101.0)
    aggregator.mark("fault", 101.4)
    aggregator.add(row(101, "a", 1))  # the transition's second
    aggregator.add(row(102, "b", 5))
    aggregator.add(row(100, "b", 7))  # late: after second 100 was finalized
    aggregator.add(row(102, None, 9))  # no worker label (one process): in no worker
    aggregator.finish(103.0)
    by_segment = aggregator.worker_requests_by_segment()
    assert list(by_segment) == ["a", "b"]
    assert list(by_segment["a"]) == [*SEGMENTS, OUTSIDE_SEGMENTS]
    assert by_segment["a"] == {
        "baseline": 2,
        "transition": 1,
        "fault": 0,
        "recovery": 0,
        "outside": 4,
    }
    assert by_segment["b"] == {
        "baseline": 10,
        "transition": 0,
        "fault": 5,
        "recovery": 0,
        "outside": 0,
    }
    assert aggregator.worker_requests == {"a": 7, "b": 15}


def test_the_result_lists_each_workers_requests_per_phase(tmp_path: Path) -> None:
    result = assembled(tmp_path)
    workers = result["load"]["workers"]
    assert [worker["worker"] for worker in workers] == list(WORKERS)
    for worker in workers:
        # 3 normal + 2 legit + 2 abusive requests a second from each worker
        assert worker["requests_by_phase"] == {
            "baseline": 20 * 7,
            "transition": 2 * 7,
            "fault": 19 * 7,
            "recovery": 19 * 7,
            "outside": 2 * 7,
        }, worker
        assert worker["requests"] == sum(worker["requests_by_phase"].values())
    for phase in ("baseline", "fault", "recovery"):
        measured = result["phases"][phase]
        assert (
            sum(worker["requests_by_phase"][phase] for worker in workers)
            == measured["requests"] + measured["abusive_requests"]
        ), phase
