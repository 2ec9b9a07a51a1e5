"""The data plane's CloudWatch metrics: aggregated per second, written in batches.

Every request adds to an in-memory statistic set keyed by (second, namespace, metric,
dimensions, unit); a flusher writes the finished seconds once a second as
``StatisticValues`` (what a real service does: one datum per period, not per request).
The extension's Embedded Metric Format lines become metrics the same way.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from chaos.sandbox.backend import moto_timestamp

log = logging.getLogger(__name__)

MetricSink = Callable[[str, list[dict[str, Any]]], None]
Dimensions = tuple[tuple[str, str], ...]
FLUSH_INTERVAL_S = 1.0


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


_Key = tuple[int, str, str, Dimensions, str]


class MetricsRecorder:
    """Thread-safe per-second aggregation of metric values, flushed into a sink."""

    def __init__(self, sink: MetricSink, clock: Callable[[], float] = time.time) -> None:
        self._sink = sink
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[_Key, _Statistics] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, namespace: str, name: str, value: float, dimensions: Mapping[str, str],
            unit: str = "Count", at: float | None = None) -> None:
        second = int(self._clock() if at is None else at)
        key = (second, namespace, name, tuple(dimensions.items()), unit)
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
                        self.add(namespace, name, float(value), dimensions,
                                 str(metric.get("Unit") or "None"), at=at)
                        added += 1
        return added

    def flush(self, *, everything: bool = False) -> int:
        """Write every finished second (or all, at shutdown); returns the data points written."""
        current = int(self._clock())
        with self._lock:
            due = {k: v for k, v in self._pending.items() if everything or k[0] < current}
            for key in due:
                del self._pending[key]
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for (second, namespace, name, dimensions, unit), statistics in sorted(due.items()):
            by_namespace.setdefault(namespace, []).append({
                "MetricName": name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions],
                "Timestamp": moto_timestamp(second),
                "Unit": unit,
                "StatisticValues": {"Sum": statistics.total, "Minimum": statistics.minimum,
                                    "Maximum": statistics.maximum,
                                    "SampleCount": float(statistics.samples)},
            })
        for namespace, data in by_namespace.items():
            try:
                self._sink(namespace, data)
            except Exception:  # noqa: BLE001 - metrics must never stop the data plane
                log.warning("could not write %d %s metrics", len(data), namespace, exc_info=True)
        return len(due)

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


def parse_emf(text: str) -> dict[str, Any] | None:
    """The EMF document of a log line, or None if the line is not one."""
    if '"_aws"' not in text:
        return None
    try:
        document = json.loads(text[text.index("{"):])
    except ValueError:
        return None
    if not isinstance(document, dict) or not isinstance(document.get("_aws"), dict):
        return None
    return document
