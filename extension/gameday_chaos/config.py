"""The fault configuration the toolkit writes and the extension reads (stdlib only).

The toolkit writes the config with :func:`dump_config` into the function's environment
key :data:`CONFIG_ENV_KEY`; the extension (the Go program in ``extension/``) parses the
same document. ``extension/schema/config.schema.json`` describes it, and the golden
vectors in ``extension/schema/vectors/`` hold the cases both sides must agree on (the
Python tests and ``go test`` run them).

Document (compact JSON, ``version`` 2; version 1 documents, with only the first four
modes and their first fields, are still read)::

    {"version": 2, "run_id": "r-123", "expires_at": 1767225600.0,
     "faults": {"latency":    {"ms": 300, "jitter_ms": 100, "rate": 1.0},
                "error":      {"status_code": 503, "rate": 0.05, "format": "auto",
                               "prevent_execution": false,
                               "match": [{"path": "httpMethod", "equals": "POST"},
                                         {"path": "path", "prefix": "/orders"}]},
                "exception":  {"rate": 0.01, "prevent_execution": false},
                "timeout":    {"rate": 0.0},
                "corruption": {"rate": 0.1, "mode": "mangle"},
                "disk":       {"mb": 256, "rate": 1.0}}}

Every mode is optional (at least one is required); ``rate`` is the probability per
invocation and ``match`` (all conditions must hold) restricts a mode to some events.
``latency`` and ``disk`` are drawn independently; ``timeout``, ``exception``, ``error``
and ``corruption`` replace the invocation's outcome, so at most one of them fires per
invocation and their rates must add up to at most 1.

Standard library only: the janitor function vendors this module.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

# typing is only needed by type checkers
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CONFIG_ENV_KEY = "GAMEDAY_CHAOS_CONFIG"
DISABLE_ENV_KEY = "GAMEDAY_CHAOS_DISABLE"
EXEC_WRAPPER_ENV_KEY = "AWS_LAMBDA_EXEC_WRAPPER"
WRAPPER_PATH = "/opt/gameday-chaos-wrapper"
PORT_ENV_KEY = "GAMEDAY_CHAOS_PORT"
#: Where the disk fault writes its fill file (tests only: Lambda's is /tmp).
DISK_DIR_ENV_KEY = "GAMEDAY_CHAOS_DISK_DIR"
#: Not 9100 (AWS FIS, chaos-lambda-extension) nor 9009 (failure-lambda).
DEFAULT_PORT = 9140
EXTENSION_NAME = "gameday-chaos"
#: The environment keys the toolkit sets on a target function (and removes on restore).
OWNED_ENV_KEYS = (CONFIG_ENV_KEY, EXEC_WRAPPER_ENV_KEY)
#: The marker header on every response the extension replaced or corrupted.
MARKER_HEADER = "X-Gameday-Chaos-Fault"

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
#: Values of DISABLE_ENV_KEY that turn the extension off (compared lower-cased, exactly;
#: the wrapper script matches the same values).
DISABLE_VALUES = ("1", "true")
#: Upper bound of the serialized config: Lambda allows 4 KB for *all* environment keys.
MAX_CONFIG_BYTES = 2048
MAX_RUN_ID_LENGTH = 128
MAX_LATENCY_MS = 900_000  # Lambda's own maximum timeout (15 min)
MAX_DISK_MB = 10_240  # Lambda's maximum ephemeral storage
MAX_CONDITIONS = 8
MAX_PATH_LENGTH = 256
MAX_VALUE_LENGTH = 256
MAX_BODY_LENGTH = 1024

#: Every mode, in the order the extension draws them.
FAULT_TYPES = ("latency", "disk", "timeout", "exception", "error", "corruption")
#: The modes that replace the invocation's outcome (one draw split by their rates).
OUTCOME_FAULTS = ("timeout", "exception", "error", "corruption")
V1_FAULT_TYPES = ("latency", "error", "exception", "timeout")
ERROR_FORMATS = ("auto", "api-gateway-rest", "api-gateway-http", "alb", "function-url")
CORRUPTION_MODES = ("mangle", "replace")
CONDITION_OPERATORS = ("equals", "prefix", "regex", "exists")

_FIELDS: dict[str, tuple[str, ...]] = {
    "latency": ("ms", "jitter_ms", "rate", "match"),
    "error": ("status_code", "rate", "format", "prevent_execution", "match"),
    "exception": ("rate", "prevent_execution", "match"),
    "timeout": ("rate", "match"),
    "corruption": ("rate", "mode", "body", "match"),
    "disk": ("mb", "rate", "match"),
}
_V1_FIELDS: dict[str, tuple[str, ...]] = {
    "latency": ("ms", "jitter_ms", "rate"),
    "error": ("status_code", "rate"),
    "exception": ("rate",),
    "timeout": ("rate",),
}
# Constructs Python's re accepts and RE2 (the extension's engine) refuses, or the reverse:
# refused on both sides so that a config either side accepts, the other accepts too.
_UNPORTABLE_REGEX = (
    ("(?=", "a lookahead"),
    ("(?!", "a negative lookahead"),
    ("(?<=", "a lookbehind"),
    ("(?<!", "a negative lookbehind"),
    ("(?>", "an atomic group"),
    ("(?(", "a conditional"),
    ("(?P=", "a named backreference"),
    ("(?<", "a (?<name>) group (write (?P<name>...))"),
    ("\\Z", "\\Z"),
    ("\\z", "\\z"),
    ("*+", "a possessive quantifier"),
    ("++", "a possessive quantifier"),
    ("?+", "a possessive quantifier"),
    ("}+", "a possessive quantifier"),
)


class ConfigError(ValueError):
    """The fault configuration is invalid; the message names the offending field."""


@dataclass(frozen=True)
class MatchCondition:
    """One condition on an event field (dotted ``path``); exactly one operator is set."""

    path: str
    operator: str  # equals | prefix | regex | exists
    value: Any

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, self.operator: self.value}


@dataclass(frozen=True)
class LatencyFault:
    ms: int
    jitter_ms: int
    rate: float
    match: tuple[MatchCondition, ...] = ()


@dataclass(frozen=True)
class ErrorFault:
    status_code: int
    rate: float
    format: str = "auto"
    prevent_execution: bool = False
    match: tuple[MatchCondition, ...] = ()


@dataclass(frozen=True)
class ExceptionFault:
    rate: float
    prevent_execution: bool = False
    match: tuple[MatchCondition, ...] = ()


@dataclass(frozen=True)
class TimeoutFault:
    rate: float
    match: tuple[MatchCondition, ...] = ()


@dataclass(frozen=True)
class CorruptionFault:
    rate: float
    mode: str = "mangle"
    body: str | None = None
    match: tuple[MatchCondition, ...] = ()


@dataclass(frozen=True)
class DiskFault:
    mb: int
    rate: float
    match: tuple[MatchCondition, ...] = ()


@dataclass(frozen=True)
class ChaosConfig:
    run_id: str
    expires_at: float
    latency: LatencyFault | None = None
    error: ErrorFault | None = None
    exception: ExceptionFault | None = None
    timeout: TimeoutFault | None = None
    corruption: CorruptionFault | None = None
    disk: DiskFault | None = None
    #: the version of the document this was read from (``to_json`` writes version 2)
    version: int = SCHEMA_VERSION

    def active(self, now: float) -> bool:
        """True while the config may inject faults (strictly before ``expires_at``)."""
        return now < self.expires_at

    def faults(self) -> dict[str, dict[str, Any]]:
        """The ``faults`` object with every default filled in (only the configured modes).

        ``match`` appears only when a mode has conditions, ``body`` only with mode replace.
        """
        out: dict[str, dict[str, Any]] = {}
        for name in FAULT_TYPES:
            fault = getattr(self, name)
            if fault is None:
                continue
            fields: dict[str, Any] = {}
            for key in _FIELDS[name]:
                if key == "match":
                    if fault.match:
                        fields["match"] = [condition.to_dict() for condition in fault.match]
                elif key == "body":
                    if fault.mode == "replace":
                        fields["body"] = fault.body
                else:
                    fields[key] = getattr(fault, key)
            out[name] = fields
        return out

    def to_json(self) -> str:
        return _dumps(
            {
                "version": SCHEMA_VERSION,
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


def _int_field(where: str, value: Any, low: int, high: int) -> int:
    if _is_number(value) and math.isfinite(value) and float(value).is_integer():
        number = int(value)
        if low <= number <= high:
            return number
    raise ConfigError(f"{where} must be an integer from {low} to {high}, got {value!r}")


def _bool_field(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    return value


def _choice(where: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(f"{where} must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _check_keys(where: str, spec: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    unknown = sorted(str(k) for k in spec if k not in allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(unknown)} (allowed: {', '.join(allowed)})"
        )


def unportable_regex(pattern: str) -> str | None:
    """What in ``pattern`` the extension's RE2 engine would not read as Python does."""
    for token, name in _UNPORTABLE_REGEX:
        if token in pattern:
            return name
    index = 0
    while index + 1 < len(pattern):
        if pattern[index] == "\\":
            if pattern[index + 1] in "123456789":
                return "a backreference"
            index += 1
        index += 1
    return None


