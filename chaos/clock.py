"""Timestamps as the result and the journal write them: ISO-8601 UTC with milliseconds."""

from __future__ import annotations

from datetime import datetime, timezone

__all__ = ["iso_from_epoch", "epoch_seconds", "utc_now"]


def utc_now() -> str:
    """Now, e.g. ``2024-05-01T10:00:00.000Z``."""
    return iso_from_epoch(datetime.now(timezone.utc).timestamp())


def iso_from_epoch(epoch_s: float) -> str:
    """``epoch_s`` written as :func:`utc_now` writes timestamps."""
    moment = datetime.fromtimestamp(epoch_s, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_seconds(timestamp: str) -> float:
    """Epoch seconds of an ISO-8601 timestamp such as ``2024-05-01T10:00:00.000Z``."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()
