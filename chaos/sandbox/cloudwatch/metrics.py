"""The data plane's CloudWatch metrics: aggregated per period, published once CloudWatch shows them.

Every value adds to an in-memory statistic set keyed by (period, namespace, metric,
dimensions, unit); a flusher writes each set into moto's CloudWatch as ``StatisticValues``
(one datum per period, as a real service publishes) once the set is *visible*:

- ``fast`` realism: one-second periods, written as soon as their second is over;
- ``aws`` realism: one-minute periods (timestamps truncated to the minute), written only
  60 s after the end of their minute, EMF-derived metrics 120 s (:class:`MetricTiming`).
  moto has no ingestion lag, so until then ``GetMetricData``, ``GetMetricStatistics`` and
  anything reading alarms' metrics see nothing, as on CloudWatch.

The extension's Embedded Metric Format lines become metrics the same way.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from chaos.clock import iso_from_epoch
from chaos.sandbox.realism import Realism

log = logging.getLogger(__name__)

MetricSink = Callable[[str, list[dict[str, Any]]], None]
Dimensions = tuple[tuple[str, str], ...]
FLUSH_INTERVAL_S = 1.0

# Lambda, API Gateway and AWS WAF all publish one datapoint a minute: "Lambda sends metric
# data to CloudWatch in 1-minute intervals" (https://docs.aws.amazon.com/lambda/latest/dg/
# monitoring-metrics.html); "Amazon API Gateway sends metric data to CloudWatch every minute"
# (https://docs.aws.amazon.com/apigateway/latest/developerguide/
# api-gateway-metrics-and-dimensions.html); "AWS WAF reports metrics once a minute"
# (https://docs.aws.amazon.com/waf/latest/developerguide/waf-metrics.html).
AWS_PERIOD_S = 60
# A minute's datapoint becomes readable after the minute ends: the pages above say when
# it is published (once a minute), none how long ingestion then takes. The sandbox takes
# one whole interval, 60 s (PRODUCT.md, "Sandbox realism"), the margin chaos.metrics.settle
# waits for on AWS.
AWS_LAG_S = 60.0
# EMF metrics are extracted by CloudWatch Logs from the log stream first: "CloudWatch Logs
# needs to process logs so they can be transformed into metrics" ("Setting alarms on
# metrics created with the embedded metric format", https://docs.aws.amazon.com/
# AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Alarms.html);
# PRODUCT.md takes 120 s.
AWS_EMF_LAG_S = 120.0


@dataclass(frozen=True)
class MetricTiming:
    """When a statistic set becomes visible: its period's end plus a lag."""

    period_s: int = 1
    lag_s: float = 0.0
    emf_lag_s: float = 0.0

    @classmethod
    def for_realism(cls, realism: Realism) -> MetricTiming:
        if not realism.aws:
            return cls()
        # The period is a resolution, never scaled; the lags are delays.
        return cls(
            period_s=AWS_PERIOD_S,
            lag_s=realism.delay(AWS_LAG_S),
            emf_lag_s=realism.delay(AWS_EMF_LAG_S),
        )

    def period_of(self, at: float) -> int:
        second = int(at)
        return second - second % self.period_s

    def visible_at(self, period_start: int, *, emf: bool) -> float:
        return period_start + self.period_s + (self.emf_lag_s if emf else self.lag_s)


@dataclass
class _Statistics:
    total: float
    minimum: float
    maximum: float
    samples: int

    def add(self, value: float) -> None:
        self.total += value
        self.minimum = min(self.minimum, value)
        self.maximum = max(self.maximum, value)
        self.samples += 1


# (period start, namespace, name, dimensions, unit, from an EMF line)
_Key = tuple[int, str, str, Dimensions, str, bool]