def _condition(where: str, item: Any) -> MatchCondition:
    if not isinstance(item, Mapping):
        raise ConfigError(
            f'{where} must be an object like {{"path": "httpMethod", "equals": "POST"}}'
        )
    _check_keys(where, item, ("path", *CONDITION_OPERATORS))
    path = item.get("path")
    if not isinstance(path, str) or not path or len(path) > MAX_PATH_LENGTH:
        raise ConfigError(
            f"{where}.path must be a dotted path of 1 to {MAX_PATH_LENGTH} characters "
            "(e.g. requestContext.http.method)"
        )
    if any(not step for step in path.split(".")):
        raise ConfigError(f"{where}.path has an empty segment: {path!r}")
    operators = [op for op in CONDITION_OPERATORS if op in item]
    if len(operators) != 1:
        raise ConfigError(f"{where} needs exactly one of {', '.join(CONDITION_OPERATORS)}")
    operator = operators[0]
    value = item[operator]
    if operator == "equals":
        if isinstance(value, str):
            if len(value) > MAX_VALUE_LENGTH:
                raise ConfigError(f"{where}.equals is longer than {MAX_VALUE_LENGTH} characters")
        elif _is_number(value):
            if not math.isfinite(value):
                raise ConfigError(f"{where}.equals is not a finite number")
        elif value is not None and not isinstance(value, bool):
            raise ConfigError(f"{where}.equals must be a string, number, boolean or null")
    elif operator in ("prefix", "regex"):
        if (
            not isinstance(value, str)
            or len(value) > MAX_VALUE_LENGTH
            or (operator == "regex" and not value)
        ):
            raise ConfigError(
                f"{where}.{operator} must be a string of at most {MAX_VALUE_LENGTH} characters"
            )
        if operator == "regex":
            problem = unportable_regex(value)
            if problem:
                raise ConfigError(
                    f"{where}.regex uses {problem}, which the extension's RE2 engine does not "
                    "support"
                )
            try:
                re.compile(value)
            except re.error as exc:
                raise ConfigError(f"{where}.regex is not a valid expression: {exc}") from None
    elif not isinstance(value, bool):
        raise ConfigError(f"{where}.exists must be true or false")
    return MatchCondition(path=path, operator=operator, value=value)


