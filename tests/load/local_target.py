"""A small HTTP target on 127.0.0.1 for load tests: counts requests, can rate-block like WAF."""

from __future__ import annotations

import json
import threading
import time
from collections import defaultdict, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients killed mid-request (plain Locust at its end) are not our concern


class LocalTarget:
    """Answers every request with a small JSON body; counts them per identity.

    With `block_after`, an identity (the `identity_header` value) whose requests in the
    trailing `window_s` exceed `block_after` gets `block_status` with API Gateway's WAF
    body — every request counts, blocked or not, as AWS WAF counts them; `block_body` and
    `block_headers` replace that body and add headers, as a rule's CustomResponse does.
    `other_403_path` answers 403 with `other_403_body` as an authorizer would (not a WAF
    block); `injected_path` answers 503 with the fault extension's marker header, as an
    injected error.
    """

    def __init__(
        self,
        *,
        block_after: int | None = None,
        window_s: float = 60.0,
        block_status: int = 403,
        identity_header: str = "X-Forwarded-For",
        other_403_path: str | None = None,
        injected_path: str | None = None,
        block_body: bytes = b'{"message":"Forbidden"}',
        block_headers: tuple[tuple[str, str], ...] = (),
        other_403_body: bytes = b'{"message":"User is not authorized to access this"}',
    ) -> None:
        self.other_403_path = other_403_path
        self.block_body = block_body
        self.block_headers = block_headers
        self.other_403_body = other_403_body
        self.injected_path = injected_path
        self.other_403 = 0
        self.injected = 0
        self.block_after = block_after
        self.window_s = window_s
        self.block_status = block_status
        self.identity_header = identity_header
        self.lock = threading.Lock()
        self.total = 0
        self.blocked = 0
        self.by_identity: dict[str, int] = defaultdict(int)
        self.blocked_by_identity: dict[str, int] = defaultdict(int)
        self._recent: dict[str, deque[float]] = defaultdict(deque)
        self.server = _QuietServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> LocalTarget:
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def settled_total(self, quiet_s: float = 0.3, within_s: float = 5.0) -> int:
        """The request count once no request has arrived for `quiet_s` (at most `within_s`):
        requests a dead client sent before it died may still sit in this server's socket
        buffers, and are counted when a handler thread reads them (later on a busy
        machine)."""
        deadline = time.monotonic() + within_s
        seen = self.total
        while time.monotonic() < deadline:
            time.sleep(quiet_s)
            if self.total == seen:
                break
            seen = self.total
        return seen

    def answer(self, identity: str) -> int:
        now = time.monotonic()
        with self.lock:
            self.total += 1
            self.by_identity[identity] += 1
            if self.block_after is None:
                return 200
            recent = self._recent[identity]
            recent.append(now)
            while recent and recent[0] <= now - self.window_s:
                recent.popleft()
            if len(recent) > self.block_after:
                self.blocked += 1
                self.blocked_by_identity[identity] += 1
                return self.block_status
            return 200

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _respond(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                status = target.answer(self.headers.get(target.identity_header, "-"))
                path = self.path.split("?", 1)[0]
                extra: list[tuple[str, str]] = []
                if status == target.block_status and target.block_after is not None:
                    body = target.block_body
                    extra.extend(target.block_headers)
                elif path == target.other_403_path:
                    status, body = 403, target.other_403_body
                    with target.lock:
                        target.other_403 += 1
                elif path == target.injected_path and self.command == "GET":
                    status, body = 503, b'{"message":"injected by gameday-chaos"}'
                    extra.append(("X-Gameday-Chaos-Fault", "error"))
                    with target.lock:
                        target.injected += 1
                elif status == 200 and self.command == "POST":
                    status, body = 201, b'{"id":"o-1"}'
                else:
                    body = json.dumps({"ok": status < 400}).encode()
                self.send_response(status)
                for name, value in extra:
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _respond  # noqa: N815

            def log_message(self, *_: Any) -> None:
                pass

        return Handler
