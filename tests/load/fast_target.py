"""A fast HTTP/1.1 keep-alive target on 127.0.0.1 (stdlib asyncio) in its own process.

For load benchmarks and tests that need a target faster than one Locust process: a
threaded stdlib server caps at a few hundred requests per second and would measure
itself, not the load. Every request gets `200 {}` on a kept-alive connection; the
server counts them. `GET /_served` answers that count (and is not counted).

    python tests/load/fast_target.py     # prints "port <n>", serves until SIGTERM / stdin EOF
"""

from __future__ import annotations

import asyncio
import http.client
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
_SERVED_PATH = b" /_served "
_CONTENT_LENGTH = b"\r\ncontent-length:"
START_TIMEOUT_S = 20.0


class _Counter:
    served = 0


class _HttpProtocol(asyncio.Protocol):
    """Answers each complete request in the buffer (pipelining included) with one write."""

    def __init__(self) -> None:
        self._buffer = b""
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: Any) -> None:
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data
        responses = []
        while True:
            head_end = buffer.find(b"\r\n\r\n")
            if head_end < 0:
                break
            request_end = head_end + 4 + _content_length(buffer[:head_end])
            if len(buffer) < request_end:
                break
            request_line = buffer[: buffer.find(b"\r\n")]
            buffer = buffer[request_end:]
            responses.append(_answer(request_line))
        self._buffer = buffer
        if responses and self._transport is not None:
            self._transport.write(b"".join(responses))


def _content_length(head: bytes) -> int:
    start = head.lower().find(_CONTENT_LENGTH)
    if start < 0:
        return 0
    value_start = start + len(_CONTENT_LENGTH)
    value_end = head.find(b"\r\n", value_start)
    return int(head[value_start : value_end if value_end >= 0 else None].strip() or 0)


def _answer(request_line: bytes) -> bytes:
    if _SERVED_PATH in request_line:
        body = str(_Counter.served).encode()
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
    _Counter.served += 1
    return _RESPONSE


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_HttpProtocol, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(f"port {port}", flush=True)
    stopped = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopped.set)
    # The parent's end of stdin closes when it exits, however it exits: so does the target.
    stdin = sys.stdin.fileno()

    def on_stdin() -> None:
        if not os.read(stdin, 4096):
            stopped.set()

    loop.add_reader(stdin, on_stdin)
    async with server:
        await stopped.wait()


class FastTarget:
    """Runs the target in a subprocess: `url`, `pid`, `served()`; a context manager."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self._process is not None, "not started"
        return self._process.pid

    def __enter__(self) -> FastTarget:
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()  # the target prints its port first thing
        if not line.startswith("port "):
            self.__exit__()
            raise RuntimeError(f"fast target did not start: {line!r}")
        self.port = int(line.split()[1])
        return self

    def __exit__(self, *_: object) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=START_TIMEOUT_S)
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                stream.close()

    def served(self) -> int:
        """Requests answered so far (this query not included)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            connection.request("GET", "/_served")
            return int(connection.getresponse().read())
        finally:
            connection.close()


if __name__ == "__main__":
    asyncio.run(_serve())
