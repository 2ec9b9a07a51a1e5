"""Fault decisions per invocation, the injected payloads, and the EMF telemetry lines.

Pure logic, no I/O except :class:`Telemetry` writing lines to a stream.
"""

from __future__ import annotations

import json
import random
import sys
import threading
import time

from .config import ChaosConfig

# typing is only needed by type checkers: not importing it keeps the cold start short
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO, Any

INJECTED_EXCEPTION_TYPE = "GamedayChaos.InjectedException"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
EMF_NAMESPACE = "Chaos"
EMF_METRIC = "InjectedFaults"
# One per execution environment started with an active fault config: the cold starts
# the injection itself caused (attaching the layer recycles every environment).
EMF_INIT_METRIC = "ExtensionInits"


class Decision:
    """What to do with one invocation.

    ``latency_ms`` is the delay added before the handler runs (0: none);
    ``outcome`` is ``None``, ``"error"``, ``"exception"`` or ``"timeout"``.
    """

    __slots__ = ("latency_ms", "outcome")

    def __init__(self, latency_ms: float = 0.0, outcome: str | None = None) -> None:
        self.latency_ms = latency_ms
        self.outcome = outcome

    @property
    def injects(self) -> bool:
        return self.latency_ms > 0 or self.outcome is not None

    def __repr__(self) -> str:
        return f"Decision(latency_ms={self.latency_ms!r}, outcome={self.outcome!r})"


NO_FAULT = Decision()


class FaultEngine:
    """Draws the faults of each invocation from the config's rates."""

    def __init__(self, config: ChaosConfig, rng: random.Random | None = None) -> None:
        self.config = config
        self._random = (rng or random.SystemRandom()).random
        # Cumulative thresholds of the mutually exclusive outcomes, drawn with one number.
        thresholds: list[Any] = []
        total = 0.0
        for name in ("timeout", "exception", "error"):
            fault = getattr(config, name)
            if fault is not None and fault.rate > 0:
                total += fault.rate
                thresholds.append((total, name))
        self._outcomes = tuple(thresholds)
        latency = config.latency
        self._latency = latency if latency is not None and latency.rate > 0 else None

    def decide(self, now: float) -> Decision:
        """The faults of one invocation; nothing once the config has expired."""
        if not self.config.active(now):
            return NO_FAULT
        latency_ms = 0.0
        lat = self._latency
        if lat is not None and self._random() < lat.rate:
            latency_ms = float(lat.ms)
            if lat.jitter_ms:
                latency_ms += (self._random() * 2.0 - 1.0) * lat.jitter_ms
            latency_ms = max(latency_ms, 0.0)
        outcome = None
        if self._outcomes:
            draw = self._random()
            for threshold, name in self._outcomes:
                if draw < threshold:
                    outcome = name
                    break
        if latency_ms <= 0 and outcome is None:
            return NO_FAULT
        return Decision(latency_ms, outcome)

    # -- injected payloads --------------------------------------------------

    def error_response(self) -> bytes:
        """The API-Gateway-proxy response that replaces the function's own."""
        error = self.config.error
        code = error.status_code if error is not None else 503
        body = {
            "error": f"injected fault: HTTP {code} (gameday-chaos)",
            "injected_fault": "error",
            "run_id": self.config.run_id,
        }
        response = {
            "statusCode": code,
            "headers": {
                "Content-Type": "application/json",
                "X-Gameday-Chaos-Fault": "error",
            },
            "body": json.dumps(body, separators=(",", ":")),
            "isBase64Encoded": False,
        }
        return json.dumps(response, separators=(",", ":")).encode()

    def exception_body(self) -> bytes:
        """The function error reported to Lambda for an injected exception."""
        document = {
            "errorMessage": f"injected exception (gameday-chaos run {self.config.run_id})",
            "errorType": INJECTED_EXCEPTION_TYPE,
            "stackTrace": [],
        }
        return json.dumps(document, separators=(",", ":")).encode()


class Telemetry:
    """One CloudWatch Embedded Metric Format line per injected fault."""

    def __init__(self, function_name: str, stream: IO[str] | None = None) -> None:
        self.function_name = function_name
        self._stream = stream
        self._lock = threading.Lock()

    def line(
        self, fault_type: str, run_id: str, request_id: str, extra: dict[str, Any] | None = None
    ) -> str:
        document: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": EMF_NAMESPACE,
                        "Dimensions": [["FunctionName", "FaultType"]],
                        "Metrics": [{"Name": EMF_METRIC, "Unit": "Count"}],
                    }
                ],
            },
            "FunctionName": self.function_name,
            "FaultType": fault_type,
            EMF_METRIC: 1,
            "run_id": run_id,
            "request_id": request_id,
        }
        if extra:
            document.update(extra)
        return json.dumps(document, separators=(",", ":"))

    def init_line(self, run_id: str) -> str:
        document: dict[str, Any] = {
            "_aws": {
                "Timestamp": int(time.time() * 1000),
                "CloudWatchMetrics": [
                    {
                        "Namespace": EMF_NAMESPACE,
                        "Dimensions": [["FunctionName"]],
                        "Metrics": [{"Name": EMF_INIT_METRIC, "Unit": "Count"}],
                    }
                ],
            },
            "FunctionName": self.function_name,
            EMF_INIT_METRIC: 1,
            "run_id": run_id,
        }
        return json.dumps(document, separators=(",", ":"))

    def emit_init(self, run_id: str) -> None:
        self._write(self.init_line(run_id) + "\n")

    def emit(
        self, fault_type: str, run_id: str, request_id: str, extra: dict[str, Any] | None = None
    ) -> None:
        self._write(self.line(fault_type, run_id, request_id, extra) + "\n")

    def _write(self, text: str) -> None:
        stream = self._stream or sys.stdout
        with self._lock:
            try:
                stream.write(text)
                stream.flush()
            except (OSError, ValueError):
                pass  # telemetry must never break an invocation
