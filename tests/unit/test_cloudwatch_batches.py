"""More than 500 metric queries (about 62 functions) are read in batches, as GetMetricData
takes at most 500 per call; before, the whole read failed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from chaos.metrics.cloudwatch import MAX_QUERIES_PER_CALL, MetricQuery, fetch_series


class StrictCloudWatch:
    """Answers as CloudWatch does: a request over 500 queries is refused."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def get_metric_data(self, **request: Any) -> dict[str, Any]:
        queries = request["MetricDataQueries"]
        self.calls.append(len(queries))
        if len(queries) > 500:
            raise ClientError(
                {"Error": {"Code": "ValidationError", "Message": "too many queries"}},
                "GetMetricData",
            )
        start: datetime = request["StartTime"]
        return {
            "MetricDataResults": [
                {"Id": query["Id"], "Timestamps": [start], "Values": [1.0]} for query in queries
            ]
        }


def query(index: int) -> MetricQuery:
    return MetricQuery(
        f"q{index}",
        "AWS/Lambda",
        "Errors",
        (("FunctionName", f"fn-{index}"),),
        "Sum",
        "lambda",
        f"fn-{index}",
        "errors",
    )


def test_1200_queries_are_read_in_three_calls_and_every_value_kept() -> None:
    cloudwatch = StrictCloudWatch()
    series = fetch_series(cloudwatch, [query(index) for index in range(1200)], 0.0, 120.0, 60)
    assert cloudwatch.calls == [500, 500, 200] and MAX_QUERIES_PER_CALL == 500
    assert len(series) == 1200 and all(found == {0: 1.0} for found in series.values())


def test_the_period_is_the_finest_cloudwatch_still_keeps_for_data_of_that_age() -> None:
    """Datapoints of that period, one each (the phases take their share of each one)."""
    from chaos.metrics.cloudwatch import aligned, period_for

    day = 86400.0
    assert period_for(0.0, now=3600.0) == 60
    assert period_for(0.0, now=16 * day) == 300  # 60 s datapoints are gone
    assert period_for(0.0, now=64 * day) == 3600
    assert aligned(30.0, 400.0, 300) == (0, 600)
    assert aligned(60.0, 60.0, 60) == (60, 120)
