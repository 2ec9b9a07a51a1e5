"""Errors a user can cause or meet, each with the exit code the CLI returns for it.

They are caught once, at the CLI edge, and printed as one line.
"""

from __future__ import annotations

from chaos.outcome import EXIT_ABORTED, EXIT_INVALID, EXIT_ROLLBACK_INCOMPLETE


class GamedayError(Exception):
    """Base of every error the CLI prints as one line."""

    exit_code = EXIT_INVALID


class InputError(GamedayError):
    """A file, flag or value the user gave is invalid (nothing was changed)."""


class PreflightRefused(GamedayError):
    """A guardrail refused the run before any change was made."""


class ConfigurationError(GamedayError):
    """The environment (credentials, sandbox, endpoint) is not usable."""


class RunAborted(GamedayError):
    """A stop condition or signal ended the run; everything was restored."""

    exit_code = EXIT_ABORTED


class RollbackIncomplete(GamedayError):
    """At least one restore failed; the journal is kept for `gameday rollback`."""

    exit_code = EXIT_ROLLBACK_INCOMPLETE


def redact_aws_message(text: str) -> str:
    """An AWS error message without the values some of them echo back.

    Lambda's 4 KB refusal quotes the whole environment ("String measured: {...}") - values
    included; reports and logs name keys, never values.
    """
    marker = "String measured:"
    return text.split(marker, 1)[0] + f"{marker} (values not shown)" if marker in text else text
