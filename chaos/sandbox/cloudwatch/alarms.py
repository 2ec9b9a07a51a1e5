"""CloudWatch metric alarms evaluated on the sandbox's own metrics, as CloudWatch does.

moto stores alarms and never evaluates them: an alarm named in `stop_conditions` stayed OK
whatever the metrics did, so a run that AWS would abort passed on the sandbox. Here each
metric alarm with a static threshold and a plain statistic is evaluated as "Alarm
evaluation" and "Alarm evaluation windows" describe
(https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation.html,
.../alarm-evaluation-window.html): the default sliding window of periods that ends at the
evaluation, one datapoint per period, the most recent `EvaluationPeriods` of them
evaluated, `DatapointsToAlarm` breaching (default: all) for ALARM, and missing periods
treated per
`TreatMissingData` ("Configuring how CloudWatch alarms treat missing data",
.../alarms-and-missing-data.html; default `missing`: no data in the whole range is
INSUFFICIENT_DATA). Only the datapoints CloudWatch shows count: under `--realism aws` they
appear a minute after their minute (chaos.sandbox.cloudwatch.metrics), so alarms are as late
as on AWS.

A state set by SetAlarmState lasts until the next evaluation, as on CloudWatch. Not
evaluated (their state is left as it is): percentile (extended) statistics, metric math
and anomaly-detection alarms.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from chaos.sandbox.realism import Realism

#: Comparison operators of static-threshold alarms (PutMetricAlarm ComparisonOperator).
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": lambda value, threshold: value >= threshold,
    "GreaterThanThreshold": lambda value, threshold: value > threshold,
    "LessThanThreshold": lambda value, threshold: value < threshold,
    "LessThanOrEqualToThreshold": lambda value, threshold: value <= threshold,
}
STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


def evaluation_interval_s(realism: Realism) -> float:
    """How often the sandbox evaluates: under `aws` every minute, as CloudWatch evaluates
    an alarm "every minute, even if the alarm period is longer than one minute" (Limits,
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-limits.html;
    scaled with the other delays); `fast` every 5 s (earlier than AWS, never later)."""
    return realism.delay(60.0) if realism.aws else 5.0


def evaluate_alarms(backend: Any, now: datetime) -> dict[str, str]:
    """Evaluate every metric alarm of a moto CloudWatch backend at `now`; returns the
    alarms whose state changed, with their new state."""
    changed: dict[str, str] = {}
    data = list(backend.get_all_metrics())
    for alarm in list(backend.alarms.values()):
        verdict = evaluate(alarm, data, now)
        if verdict is None or verdict[0] == alarm.state_value:
            continue
        state, reason = verdict
        alarm.update_state(reason, json.dumps({"version": "1.0", "evaluatedBy": "sandbox"}), state)
        changed[alarm.name] = state
    return changed


#: Periods retrieved beyond `EvaluationPeriods`: "CloudWatch attempts to retrieve a higher
#: number of data points than the number specified as Evaluation Periods" (the evaluation
#: range, alarms-and-missing-data.html), so a datapoint that appears late is still
#: evaluated. The page gives no number for every period: this is the sandbox's.
EXTRA_PERIODS = 2


def evaluate(alarm: Any, data: Iterable[Any], now: datetime) -> tuple[str, str] | None:
    """(state, reason) of one alarm at `now`; None when the sandbox does not evaluate it or
    the alarm keeps its state (`ignore` with no data)."""
    compare = COMPARISONS.get(alarm.comparison_operator or "")
    if (
        compare is None
        or alarm.statistic not in STATISTICS
        or alarm.metric_data_queries
        or alarm.threshold is None
        or not alarm.period
    ):
        return None
    periods = int(alarm.evaluation_periods or 1)
    needed = int(alarm.datapoints_to_alarm or periods)
    in_range = period_values(alarm, data, now, periods + EXTRA_PERIODS)
    # The most recent `periods` datapoints of the evaluation range, the rest missing.
    present = [value for value in in_range if value is not None][-periods:]
    missing = periods - len(present)
    treat = (alarm.treat_missing_data or "missing").strip()
    if not present and treat in ("missing", "ignore"):
        return (
            None
            if treat == "ignore"
            else ("INSUFFICIENT_DATA", f"Insufficient Data: {periods} datapoints were unknown.")
        )
    threshold = float(alarm.threshold)
    breaching = sum(1 for value in present if compare(value, threshold))
    if treat == "breaching":
        breaching += missing
    if breaching >= needed:
        return "ALARM", (
            f"Threshold Crossed: {breaching} of the last {periods} datapoints "
            f"{present} crossed the threshold ({threshold:g})."
        )
    return "OK", (
        f"Threshold Crossed: fewer than {needed} of the last {periods} datapoints "
        f"{present} crossed the threshold ({threshold:g})."
    )


def period_values(
    alarm: Any, data: Iterable[Any], now: datetime, periods: int
) -> list[float | None]:
    """The statistic of each of the last `periods` periods ending at `now`, oldest first
    (None: no datapoint in that period)."""
    from moto.cloudwatch.models import Statistics  # the sandbox process has moto loaded

    period = timedelta(seconds=int(alarm.period))
    wanted = {(dimension.name, dimension.value) for dimension in alarm.dimensions}
    since = now - periods * period
    matching = [
        (moment, datum)
        for datum in data
        if datum.namespace == alarm.namespace
        and datum.name == alarm.metric_name
        and since <= (moment := _aware(datum.timestamp)) < now
        and {(dimension.name, dimension.value) for dimension in datum.dimensions} == wanted
        and (alarm.unit is None or datum.unit == alarm.unit)
    ]
    values: list[float | None] = []
    for index in range(periods, 0, -1):
        start, end = now - index * period, now - (index - 1) * period
        bucket = Statistics([alarm.statistic], start)
        bucket.metric_data = [datum for moment, datum in matching if start <= moment < end]
        value = bucket.get_statistics_for_type(alarm.statistic) if bucket.metric_data else None
        values.append(None if value is None else float(value))
    return values


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