class MetricsRecorder:
    """Thread-safe per-period aggregation of metric values, flushed into a sink when visible."""

    def __init__(
        self,
        sink: MetricSink,
        clock: Callable[[], float] = time.time,
        timing: MetricTiming | None = None,
    ) -> None:
        self._sink = sink
        self._clock = clock
        self.timing = timing or MetricTiming()
        self._lock = threading.Lock()
        self._pending: dict[_Key, _Statistics] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(
        self,
        namespace: str,
        name: str,
        value: float,
        dimensions: Mapping[str, str],
        unit: str = "Count",
        at: float | None = None,
        *,
        emf: bool = False,
    ) -> None:
        period = self.timing.period_of(self._clock() if at is None else at)
        key = (period, namespace, name, tuple(dimensions.items()), unit, emf)
        with self._lock:
            statistics = self._pending.get(key)
            if statistics is None:
                self._pending[key] = _Statistics(value, value, value, 1)
            else:
                statistics.add(value)

    def record_emf(self, text: str) -> int:
        """Add the metrics of one Embedded Metric Format line; returns how many were added."""
        document = parse_emf(text)
        if document is None:
            return 0
        metadata = document["_aws"]
        at = float(metadata.get("Timestamp", self._clock() * 1000)) / 1000.0
        added = 0
        for directive in metadata.get("CloudWatchMetrics") or []:
            namespace = str(directive.get("Namespace") or "")
            for metric in directive.get("Metrics") or []:
                name = str(metric.get("Name") or "")
                values = document.get(name)
                if not namespace or not name or values is None:
                    continue
                for dimension_set in directive.get("Dimensions") or [[]]:
                    dimensions = {str(d): str(document.get(d, "")) for d in dimension_set}
                    for value in values if isinstance(values, list) else [values]:
                        self.add(
                            namespace,
                            name,
                            float(value),
                            dimensions,
                            str(metric.get("Unit") or "None"),
                            at=at,
                            emf=True,
                        )
                        added += 1
        return added

    def _visible_at(self, key: _Key) -> float:
        return self.timing.visible_at(key[0], emf=key[5])

    def flush(self, *, everything: bool = False) -> int:
        """Write every visible statistic set (or all, at shutdown); returns how many."""
        now = self._clock()
        with self._lock:
            due = {
                key: statistics
                for key, statistics in self._pending.items()
                if everything or self._visible_at(key) <= now
            }
            for key in due:
                del self._pending[key]
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for (period, namespace, name, dimensions, unit, _), statistics in sorted(due.items()):
            by_namespace.setdefault(namespace, []).append(
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions],
                    "Timestamp": moto_timestamp(period),
                    "Unit": unit,
                    "StatisticValues": {
                        "Sum": statistics.total,
                        "Minimum": statistics.minimum,
                        "Maximum": statistics.maximum,
                        "SampleCount": float(statistics.samples),
                    },
                }
            )
        for namespace, data in by_namespace.items():
            try:
                self._sink(namespace, data)
            except Exception:  # noqa: BLE001 - metrics must never stop the data plane
                log.warning("could not write %d %s metrics", len(data), namespace, exc_info=True)
        return len(due)

    def status(self) -> dict[str, Any]:
        """The datapoints still on their way to CloudWatch (for `/_sandbox/status`)."""
        with self._lock:
            keys = list(self._pending)
        oldest = min((key[0] for key in keys), default=None)
        next_visible = min((self._visible_at(key) for key in keys), default=None)
        return {
            "period_s": self.timing.period_s,
            "lag_s": self.timing.lag_s,
            "emf_lag_s": self.timing.emf_lag_s,
            "pending_datapoints": len(keys),
            "oldest_pending_period": None if oldest is None else iso_from_epoch(oldest),
            "next_visible_at": None if next_visible is None else iso_from_epoch(next_visible),
        }

    def start(self, interval_s: float = FLUSH_INTERVAL_S) -> None:
        def loop() -> None:
            while not self._stop.wait(interval_s):
                self.flush()

        self._thread = threading.Thread(target=loop, name="sandbox-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.flush(everything=True)


def moto_timestamp(epoch_s: float) -> datetime:
    """moto's CloudWatch stores naive UTC datetimes and compares against them."""
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc).replace(tzinfo=None)


def parse_emf(text: str) -> dict[str, Any] | None:
    """The EMF document of a log line, or None if the line is not one."""
    if '"_aws"' not in text:
        return None
    try:
        document = json.loads(text[text.index("{") :])
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("_aws"), dict):
        return None
    return document