def _match(where: str, raw: Any) -> tuple[MatchCondition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{where} must be a list of conditions")
    if len(raw) > MAX_CONDITIONS:
        raise ConfigError(
            f"{where} has {len(raw)} conditions, at most {MAX_CONDITIONS} are allowed"
        )
    return tuple(_condition(f"{where}[{index}]", item) for index, item in enumerate(raw))


def _mode(name: str, spec: Mapping[str, Any], version: int) -> Any:
    allowed = _FIELDS[name] if version >= 2 else _V1_FIELDS[name]
    _check_keys(f"faults.{name}", spec, allowed)
    rate = _rate(name, spec)
    match = _match(f"faults.{name}.match", spec.get("match"))
    if name == "latency":
        if "ms" not in spec:
            raise ConfigError("faults.latency.ms is required (added latency in milliseconds)")
        ms = _int_field("faults.latency.ms", spec["ms"], 0, MAX_LATENCY_MS)
        jitter = _int_field("faults.latency.jitter_ms", spec.get("jitter_ms", 0), 0, MAX_LATENCY_MS)
        return LatencyFault(ms=ms, jitter_ms=jitter, rate=rate, match=match)
    if name == "error":
        code = _int_field("faults.error.status_code", spec.get("status_code", 503), 400, 599)
        fmt = _choice("faults.error.format", spec.get("format", "auto"), ERROR_FORMATS)
        prevent = _bool_field(
            "faults.error.prevent_execution", spec.get("prevent_execution", False)
        )
        return ErrorFault(
            status_code=code, rate=rate, format=fmt, prevent_execution=prevent, match=match
        )
    if name == "exception":
        prevent = _bool_field(
            "faults.exception.prevent_execution", spec.get("prevent_execution", False)
        )
        return ExceptionFault(rate=rate, prevent_execution=prevent, match=match)
    if name == "timeout":
        return TimeoutFault(rate=rate, match=match)
    if name == "corruption":
        mode = _choice("faults.corruption.mode", spec.get("mode", "mangle"), CORRUPTION_MODES)
        if mode == "replace" and "body" not in spec:
            raise ConfigError(
                "faults.corruption.body is required with mode replace (the body that replaces "
                "the handler's)"
            )
        if mode == "mangle" and "body" in spec:
            raise ConfigError("faults.corruption.body is only allowed with mode replace")
        body = spec.get("body")
        if body is not None and (
            not isinstance(body, str) or len(body.encode("utf-8")) > MAX_BODY_LENGTH
        ):
            raise ConfigError(
                f"faults.corruption.body must be a string of at most {MAX_BODY_LENGTH} bytes"
            )
        if mode == "replace" and not isinstance(body, str):
            raise ConfigError(
                f"faults.corruption.body must be a string of at most {MAX_BODY_LENGTH} bytes"
            )
        return CorruptionFault(rate=rate, mode=mode, body=body, match=match)
    if "mb" not in spec:
        raise ConfigError("faults.disk.mb is required (megabytes of /tmp to fill)")
    mb = _int_field("faults.disk.mb", spec["mb"], 1, MAX_DISK_MB)
    return DiskFault(mb=mb, rate=rate, match=match)


def _build(faults: Any, run_id: Any, expires_at: Any, version: Any = SCHEMA_VERSION) -> ChaosConfig:
    if isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise ConfigError(f"version must be 1 or 2, got {version!r}")
    if not isinstance(run_id, str) or not run_id.strip():
        raise ConfigError("run_id must be a non-empty string")
    if len(run_id) > MAX_RUN_ID_LENGTH or not all(" " <= ch <= "~" for ch in run_id):
        raise ConfigError(
            f"run_id must be at most {MAX_RUN_ID_LENGTH} printable ASCII characters, got {run_id!r}"
        )
    if not _is_number(expires_at) or not math.isfinite(expires_at) or expires_at <= 0:
        raise ConfigError(
            f"expires_at must be epoch seconds (a positive number), got {expires_at!r}"
        )
    if not isinstance(faults, Mapping):
        raise ConfigError("faults must be an object mapping fault type to its settings")
    known = FAULT_TYPES if version >= 2 else V1_FAULT_TYPES
    if not faults:
        raise ConfigError(f"faults must configure at least one of {', '.join(sorted(known))}")
    unknown = sorted(str(k) for k in faults if k not in known)
    if unknown:
        raise ConfigError(
            f"unknown fault type(s) {', '.join(unknown)} "
            f"(known in version {version}: {', '.join(sorted(known))})"
        )
    modes: dict[str, Any] = {}
    for name in FAULT_TYPES:
        if name not in faults:
            continue
        spec = faults[name]
        if not isinstance(spec, Mapping):
            raise ConfigError(f"faults.{name} must be an object, got {spec!r}")
        modes[name] = _mode(name, spec, version)
    outcome_total = sum(modes[name].rate for name in OUTCOME_FAULTS if name in modes)
    if outcome_total > 1.0 + 1e-9:
        raise ConfigError(
            f"{', '.join(OUTCOME_FAULTS)} replace the function's outcome, so at most one fires "
            f"per invocation: their rates must add up to at most 1, got {outcome_total:g}"
        )
    return ChaosConfig(run_id=run_id, expires_at=float(expires_at), version=version, **modes)


def _dumps(document: Mapping[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True, allow_nan=False)


# -- public API ---------------------------------------------------------------


def dump_config(
    faults: Mapping[str, Mapping[str, Any]],
    *,
    run_id: str,
    expires_at: float,
    ephemeral_storage_mb: int | None = None,
) -> str:
    """Validate ``faults`` and return the compact JSON (version 2) the extension reads.

    ``ephemeral_storage_mb`` (the function's ``EphemeralStorage.Size``), when given,
    bounds ``disk.mb``. Raises :class:`ConfigError` with a message naming the field.
    """
    config = _build(faults, run_id, expires_at)
    if (
        config.disk is not None
        and ephemeral_storage_mb is not None
        and config.disk.mb > ephemeral_storage_mb
    ):
        raise ConfigError(
            f"faults.disk.mb is {config.disk.mb}, more than the function's ephemeral storage "
            f"({ephemeral_storage_mb} MB)"
        )
    text = config.to_json()
    size = len(text.encode("utf-8"))
    if size > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"the serialized config is {size} bytes, more than {MAX_CONFIG_BYTES} "
            "(Lambda allows 4 KB for all environment keys together)"
        )
    return text


def parse_config(text: str) -> ChaosConfig:
    """Parse and validate the JSON document (version 1 or 2); raises :class:`ConfigError`."""
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
