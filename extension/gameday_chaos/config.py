"""The one schema of the fault configuration (shared by the extension and the toolkit).

The toolkit writes the config with :func:`dump_config` into the function's
environment key :data:`CONFIG_ENV_KEY`; the extension reads it back with
:func:`parse_config`. Both sides validate with the same code, so a config the
toolkit accepts is a config the extension applies.

Document (compact JSON, ``version`` 1)::

    {"version": 1, "run_id": "r-123", "expires_at": 1767225600.0,
     "faults": {"latency":   {"ms": 300, "jitter_ms": 100, "rate": 1.0},
                "error":     {"status_code": 503, "rate": 0.05},
                "exception": {"rate": 0.01},
                "timeout":   {"rate": 0.0}}}

Every fault is optional (at least one is required); ``rate`` is the probability
per invocation. ``latency`` is drawn independently; ``error``, ``exception`` and
``timeout`` replace the function's outcome, so at most one of them fires per
invocation and their rates must add up to at most 1.

Standard library only; runs on Python 3.9+ (the function runtime's own Python).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

# typing is only needed by type checkers: not importing it keeps the cold start short
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONFIG_ENV_KEY = "GAMEDAY_CHAOS_CONFIG"
DISABLE_ENV_KEY = "GAMEDAY_CHAOS_DISABLE"
EXEC_WRAPPER_ENV_KEY = "AWS_LAMBDA_EXEC_WRAPPER"
WRAPPER_PATH = "/opt/gameday-chaos-wrapper"
PORT_ENV_KEY = "GAMEDAY_CHAOS_PORT"
DEFAULT_PORT = 9140
EXTENSION_NAME = "gameday-chaos"
#: The environment keys the toolkit sets on a target function (and removes on restore).
OWNED_ENV_KEYS = (CONFIG_ENV_KEY, EXEC_WRAPPER_ENV_KEY)

SCHEMA_VERSION = 1
#: Values of DISABLE_ENV_KEY that turn the extension off (compared lower-cased, exactly;
#: the wrapper script matches the same values).
DISABLE_VALUES = ("1", "true")
#: Upper bound of the serialized config: Lambda allows 4 KB for *all* environment keys.
MAX_CONFIG_BYTES = 1024
MAX_RUN_ID_LENGTH = 128
MAX_LATENCY_MS = 900_000  # Lambda's own maximum timeout (15 min)

FAULT_TYPES = ("latency", "error", "exception", "timeout")
OUTCOME_FAULTS = ("error", "exception", "timeout")


class ConfigError(ValueError):
    """The fault configuration is invalid; the message names the offending field."""


@dataclass(frozen=True)
class LatencyFault:
    ms: int
    jitter_ms: int
    rate: float


@dataclass(frozen=True)
class ErrorFault:
    status_code: int
    rate: float


@dataclass(frozen=True)
class ExceptionFault:
    rate: float


@dataclass(frozen=True)
class TimeoutFault:
    rate: float


@dataclass(frozen=True)
class ChaosConfig:
    run_id: str
    expires_at: float
    latency: LatencyFault | None = None
    error: ErrorFault | None = None
    exception: ExceptionFault | None = None
    timeout: TimeoutFault | None = None
    version: int = SCHEMA_VERSION

    def active(self, now: float) -> bool:
        """True while the config may inject faults (strictly before ``expires_at``)."""
        return now < self.expires_at

    def faults(self) -> dict[str, dict[str, Any]]:
        """The ``faults`` object of the document (only the configured faults)."""
        out: dict[str, dict[str, Any]] = {}
        if self.latency is not None:
            out["latency"] = {
                "ms": self.latency.ms,
                "jitter_ms": self.latency.jitter_ms,
                "rate": self.latency.rate,
            }
        if self.error is not None:
            out["error"] = {"status_code": self.error.status_code, "rate": self.error.rate}
        if self.exception is not None:
            out["exception"] = {"rate": self.exception.rate}
        if self.timeout is not None:
            out["timeout"] = {"rate": self.timeout.rate}
        return out

    def to_json(self) -> str:
        return _dumps(
            {
                "version": self.version,
                "run_id": self.run_id,
                "expires_at": self.expires_at,
                "faults": self.faults(),
            }
        )


# -- validation ---------------------------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _rate(fault: str, spec: Mapping[str, Any]) -> float:
    if "rate" not in spec:
        raise ConfigError(f"faults.{fault}.rate is required (probability per invocation, 0..1)")
    value = spec["rate"]
    if not _is_number(value) or not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ConfigError(f"faults.{fault}.rate must be a number from 0 to 1, got {value!r}")
    return float(value)


def _int_field(fault: str, name: str, value: Any, low: int, high: int) -> int:
    if _is_number(value) and math.isfinite(value) and float(value).is_integer():
        number = int(value)
        if low <= number <= high:
            return number
    raise ConfigError(
        f"faults.{fault}.{name} must be an integer from {low} to {high}, got {value!r}"
    )


def _check_keys(fault: str, spec: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(str(k) for k in spec if k not in allowed)
    if unknown:
        raise ConfigError(
            f"faults.{fault}: unknown field(s) {', '.join(unknown)} (allowed: {', '.join(allowed)})"
        )


def _build(faults: Any, run_id: Any, expires_at: Any, version: Any = SCHEMA_VERSION) -> ChaosConfig:
    if version != SCHEMA_VERSION or isinstance(version, bool):
        raise ConfigError(f"version must be {SCHEMA_VERSION}, got {version!r}")
    if not isinstance(run_id, str) or not run_id.strip():
        raise ConfigError("run_id must be a non-empty string")
    if len(run_id) > MAX_RUN_ID_LENGTH or not run_id.isprintable():
        raise ConfigError(
            f"run_id must be at most {MAX_RUN_ID_LENGTH} printable characters, got {run_id!r}"
        )
    if not _is_number(expires_at) or not math.isfinite(expires_at) or expires_at <= 0:
        raise ConfigError(
            f"expires_at must be epoch seconds (a positive number), got {expires_at!r}"
        )
    if not isinstance(faults, Mapping):
        raise ConfigError("faults must be an object mapping fault type to its settings")
    if not faults:
        raise ConfigError(f"faults must configure at least one of {', '.join(FAULT_TYPES)}")
    unknown = sorted(str(k) for k in faults if k not in FAULT_TYPES)
    if unknown:
        raise ConfigError(
            f"unknown fault type(s) {', '.join(unknown)} (known: {', '.join(FAULT_TYPES)})"
        )
    for name, spec in faults.items():
        if not isinstance(spec, Mapping):
            raise ConfigError(f"faults.{name} must be an object, got {spec!r}")

    latency = error = exception = timeout = None
    if "latency" in faults:
        spec = faults["latency"]
        _check_keys("latency", spec, ("ms", "jitter_ms", "rate"))
        if "ms" not in spec:
            raise ConfigError("faults.latency.ms is required (added latency in milliseconds)")
        ms = _int_field("latency", "ms", spec["ms"], 0, MAX_LATENCY_MS)
        jitter = _int_field("latency", "jitter_ms", spec.get("jitter_ms", 0), 0, MAX_LATENCY_MS)
        latency = LatencyFault(ms=ms, jitter_ms=jitter, rate=_rate("latency", spec))
    if "error" in faults:
        spec = faults["error"]
        _check_keys("error", spec, ("status_code", "rate"))
        code = _int_field("error", "status_code", spec.get("status_code", 503), 400, 599)
        error = ErrorFault(status_code=code, rate=_rate("error", spec))
    if "exception" in faults:
        spec = faults["exception"]
        _check_keys("exception", spec, ("rate",))
        exception = ExceptionFault(rate=_rate("exception", spec))
    if "timeout" in faults:
        spec = faults["timeout"]
        _check_keys("timeout", spec, ("rate",))
        timeout = TimeoutFault(rate=_rate("timeout", spec))

    outcome_total = sum(f.rate for f in (error, exception, timeout) if f is not None)
    if outcome_total > 1.0 + 1e-9:
        raise ConfigError(
            "error, exception and timeout replace the function's outcome, so at most one fires "
            f"per invocation: their rates must add up to at most 1, got {outcome_total:g}"
        )
    return ChaosConfig(
        run_id=run_id,
        expires_at=float(expires_at),
        latency=latency,
        error=error,
        exception=exception,
        timeout=timeout,
    )


def _dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True, allow_nan=False)


# -- public API ---------------------------------------------------------------


def dump_config(faults: Mapping[str, Mapping[str, Any]], *, run_id: str, expires_at: float) -> str:
    """Validate ``faults`` and return the compact JSON the extension reads.

    Raises :class:`ConfigError` with a message naming the offending field.
    """
    config = _build(faults, run_id, expires_at)
    text = config.to_json()
    size = len(text.encode("utf-8"))
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"the serialized config is {size} bytes, more than {MAX_CONFIG_BYTES} "
            "(Lambda allows 4 KB for all environment keys together)"
        )
    return text


def parse_config(text: str) -> ChaosConfig:
    """Parse and validate the JSON document; raises :class:`ConfigError`."""
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{CONFIG_ENV_KEY} is empty")
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{CONFIG_ENV_KEY} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ConfigError(f"{CONFIG_ENV_KEY} must be a JSON object")
    allowed = ("version", "run_id", "expires_at", "faults")
    unknown = sorted(str(k) for k in document if k not in allowed)
    if unknown:
        raise ConfigError(f"unknown top-level field(s) {', '.join(unknown)}")
    for key in allowed:
        if key not in document:
            raise ConfigError(f"{key} is required")
    return _build(
        document["faults"], document["run_id"], document["expires_at"], document["version"]
    )


def is_disabled(environ: Mapping[str, str]) -> bool:
    """True when the disable key is set to one of :data:`DISABLE_VALUES` (case-insensitive)."""
    return environ.get(DISABLE_ENV_KEY, "").lower() in DISABLE_VALUES


def proxy_port(environ: Mapping[str, str]) -> int:
    """The proxy's port from :data:`PORT_ENV_KEY` (default :data:`DEFAULT_PORT`)."""
    raw = environ.get(PORT_ENV_KEY, "")
    if not raw:
        return DEFAULT_PORT
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{PORT_ENV_KEY} must be a TCP port number, got {raw!r}")
    return int(raw)
