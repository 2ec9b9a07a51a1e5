"""Per-second aggregation in the Locust collector: blocks vs failures, and rows identical to
recording every request into its row directly (the collector only defers the work).

Which single response is a failure is tabled in test_failure_counting; the reference here
restates that rule by hand (never by calling the collector's own `counts_as_failure`)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chaos.load.collector import WAF_BLOCK, RowCollector, Source, status_class, with_flags
from chaos.metrics.rows import SecondRow, Traffic

T0 = 1_700_000_000


def record(
    collector: RowCollector, status: int, traffic: str = "normal", at: float = T0 + 0.5
) -> None:
    collector.record(int(at), ("OrdersUser", traffic, None), "GET", "/orders", status, 12.0)


BLOCK_403 = with_flags(403, WAF_BLOCK)  # what the plugin records for the rule's block


def test_collector_counts_blocks_of_abusers_as_expected_and_others_as_failures() -> None:
    collector = RowCollector()
    for status, traffic in (
        (200, "normal"),
        (503, "normal"),
        (0, "normal"),
        (404, "normal"),
        (BLOCK_403, "normal"),
        (BLOCK_403, "legit"),
        (BLOCK_403, "abusive"),
    ):
        record(collector, status, traffic)
    record(collector, 200, at=T0 + 1.2)
    finished = collector.take_finished(T0 + 1.9)
    assert [row.second for row in finished] == [T0, T0, T0]
    by_traffic = {row.traffic: row for row in finished}
    normal = by_traffic["normal"]
    assert (normal.requests, normal.failures, normal.blocked) == (5, 3, 1)
    assert normal.status_classes == {"2xx": 1, "5xx": 1, "error": 1, "4xx": 2}
    assert (by_traffic["legit"].failures, by_traffic["legit"].blocked) == (1, 1)
    assert (by_traffic["abusive"].failures, by_traffic["abusive"].blocked) == (0, 1)
    assert normal.histogram.count == 5
    assert [row.second for row in collector.take_all()] == [T0 + 1]


def test_a_403_without_the_block_flag_is_no_block() -> None:
    collector = RowCollector()
    record(collector, 403)
    (only,) = collector.take_all()
    assert (only.blocked, only.failures, only.status_classes) == (0, 0, {"4xx": 1})


def test_a_429_without_the_block_flag_is_a_throttle_for_every_client() -> None:
    collector = RowCollector()
    for traffic in ("normal", "legit", "abusive"):
        record(collector, 429, traffic)
    rows = collector.take_all()
    assert [(row.traffic, row.failures, row.blocked) for row in rows] == [
        ("abusive", 1, 0),
        ("legit", 1, 0),
        ("normal", 1, 0),
    ]


def test_rows_carry_the_label_of_the_process_that_measured_them() -> None:
    collector = RowCollector(worker="host-a-123")
    record(collector, 200)
    collector.record(T0, None, "GET", "/health", 200, 3.0)  # a plain Locust user: no source
    rows = collector.take_all()
    assert {row.worker for row in rows} == {"host-a-123"}
    assert {(row.user_class, row.traffic, row.identity) for row in rows} == {
        ("OrdersUser", "normal", None),
        ("-", "normal", None),
    }


Request = tuple[int, "Source | None", str, str, int, float]
_sources = st.one_of(
    st.none(),
    st.tuples(
        st.sampled_from(["OrdersUser", "OrdersUserAbusive"]),
        st.sampled_from(["normal", "legit", "abusive"]),
        st.one_of(st.none(), st.sampled_from(["203.0.113.1", "198.51.100.2"])),
    ),
)
_requests = st.lists(
    st.tuples(
        st.integers(T0, T0 + 3),
        _sources,
        st.sampled_from(["GET", "POST"]),
        st.sampled_from(["/orders", "/health"]),
        st.sampled_from(
            [
                0,
                101,
                200,
                201,
                302,
                403,
                404,
                429,
                500,
                503,
                600,
                with_flags(403, WAF_BLOCK),
                with_flags(429, WAF_BLOCK),
            ]
        ),
        st.floats(0.0, 2_000_000.0, allow_nan=False),
    ),
    max_size=60,
)
# Written out by hand: the statuses that fail without a block, and the flagged blocks.
_FAILING_STATUSES = {0, 429, 500, 503, 600}
_BLOCKS = {with_flags(403, WAF_BLOCK): 403, with_flags(429, WAF_BLOCK): 429}


def reference_rows(requests: list[Request]) -> list[str]:
    """Every request recorded straight into its row, as the collector used to."""
    rows: dict[tuple[int, str, str, str, str | None], SecondRow] = {}
    for second, source, request_type, name, status, latency_ms in requests:
        user_class, traffic, identity = source or ("-", "normal", None)
        kind: Traffic = traffic if traffic in ("legit", "abusive") else "normal"  # type: ignore[assignment]
        key = (second, user_class, f"{request_type} {name}", kind, identity)
        row = rows.setdefault(key, SecondRow(*key, worker="w"))
        row.requests += 1
        blocked = status in _BLOCKS
        status = _BLOCKS.get(status, status)
        row.blocked += int(blocked)
        row.failures += int(kind != "abusive" if blocked else status in _FAILING_STATUSES)
        row.status_classes[status_class(status)] = (
            row.status_classes.get(status_class(status), 0) + 1
        )
        row.histogram.record(latency_ms)
    ordered = sorted(
        rows.values(),
        key=lambda row: (row.second, row.user_class, row.endpoint, row.traffic, row.identity or ""),
    )
    return [row.to_json() for row in ordered]


@settings(max_examples=150, deadline=None)
@given(requests=_requests)
def test_rows_are_identical_to_recording_each_request_into_its_row(
    requests: list[Request],
) -> None:
    collector = RowCollector(worker="w")
    for second, source, request_type, name, status, latency_ms in requests:
        collector.record(second, source, request_type, name, status, latency_ms)
    handed_out = collector.take_finished(T0 + 2) + collector.take_all()
    assert [row.to_json() for row in handed_out] == reference_rows(requests)
