"""Measurements: mergeable latency histograms and the per-second timeline rows."""

from chaos.metrics.histogram import LatencyHistogram

__all__ = ["LatencyHistogram"]
