"""Emulation of Lambda's Runtime API and Extensions API on 127.0.0.1.

One :class:`LambdaApi` (state) and one HTTP/1.1 server per execution environment.
Endpoints:

* Runtime API: ``GET /2018-06-01/runtime/invocation/next``,
  ``POST /2018-06-01/runtime/invocation/{id}/response`` (buffered, or chunked with
  ``Lambda-Runtime-Function-Response-Mode: streaming`` and error trailers),
  ``POST /2018-06-01/runtime/invocation/{id}/error``,
  ``POST /2018-06-01/runtime/init/error``;
* Extensions API: ``POST /2020-01-01/extension/register``,
  ``GET /2020-01-01/extension/event/next``, ``POST .../init/error``, ``POST .../exit/error``.

Every response goes out in one write on a TCP_NODELAY socket (no Nagle /
delayed-ACK stalls) and ``/next`` always carries the request id, deadline,
function ARN and trace id headers (the real runtime client needs all of them).
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from chaos.host import LoopbackHTTPServer
from chaos.sandbox.http_body import read_body

RUNTIME_PREFIX = "/2018-06-01/runtime"
INVOCATION_PREFIX = RUNTIME_PREFIX + "/invocation/"
EXTENSION_PREFIX = "/2020-01-01/extension"
#: Lambda's limit for a buffered (non-streamed) response payload.
MAX_BUFFERED_RESPONSE = 6 * 1024 * 1024 + 100
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY_TRAILER = "Lambda-Runtime-Function-Error-Body"
RESPONSE_MODE_HEADER = "Lambda-Runtime-Function-Response-Mode"
EXTENSION_EVENTS = ("INVOKE", "SHUTDOWN")
_WAIT_SLICE_S = 1.0


def new_trace_id() -> str:
    return (
        f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};"
        f"Parent={uuid.uuid4().hex[:16]};Sampled=0"
    )


@dataclass
class Invocation:
    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str
    client_context: str | None = None
    # filled in by the runtime
    picked_up_at: float | None = None
    done: bool = False
    outcome: str = ""  # "response" | "error"
    body: bytes = b""
    error_type: str | None = None
    content_type: str | None = None
    streamed: bool = False
    chunks: int = 0


@dataclass
class ExtensionState:
    identifier: str
    name: str
    events: frozenset[str]
    registered_at: float
    queue: deque[dict[str, Any]] = field(default_factory=deque)
    waiting: bool = False
    first_next_at: float | None = None
    shutdown_delivered: bool = False
    errors: list[tuple[str, str, bytes]] = field(default_factory=list)


class LambdaApi:
    """State shared by the HTTP handlers and the :class:`ExecutionEnvironment`."""

    def __init__(
        self, *, function_name: str, function_version: str, handler: str, function_arn: str
    ) -> None:
        self.function_name = function_name
        self.function_version = function_version
        self.handler = handler
        self.function_arn = function_arn
        self.cond = threading.Condition()
        self.closed = False
        self.registration_open = True
        self.runtime_ready_at: float | None = None
        self.runtime_waiting = False
        self.init_error: tuple[str, bytes] | None = None
        self.queue: deque[Invocation] = deque()
        self.current: Invocation | None = None
        self.extensions: dict[str, ExtensionState] = {}

    # -- used by the environment ------------------------------------------------

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def extensions_idle(self) -> bool:
        """Every INVOKE subscriber is back in /event/next (the previous invoke is over)."""
        return all(
            ext.waiting and not ext.queue
            for ext in self.extensions.values()
            if "INVOKE" in ext.events
        )

    def submit(self, invocation: Invocation) -> None:
        with self.cond:
            event = {
                "eventType": "INVOKE",
                "deadlineMs": invocation.deadline_ms,
                "requestId": invocation.request_id,
                "invokedFunctionArn": invocation.function_arn,
                "tracing": {"type": "X-Amzn-Trace-Id", "value": invocation.trace_id},
            }
            for ext in self.extensions.values():
                if "INVOKE" in ext.events:
                    ext.queue.append(event)
            self.queue.append(invocation)
            self.cond.notify_all()

    def send_shutdown(self, reason: str, deadline_ms: int) -> int:
        """Queue SHUTDOWN for every subscriber; returns how many were sent."""
        sent = 0
        with self.cond:
            self.registration_open = False
            for ext in self.extensions.values():
                if "SHUTDOWN" in ext.events:
                    ext.queue.clear()
                    ext.queue.append(
                        {
                            "eventType": "SHUTDOWN",
                            "shutdownReason": reason,
                            "deadlineMs": deadline_ms,
                        }
                    )
                    sent += 1
            self.cond.notify_all()
        return sent

    # -- HTTP dispatch ------------------------------------------------------------

    def dispatch(self, h: _Handler, method: str) -> None:
        path = h.path.split("?", 1)[0]
        if path.startswith(RUNTIME_PREFIX):
            if method == "GET" and path == INVOCATION_PREFIX + "next":
                return self._runtime_next(h)
            if method == "POST" and path.startswith(INVOCATION_PREFIX):
                request_id, _, action = path[len(INVOCATION_PREFIX) :].rpartition("/")
                if action in ("response", "error") and request_id:
                    return self._runtime_result(h, request_id, action)
            if method == "POST" and path == RUNTIME_PREFIX + "/init/error":
                return self._runtime_init_error(h)
        elif path.startswith(EXTENSION_PREFIX):
            rest = path[len(EXTENSION_PREFIX) :]
            if method == "POST" and rest == "/register":
                return self._ext_register(h)
            if method == "GET" and rest == "/event/next":
                return self._ext_next(h)
            if method == "POST" and rest in ("/init/error", "/exit/error"):
                return self._ext_error(h, rest.split("/")[1])
        read_body(h)
        send(h, 404, _error_doc("NotFound", f"no such endpoint: {method} {path}"))

    def _runtime_next(self, h: _Handler) -> None:
        with self.cond:
            if self.runtime_ready_at is None:
                self.runtime_ready_at = time.monotonic()
            self.runtime_waiting = True
            self.cond.notify_all()
            while not self.queue and not self.closed:
                self.cond.wait(_WAIT_SLICE_S)
            self.runtime_waiting = False
            if self.closed:
                h.close_connection = True
                return
            invocation = self.queue.popleft()
            invocation.picked_up_at = time.monotonic()
            self.current = invocation
        headers = [
            ("Lambda-Runtime-Aws-Request-Id", invocation.request_id),
            ("Lambda-Runtime-Deadline-Ms", str(invocation.deadline_ms)),
            ("Lambda-Runtime-Invoked-Function-Arn", invocation.function_arn),
            ("Lambda-Runtime-Trace-Id", invocation.trace_id),
        ]
        if invocation.client_context is not None:
            headers.append(("Lambda-Runtime-Client-Context", invocation.client_context))
        send(h, 200, invocation.payload, headers)

    def _runtime_result(self, h: _Handler, request_id: str, action: str) -> None:
        body, trailers, chunks = read_body(h)
        streamed = (h.headers.get(RESPONSE_MODE_HEADER) or "").lower() == "streaming"
        with self.cond:
            invocation = self.current
            if invocation is None or invocation.request_id != request_id:
                send(h, 400, _error_doc("InvalidRequestID", f"unknown request id {request_id}"))
                return
            if invocation.done:
                send(
                    h,
                    403,
                    _error_doc("InvalidStateTransition", "the invocation already has a result"),
                )
                return
            invocation.done = True
            invocation.chunks = chunks
            invocation.streamed = streamed
            invocation.content_type = h.headers.get("Content-Type")
            status = 202
            if action == "error":
                invocation.outcome = "error"
                invocation.error_type = h.headers.get(ERROR_TYPE_HEADER) or "Unhandled"
                invocation.body = body
            elif trailers.get(ERROR_TYPE_HEADER.lower()):
                # a streamed response that failed midway reports its error in trailers
                invocation.outcome = "error"
                invocation.error_type = trailers[ERROR_TYPE_HEADER.lower()]
                try:
                    invocation.body = base64.b64decode(trailers.get(ERROR_BODY_TRAILER.lower(), ""))
                except ValueError:
                    invocation.body = b""
            elif not streamed and len(body) > MAX_BUFFERED_RESPONSE:
                invocation.outcome = "error"
                invocation.error_type = "Function.ResponseSizeTooLarge"
                invocation.body = _error_doc(
                    "Function.ResponseSizeTooLarge",
                    f"Response payload size ({len(body)} bytes) exceeded maximum allowed "
                    f"payload size ({MAX_BUFFERED_RESPONSE} bytes).",
                )
                status = 413
            else:
                invocation.outcome = "response"
                invocation.body = body
            self.cond.notify_all()
        if status == 202:
            send(h, 202, b'{"status":"OK"}')
        else:
            send(h, status, invocation.body)

    def _runtime_init_error(self, h: _Handler) -> None:
        body, _, _ = read_body(h)
        with self.cond:
            error_type = h.headers.get(ERROR_TYPE_HEADER) or "Runtime.Unknown"
            self.init_error = (error_type, body)
            self.cond.notify_all()
        send(h, 202, b'{"status":"OK"}')

    def _ext_register(self, h: _Handler) -> None:
        body, _, _ = read_body(h)
        name = h.headers.get("Lambda-Extension-Name") or ""
        try:
            document = json.loads(body or b"{}")
            events = document.get("events", [])
            if not isinstance(events, list) or any(e not in EXTENSION_EVENTS for e in events):
                raise ValueError(f"events must be a subset of {list(EXTENSION_EVENTS)}")
        except (ValueError, AttributeError) as exc:
            send(h, 400, _error_doc("InvalidRequest", str(exc)))
            return
        if not name:
            send(
                h,
                403,
                _error_doc(
                    "Extension.InvalidExtensionName", "missing Lambda-Extension-Name header"
                ),
            )
            return
        with self.cond:
            if not self.registration_open:
                send(
                    h,
                    403,
                    _error_doc(
                        "Extension.RegistrationClosed",
                        "extensions register during the init phase only",
                    ),
                )
                return
            identifier = str(uuid.uuid4())
            self.extensions[identifier] = ExtensionState(
                identifier=identifier,
                name=name,
                events=frozenset(events),
                registered_at=time.monotonic(),
            )
            self.cond.notify_all()
        info = {
            "functionName": self.function_name,
            "functionVersion": self.function_version,
            "handler": self.handler,
        }
        send(h, 200, json.dumps(info).encode(), [("Lambda-Extension-Identifier", identifier)])

    def _extension(self, h: _Handler) -> ExtensionState | None:
        identifier = h.headers.get("Lambda-Extension-Identifier") or ""
        with self.cond:
            ext = self.extensions.get(identifier)
        if ext is None:
            send(
                h,
                403,
                _error_doc(
                    "Extension.InvalidExtensionIdentifier",
                    f"unknown extension identifier {identifier!r}",
                ),
            )
        return ext

    def _ext_next(self, h: _Handler) -> None:
        read_body(h)
        ext = self._extension(h)
        if ext is None:
            return
        with self.cond:
            if ext.first_next_at is None:
                ext.first_next_at = time.monotonic()
            ext.waiting = True
            self.cond.notify_all()
            while not ext.queue and not self.closed:
                self.cond.wait(_WAIT_SLICE_S)
            if not ext.queue:
                ext.waiting = False
                h.close_connection = True
                return
            event = ext.queue.popleft()
            ext.waiting = False
            if event["eventType"] == "SHUTDOWN":
                ext.shutdown_delivered = True
            self.cond.notify_all()
        send(
            h,
            200,
            json.dumps(event).encode(),
            [("Lambda-Extension-Event-Identifier", str(uuid.uuid4()))],
        )

    def _ext_error(self, h: _Handler, kind: str) -> None:
        body, _, _ = read_body(h)
        ext = self._extension(h)
        if ext is None:
            return
        with self.cond:
            error_type = (
                h.headers.get("Lambda-Extension-Function-Error-Type") or "Extension.Unknown"
            )
            ext.errors.append((kind, error_type, body))
            self.cond.notify_all()
        send(h, 202, b'{"status":"OK"}')


def _error_doc(error_type: str, message: str) -> bytes:
    return json.dumps({"errorType": error_type, "errorMessage": message}).encode()


def send(
    h: BaseHTTPRequestHandler,
    status: int,
    body: bytes,
    headers: list[tuple[str, str]] | None = None,
    content_type: str = "application/json",
) -> None:
    """Write the whole response (status line, headers, body) in one write."""
    lines = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
    ]
    lines.extend(f"{name}: {value}" for name, value in headers or ())
    if h.close_connection:
        lines.append("Connection: close")
    h.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # TCP_NODELAY on every accepted socket
    server: ApiServer

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self.server.api.dispatch(self, "GET")

    def do_POST(self) -> None:  # noqa: N802
        self.server.api.dispatch(self, "POST")

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


class ApiServer(LoopbackHTTPServer):
    request_queue_size = 64

    def __init__(self, api: LambdaApi, host: str = "127.0.0.1", port: int = 0) -> None:
        self.api = api
        super().__init__((host, port), _Handler)

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host!s}:{port}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)) or self.api.closed:
            return  # a runtime or extension went away (killed at shutdown, timeout reset)
        super().handle_error(request, client_address)

    def start(self) -> threading.Thread:
        thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="lambda-local-api",
            daemon=True,
        )
        thread.start()
        return thread

    def stop(self) -> None:
        self.api.close()
        self.shutdown()
        self.server_close()
