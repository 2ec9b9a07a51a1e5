"""HTTP framing helpers of the proxy and the layer's shell scripts."""

from __future__ import annotations

import io
import os
import subprocess
from pathlib import Path

import pytest
from gameday_chaos import config as c
from gameday_chaos.proxy import (
    ProtocolError,
    body_framing,
    is_keep_alive,
    read_head,
    read_raw_chunked,
)

LAYER = Path(c.__file__).parent / "layer"


def test_read_head_keeps_raw_lines_and_lowercases_names():
    raw = b"POST /x HTTP/1.1\r\nHost: a\r\nLambda-Runtime-Function-Error-Type: Boom\r\n\r\nbody"
    reader = io.BufferedReader(io.BytesIO(raw))
    start, lines, headers = read_head(reader)
    assert start == b"POST /x HTTP/1.1\r\n"
    assert lines == [b"Host: a\r\n", b"Lambda-Runtime-Function-Error-Type: Boom\r\n"]
    assert headers[b"lambda-runtime-function-error-type"] == b"Boom"
    assert reader.read() == b"body"
    assert read_head(io.BufferedReader(io.BytesIO(b""))) is None
    with pytest.raises(ProtocolError):
        read_head(io.BufferedReader(io.BytesIO(b"GET / HTTP/1.1\r\nHost: a\r\n")))


def test_chunked_body_is_relayed_byte_for_byte_with_trailers():
    wire = (
        b"5\r\nhello\r\n"
        b"1a;ext=1\r\n" + b"z" * 26 + b"\r\n"
        b"0\r\nLambda-Runtime-Function-Error-Type: X\r\n\r\n"
    )
    reader = io.BufferedReader(io.BytesIO(wire + b"NEXT"))
    assert read_raw_chunked(reader) == wire
    assert reader.read() == b"NEXT"
    pieces: list[bytes] = []
    read_raw_chunked(io.BufferedReader(io.BytesIO(wire)), pieces.append)
    assert b"".join(pieces) == wire and len(pieces) == 3


def test_truncated_chunked_body_is_an_error():
    with pytest.raises(ProtocolError):
        read_raw_chunked(io.BufferedReader(io.BytesIO(b"5\r\nhel")))


def test_body_framing_and_keep_alive():
    assert body_framing({b"transfer-encoding": b"chunked"}) == (True, -1)
    assert body_framing({b"content-length": b"12"}) == (False, 12)
    assert body_framing({}) == (False, 0)
    with pytest.raises(ProtocolError):
        body_framing({b"content-length": b"-3"})
    assert is_keep_alive(b"GET / HTTP/1.1\r\n", {})
    assert not is_keep_alive(b"GET / HTTP/1.1\r\n", {b"connection": b"close"})
    assert not is_keep_alive(b"GET / HTTP/1.0\r\n", {})


def _wrapper_env(extra: dict[str, str]) -> str:
    env = {"PATH": os.environ["PATH"], "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", **extra}
    done = subprocess.run(
        [str(LAYER / "gameday-chaos-wrapper"), "sh", "-c", 'printf %s "$AWS_LAMBDA_RUNTIME_API"'],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return done.stdout


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, "127.0.0.1:9001"),
        ({c.CONFIG_ENV_KEY: "{}"}, "127.0.0.1:9140"),
        ({c.CONFIG_ENV_KEY: "{}", c.PORT_ENV_KEY: "9333"}, "127.0.0.1:9333"),
        ({c.CONFIG_ENV_KEY: "{}", c.DISABLE_ENV_KEY: "1"}, "127.0.0.1:9001"),
        ({c.CONFIG_ENV_KEY: "{}", c.DISABLE_ENV_KEY: "tRuE"}, "127.0.0.1:9001"),
        ({c.CONFIG_ENV_KEY: "{}", c.DISABLE_ENV_KEY: "0"}, "127.0.0.1:9140"),
        ({c.CONFIG_ENV_KEY: "{}", c.DISABLE_ENV_KEY: "yes"}, "127.0.0.1:9140"),
    ],
)
def test_wrapper_redirects_exactly_when_the_extension_runs_a_proxy(extra, expected):
    assert _wrapper_env(extra) == expected
    # the extension uses the same rule (config set and not disabled)
    runs_proxy = bool(extra.get(c.CONFIG_ENV_KEY)) and not c.is_disabled(extra)
    assert runs_proxy == (expected != "127.0.0.1:9001")


def test_wrapper_passes_arguments_through_exactly():
    done = subprocess.run(
        [str(LAYER / "gameday-chaos-wrapper"), "printf", "%s|", "a b", "", "$x"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert done.stdout == "a b||$x|"
