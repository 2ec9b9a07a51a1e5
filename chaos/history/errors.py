"""The ways reading or writing the run history can fail."""

from __future__ import annotations

from chaos.errors import ConfigurationError

__all__ = ["HistoryConflict", "HistoryWriteUnsupported"]


class HistoryConflict(Exception):
    """A record of this run id already exists: records are written once."""


class HistoryWriteUnsupported(ConfigurationError):
    """This botocore cannot send a conditional write: no record is written unconditionally."""
