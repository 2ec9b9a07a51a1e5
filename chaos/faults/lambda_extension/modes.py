"""What `gameday plan` says about each mode of a lambda-extension fault (one line each)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chaos.errors import PreflightRefused

__all__ = [
    "DEFAULT_EPHEMERAL_STORAGE_MB",
    "ephemeral_storage_mb",
    "mode_lines",
    "refuse_disk_over_storage",
]

#: "The default is 512 MB" of /tmp when EphemeralStorage is not set ("Configure ephemeral
#: storage for Lambda functions", https://docs.aws.amazon.com/lambda/latest/dg/
#: configuration-ephemeral-storage.html).
DEFAULT_EPHEMERAL_STORAGE_MB = 512


def _share(rate: float) -> str:
    return f"{rate:.0%} of invocations"


def _match_text(spec: Mapping[str, Any]) -> str:
    conditions = spec.get("match") or []
    if not conditions:
        return ""
    parts = []
    for condition in conditions:
        operator = next(key for key in condition if key != "path")
        value = condition[operator]
        parts.append(
            f"{condition['path']} {operator} {value!r}"
            if operator != "exists"
            else f"{condition['path']} {'exists' if value else 'absent'}"
        )
    return " where " + " and ".join(parts)


def _describe(mode: str, spec: Mapping[str, Any]) -> str:
    rate = float(spec["rate"])
    if mode == "latency":
        jitter = f" +0..{spec['jitter_ms']} ms jitter" if spec.get("jitter_ms") else ""
        return f"latency: +{spec['ms']} ms{jitter} before the handler on {_share(rate)}"
    if mode == "error":
        runs = (
            "the handler does NOT run (prevent_execution)"
            if spec.get("prevent_execution")
            else "the handler runs, its response is replaced"
        )
        return (
            f"error: HTTP {spec['status_code']} response (format "
            f"{spec.get('format', 'auto')}) on {_share(rate)}; {runs}"
        )
    if mode == "exception":
        runs = (
            "the handler does NOT run (prevent_execution)"
            if spec.get("prevent_execution")
            else "after the handler ran"
        )
        return f"exception: a function error on {_share(rate)}; {runs}"
    if mode == "timeout":
        return f"timeout: the invocation hangs until the function's timeout on {_share(rate)}"
    if mode == "corruption":
        how = (
            "body replaced by a fixed one"
            if spec.get("mode") == "replace"
            else "body mangled (truncated/garbled)"
        )
        return f"corruption: the handler's response {how} on {_share(rate)}"
    return f"disk: /tmp filled by {spec['mb']} MB on {_share(rate)}, freed at restore and expiry"


def mode_lines(faults: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One plan line per configured mode, with its rate and match conditions."""
    return [f"fault {_describe(mode, spec)}{_match_text(spec)}" for mode, spec in faults.items()]


def ephemeral_storage_mb(config: Mapping[str, Any]) -> int:
    return int((config.get("EphemeralStorage") or {}).get("Size") or DEFAULT_EPHEMERAL_STORAGE_MB)


def refuse_disk_over_storage(
    config: Mapping[str, Any], faults: Mapping[str, Mapping[str, Any]]
) -> None:
    """The disk mode cannot fill more than the function's /tmp (its EphemeralStorage)."""
    disk = faults.get("disk")
    if disk is None:
        return
    storage = ephemeral_storage_mb(config)
    if int(disk["mb"]) > storage:
        raise PreflightRefused(
            f"{config['FunctionName']}: disk.mb is {disk['mb']} MB, more than the function's "
            f"/tmp ({storage} MB, EphemeralStorage); lower disk.mb or raise EphemeralStorage"
        )
