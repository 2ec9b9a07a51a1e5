"""Which segment each second counts in: only whole seconds count in a phase.

A run marks its boundaries when they happen, at any fraction of a second; rows come one
per whole second. A second that a boundary cuts holds requests from both sides of it
(e.g. the first faulted responses of a fault in force at 8.6 s, in a second whose
baseline ended at 8.3 s): it must count in no phase.
"""

from __future__ import annotations

from chaos.metrics.aggregate import PhaseClock, RunAggregator
from chaos.metrics.rows import SecondRow


def marked(*marks: tuple[str | None, float]) -> PhaseClock:
    clock = PhaseClock()
    for label, at in marks:
        clock.mark(label, at)
    return clock


RUN = (
    ("baseline", 0.4),
    ("transition", 8.3),
    ("fault", 8.6),
    ("transition", 20.2),
    ("recovery", 21.7),
    (None, 30.5),
)


def test_a_second_cut_by_a_boundary_counts_in_no_phase() -> None:
    clock = marked(*RUN)
    assert clock.label_of(0) is None  # the run starts at 0.4: outside
    assert [clock.label_of(second) for second in (1, 7)] == ["baseline", "baseline"]
    assert clock.label_of(8) == "transition"  # baseline to 8.3, fault from 8.6
    assert [clock.label_of(second) for second in (9, 19)] == ["fault", "fault"]
    assert [clock.label_of(second) for second in (20, 21)] == ["transition", "transition"]
    assert [clock.label_of(second) for second in (22, 29)] == ["recovery", "recovery"]
    assert clock.label_of(30) is None  # the run ends at 30.5
    assert {
        label: clock.seconds_of(label) for label in ("baseline", "transition", "fault", "recovery")
    } == {"baseline": 7, "transition": 3, "fault": 11, "recovery": 8}


def test_a_second_between_two_phases_with_no_transition_counts_in_neither() -> None:
    clock = marked(("baseline", 0.0), ("fault", 5.5), (None, 9.0))
    assert [clock.label_of(second) for second in range(9)] == [
        *["baseline"] * 5,
        "transition",
        *["fault"] * 3,
    ]


def test_the_faulted_responses_of_a_cut_second_are_not_the_baselines() -> None:
    aggregator = RunAggregator()
    for label, at in RUN:
        aggregator.mark(label, at)
    for second in range(0, 31):
        failing = 5 if 8 <= second <= 20 else 0  # the fault's errors from 8.6 to 20.2
        aggregator.add(SecondRow(second, "U", "GET /", requests=10, failures=failing))
    aggregator.finish(31.0)
    assert aggregator.segment_totals("baseline").failures == 0
    assert aggregator.segment_totals("recovery").failures == 0
    assert aggregator.segment_totals("fault").failures == 5 * 11
    assert aggregator.segment_totals("transition").failures == 5 * 2
