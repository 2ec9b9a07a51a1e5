"""Runtime API proxy: sits between the function's runtime and Lambda's Runtime API.

A small HTTP/1.1 relay on raw sockets (one thread per runtime connection, each
paired with its own keep-alive connection to the real Runtime API). Requests and
responses are forwarded byte for byte - request line, every header, bodies with
Content-Length or chunked framing including trailers (response streaming) -
except where a fault replaces the function's outcome. Every socket has
TCP_NODELAY and small messages go out in one write, so the relay adds no
Nagle/delayed-ACK stalls.

Faults are decided when ``/invocation/next`` returns (latency is slept before the
event is handed to the runtime, i.e. before the handler runs) and applied when
the runtime posts that invocation's ``/response`` or ``/error``.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Callable

from .engine import ERROR_TYPE_HEADER, INJECTED_EXCEPTION_TYPE, Decision, FaultEngine, Telemetry

# typing is only needed by type checkers: not importing it keeps the cold start short
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

NEXT_PATH = b"/2018-06-01/runtime/invocation/next"
INVOCATION_PREFIX = b"/2018-06-01/runtime/invocation/"
MAX_LINE = 65536
MAX_HEADERS = 200
SMALL_BODY = 256 * 1024  # bodies up to this size are sent with their head in one write
RELAY_PIECE = 256 * 1024
#: How long past the invocation deadline a `timeout` fault holds the response.
TIMEOUT_GRACE_S = 1.0
#: Hold used when the runtime API gave no deadline (Lambda's maximum timeout).
MAX_HOLD_S = 900.0
MAX_PENDING_DECISIONS = 1024

Head = tuple[bytes, list[bytes], dict[bytes, bytes]]


class ProtocolError(Exception):
    """The peer sent something that is not HTTP/1.x we can relay."""


def _nodelay(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def read_head(reader: Any) -> Head | None:
    """Start line, raw header lines and a lower-cased name -> value map; None at clean EOF."""
    line = reader.readline(MAX_LINE)
    while line in (b"\r\n", b"\n"):
        line = reader.readline(MAX_LINE)
    if not line:
        return None
    if not line.endswith(b"\n"):
        raise ProtocolError("start line too long or truncated")
    lines: list[bytes] = []
    headers: dict[bytes, bytes] = {}
    while True:
        raw = reader.readline(MAX_LINE)
        if not raw:
            raise ProtocolError("connection closed inside the header section")
        if raw in (b"\r\n", b"\n"):
            break
        lines.append(raw)
        if len(lines) > MAX_HEADERS:
            raise ProtocolError("too many header lines")
        name, sep, value = raw.partition(b":")
        if not sep:
            raise ProtocolError("malformed header line")
        headers[name.strip().lower()] = value.strip()
    return line, lines, headers


def body_framing(headers: dict[bytes, bytes]) -> tuple[bool, int]:
    """(chunked, content_length); content_length is -1 when the body is chunked."""
    te = headers.get(b"transfer-encoding")
    if te is not None and b"chunked" in te.lower():
        return True, -1
    raw = headers.get(b"content-length")
    if raw is None:
        return False, 0
    try:
        length = int(raw)
    except ValueError:
        raise ProtocolError("invalid Content-Length") from None
    if length < 0:
        raise ProtocolError("negative Content-Length")
    return False, length


def read_exact(reader: Any, n: int) -> bytes:
    data = reader.read(n) if n else b""
    if len(data) != n:
        raise ProtocolError("connection closed inside a body")
    return data


def read_raw_chunked(reader: Any, sink: Callable[[bytes], None] | None = None) -> bytes:
    """Read a chunked body with its framing and trailers exactly as on the wire.

    With ``sink``, each chunk is passed on as soon as it arrives and b"" is returned.
    """
    parts: list[bytes] = []
    while True:
        size_line = reader.readline(MAX_LINE)
        if not size_line.endswith(b"\n"):
            raise ProtocolError("truncated chunk size line")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ProtocolError("invalid chunk size") from None
        if size == 0:
            trailer = [size_line]
            while True:
                line = reader.readline(MAX_LINE)
                if not line:
                    raise ProtocolError("connection closed inside trailers")
                trailer.append(line)
                if line in (b"\r\n", b"\n"):
                    break
            piece = b"".join(trailer)
            if sink is None:
                parts.append(piece)
            else:
                sink(piece)
            break
        # chunk data plus its CRLF; large chunks are relayed in pieces
        remaining = size + 2
        first = True
        while remaining:
            take = min(remaining, RELAY_PIECE)
            data = read_exact(reader, take)
            remaining -= take
            piece = size_line + data if first else data
            first = False
            if sink is None:
                parts.append(piece)
            else:
                sink(piece)
    return b"".join(parts)


def is_keep_alive(start_line: bytes, headers: dict[bytes, bytes]) -> bool:
    connection = headers.get(b"connection", b"").lower()
    if start_line.rstrip().endswith(b"HTTP/1.0"):
        return b"keep-alive" in connection
    return b"close" not in connection


class Response:
    __slots__ = ("status", "raw", "headers", "keep_alive", "head_length")

    def __init__(
        self,
        status: int,
        raw: bytes,
        headers: dict[bytes, bytes],
        keep_alive: bool,
        head_length: int,
    ) -> None:
        self.status = status
        self.raw = raw  # head and body, as received
        self.headers = headers
        self.keep_alive = keep_alive
        self.head_length = head_length

    @property
    def body(self) -> bytes:
        return self.raw[self.head_length :]


class Upstream:
    """One keep-alive connection to the real Runtime API."""

    def __init__(self, host: str, port: int, connect_timeout: float = 2.0) -> None:
        self.host = host
        self.port = port
        self.connect_timeout = connect_timeout
        self.sock: socket.socket | None = None
        self.reader: Any = None
        self.fresh = False

    def connect(self) -> None:
        self.close()
        sock = socket.create_connection((self.host, self.port), timeout=self.connect_timeout)
        sock.settimeout(None)
        _nodelay(sock)
        self.sock = sock
        self.reader = sock.makefile("rb", buffering=65536)
        self.fresh = True

    def ensure(self) -> None:
        """Connect, or reconnect when the server has closed the idle connection."""
        if self.sock is None:
            self.connect()
            return
        self.fresh = False
        try:
            stale = bool(select.select([self.sock], [], [], 0)[0])
        except (OSError, ValueError):
            stale = True
        if stale:  # EOF (or stray bytes) on an idle connection: it is no longer usable
            self.connect()

    def close(self) -> None:
        if self.reader is not None:
            with contextlib.suppress(OSError):
                self.reader.close()
            self.reader = None
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sock = None

    def send(self, data: bytes) -> None:
        assert self.sock is not None
        self.sock.sendall(data)

    def read_response(self) -> Response:
        """Read one response (skipping 1xx interim responses) with its body."""
        while True:
            head = read_head(self.reader)
            if head is None:
                raise ProtocolError("the Runtime API closed the connection")
            start, lines, headers = head
            parts = start.split(None, 2)
            try:
                status = int(parts[1])
            except (IndexError, ValueError):
                raise ProtocolError("malformed status line") from None
            if 100 <= status < 200:
                continue
            raw_head = start + b"".join(lines) + b"\r\n"
            keep_alive = is_keep_alive(start, headers)
            chunked, length = body_framing(headers)
            if chunked:
                body = read_raw_chunked(self.reader)
            elif b"content-length" in headers:
                body = read_exact(self.reader, length)
            elif status in (204, 304):
                body = b""
            else:  # delimited by close
                body = self.reader.read()
                keep_alive = False
            if not keep_alive:
                self.close()
            return Response(status, raw_head + body, headers, keep_alive, len(raw_head))

    def exchange(self, data: bytes) -> Response:
        """Send a fully buffered request and read its response (one retry on a stale connection)."""
        self.ensure()
        try:
            self.send(data)
            return self.read_response()
        except (OSError, ProtocolError):
            if self.fresh:
                raise
        self.connect()
        self.send(data)
        return self.read_response()


def _simple_response(status: int, reason: str, document: dict[str, Any]) -> bytes:
    body = json.dumps(document, separators=(",", ":")).encode()
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


class _Pending:
    __slots__ = ("decision", "deadline_ms")

    def __init__(self, decision: Decision, deadline_ms: int | None) -> None:
        self.decision = decision
        self.deadline_ms = deadline_ms


class RuntimeProxy:
    """The Runtime API proxy; ``engine`` None means pure pass-through."""

    def __init__(
        self,
        upstream: str,
        port: int,
        engine: FaultEngine | None,
        telemetry: Telemetry,
        log: Callable[[str], None],
        host: str = "127.0.0.1",
    ) -> None:
        up_host, _, up_port = upstream.rpartition(":")
        if not up_host or not up_port.isdigit():
            raise ValueError(f"AWS_LAMBDA_RUNTIME_API is not host:port: {upstream!r}")
        self.upstream_host = up_host.strip("[]")
        self.upstream_port = int(up_port)
        self.host = host
        self.port = port
        self.engine = engine
        self.telemetry = telemetry
        self.log = log
        self._pending: dict[bytes, _Pending] = {}
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._closed = False

    # -- lifecycle ------------------------------------------------------------

    def check_upstream(self, timeout: float = 2.0) -> None:
        """Raise OSError unless the real Runtime API accepts a TCP connection."""
        sock = socket.create_connection((self.upstream_host, self.upstream_port), timeout=timeout)
        sock.close()

    def bind(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((self.host, self.port))
            listener.listen(64)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        self.port = listener.getsockname()[1]

    def start(self) -> None:
        if self._listener is None:
            self.bind()
        thread = threading.Thread(
            target=self._accept_loop, name="gameday-chaos-accept", daemon=True
        )
        thread.start()

    def close(self) -> None:
        self._closed = True
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()

    def _accept_loop(self) -> None:
        listener = self._listener
        while not self._closed and listener is not None:
            try:
                conn, _ = listener.accept()
            except OSError:
                if self._closed:
                    return
                time.sleep(0.01)
                continue
            _nodelay(conn)
            threading.Thread(
                target=self._serve, args=(conn,), name="gameday-chaos-conn", daemon=True
            ).start()

    # -- per connection -----------------------------------------------------------

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb", buffering=65536)
        upstream = Upstream(self.upstream_host, self.upstream_port)
        try:
            while True:
                head = read_head(reader)
                if head is None:
                    break
                if not self._handle(conn, reader, upstream, head):
                    break
        except (OSError, ProtocolError) as exc:
            if not self._closed:
                self.log(f"runtime connection ended: {exc}")
        finally:
            upstream.close()
            try:
                reader.close()
                conn.close()
            except OSError:
                pass

    def _handle(self, conn: socket.socket, reader: Any, upstream: Upstream, head: Head) -> bool:
        start, lines, headers = head
        parts = start.split(None, 2)
        if len(parts) != 3:
            raise ProtocolError("malformed request line")
        method, path = parts[0], parts[1]
        keep_alive = is_keep_alive(start, headers)
        if method == b"GET" and path == NEXT_PATH:
            return self._next(conn, upstream, start, lines) and keep_alive
        if method == b"POST" and path.startswith(INVOCATION_PREFIX):
            request_id, _, action = path[len(INVOCATION_PREFIX) :].rpartition(b"/")
            if action in (b"response", b"error") and self.engine is not None:
                with self._lock:
                    pending = self._pending.pop(request_id, None)
                if pending is not None and pending.decision.outcome is not None:
                    return (
                        self._apply_outcome(conn, reader, upstream, head, request_id, pending)
                        and keep_alive
                    )
        return self._forward(conn, reader, upstream, head) and keep_alive

    def _upstream_failed(self, conn: socket.socket, exc: BaseException) -> bool:
        self.log(
            f"relay to the Lambda Runtime API at {self.upstream_host}:{self.upstream_port} "
            f"failed: {exc}"
        )
        with contextlib.suppress(OSError):
            conn.sendall(
                _simple_response(
                    502,
                    "Bad Gateway",
                    {"errorType": "GamedayChaos.ProxyError", "errorMessage": str(exc)},
                )
            )
        return False

    def _next(
        self, conn: socket.socket, upstream: Upstream, start: bytes, lines: list[bytes]
    ) -> bool:
        try:
            response = upstream.exchange(start + b"".join(lines) + b"\r\n")
        except (OSError, ProtocolError) as exc:
            return self._upstream_failed(conn, exc)
        engine = self.engine
        if engine is not None and response.status == 200:
            decision = engine.decide(time.time())
            if decision.injects:
                request_id = response.headers.get(b"lambda-runtime-aws-request-id", b"")
                if decision.outcome is not None:
                    deadline: int | None = None
                    raw_deadline = response.headers.get(b"lambda-runtime-deadline-ms")
                    if raw_deadline is not None and raw_deadline.isdigit():
                        deadline = int(raw_deadline)
                    with self._lock:
                        if len(self._pending) >= MAX_PENDING_DECISIONS:
                            self._pending.pop(next(iter(self._pending)))
                        self._pending[request_id] = _Pending(decision, deadline)
                if decision.latency_ms > 0:
                    self.telemetry.emit(
                        "latency",
                        engine.config.run_id,
                        request_id.decode("latin-1"),
                        {"latency_ms": round(decision.latency_ms, 3)},
                    )
                    time.sleep(decision.latency_ms / 1000.0)
        conn.sendall(response.raw)
        return response.keep_alive

    def _forward(self, conn: socket.socket, reader: Any, upstream: Upstream, head: Head) -> bool:
        start, lines, headers = head
        chunked, length = body_framing(headers)
        out_head = start + b"".join(_strip_expect(lines, headers, conn)) + b"\r\n"
        try:
            if not chunked and length <= SMALL_BODY:
                response = upstream.exchange(out_head + read_exact(reader, length))
            else:
                upstream.ensure()
                upstream.send(out_head)
                if chunked:
                    read_raw_chunked(reader, upstream.send)
                else:
                    remaining = length
                    while remaining:
                        take = min(remaining, RELAY_PIECE)
                        upstream.send(read_exact(reader, take))
                        remaining -= take
                response = upstream.read_response()
        except (OSError, ProtocolError) as exc:
            return self._upstream_failed(conn, exc)
        conn.sendall(response.raw)
        return response.keep_alive

    def _apply_outcome(
        self,
        conn: socket.socket,
        reader: Any,
        upstream: Upstream,
        head: Head,
        request_id: bytes,
        pending: _Pending,
    ) -> bool:
        engine = self.engine
        assert engine is not None
        start, lines, headers = head
        chunked, length = body_framing(headers)
        kept_lines = _strip_expect(lines, headers, conn)
        # The function's own body is read in full: discarded, or held for `timeout`.
        body = read_raw_chunked(reader) if chunked else read_exact(reader, length)
        outcome = pending.decision.outcome
        run_id = engine.config.run_id
        rid = request_id.decode("latin-1")
        if outcome == "timeout":
            if pending.deadline_ms is not None:
                hold = pending.deadline_ms / 1000.0 + TIMEOUT_GRACE_S - time.time()
            else:
                hold = MAX_HOLD_S
            self.telemetry.emit("timeout", run_id, rid, {"held_ms": max(0, int(hold * 1000))})
            if hold > 0:
                time.sleep(min(hold, MAX_HOLD_S))
            request = start + b"".join(kept_lines) + b"\r\n" + body
        elif outcome == "error":
            payload = engine.error_response()
            request = _post(INVOCATION_PREFIX + request_id + b"/response", [], payload)
            self.telemetry.emit("error", run_id, rid, {"status_code": _status_code(engine)})
        else:  # exception
            payload = engine.exception_body()
            extra = [f"{ERROR_TYPE_HEADER}: {INJECTED_EXCEPTION_TYPE}\r\n".encode()]
            request = _post(INVOCATION_PREFIX + request_id + b"/error", extra, payload)
            self.telemetry.emit("exception", run_id, rid)
        try:
            response = upstream.exchange(request)
        except (OSError, ProtocolError) as exc:
            return self._upstream_failed(conn, exc)
        conn.sendall(response.raw)
        return response.keep_alive


def _status_code(engine: FaultEngine) -> int:
    error = engine.config.error
    return error.status_code if error is not None else 503


def _post(path: bytes, extra_headers: list[bytes], body: bytes) -> bytes:
    return (
        b"POST " + path + b" HTTP/1.1\r\nHost: runtime\r\n"
        b"Content-Type: application/json\r\n"
        + b"".join(extra_headers)
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def _strip_expect(
    lines: list[bytes], headers: dict[bytes, bytes], conn: socket.socket
) -> list[bytes]:
    """Answer ``Expect: 100-continue`` ourselves (the body is relayed at once) and drop it."""
    if b"expect" not in headers:
        return lines
    if headers[b"expect"].lower() == b"100-continue":
        conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    return [line for line in lines if not line.lower().startswith(b"expect:")]
