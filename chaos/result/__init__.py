"""result.json: assembled from a run's explicit inputs, refreshed later, and a typed view."""

from chaos.result.view import PhaseSlis, RunResult, SloResult

__all__ = ["PhaseSlis", "RunResult", "SloResult"]
