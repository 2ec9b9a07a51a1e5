"""Errors the CLI prints: one line, and no value a secret could hide in."""

from __future__ import annotations

from chaos.errors import redact_aws_message


def test_aws_messages_echoing_values_are_redacted() -> None:
    text = (
        "Lambda was unable to configure your environment variables because the environment "
        'variables you have provided exceeded the 4KB limit. String measured: {"PASSWORD":'
        '"hunter2"}'
    )
    assert "hunter2" not in redact_aws_message(text)
    assert redact_aws_message("plain message") == "plain message"
