"""moto's threaded server with the sandbox's WSGI middlewares around its app.

:class:`ThreadedMotoServer` builds its WSGI app (``DomainDispatcherApplication``) inside
its server thread; :class:`SandboxMotoServer` builds the same app, wraps it in the given
middlewares (first = outermost) and serves it the same way.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

from chaos.sandbox.wsgi import Middleware, WsgiApp, signing_service

log = logging.getLogger(__name__)

READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SandboxMotoServer(ThreadedMotoServer):
    def __init__(
        self, middlewares: list[Middleware], ip_address: str = "127.0.0.1", port: int = 0
    ) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self.middlewares = list(middlewares)

    def _server_entry(self) -> None:
        app: WsgiApp = DomainDispatcherApplication(create_backend_app)
        for middleware in reversed(self.middlewares):
            app = middleware(app)
        self._server = make_server(
            self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


class FollowWrites:
    """After every call that may change what the data plane follows, run ``callback``
    before the response leaves: a change is in force when its API call returns (the
    data plane does not wait for its next poll)."""

    def __init__(
        self, app: WsgiApp, callback: Callable[[], None], services: frozenset[str]
    ) -> None:
        self.app = app
        self.callback = callback
        self.services = services

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        response = self.app(environ, start_response)
        if (
            str(environ.get("REQUEST_METHOD") or "GET").upper() not in READ_ONLY_METHODS
            and signing_service(environ) in self.services
        ):
            try:
                self.callback()
            except Exception:  # noqa: BLE001 - the API call itself succeeded
                log.warning("following a write failed", exc_info=True)
        return response


_CONDITIONAL_WRITES = threading.Lock()


def serialize_conditional_writes(app: WsgiApp) -> WsgiApp:
    """S3 writes with If-None-Match / If-Match take effect one at a time, as in S3.

    moto checks the condition and then writes without a lock: two racing
    `If-None-Match: *` writes of one key could both succeed, which S3 never allows (it
    answers 412, or 409 ConditionalRequestConflict, to all but one). The journal relies
    on that refusal; the sandbox must not hide a race from it.
    """

    def serialized(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        conditional = environ.get("REQUEST_METHOD") == "PUT" and (
            "HTTP_IF_NONE_MATCH" in environ or "HTTP_IF_MATCH" in environ
        )
        if not conditional:
            return app(environ, start_response)
        with _CONDITIONAL_WRITES:
            return list(app(environ, start_response))

    return serialized


def expected_bucket_owner(account_id: str) -> Middleware:
    """S3 requests naming another ExpectedBucketOwner are refused 403 AccessDenied, as S3
    does: "If the actual bucket owner doesn't match the expected bucket owner, the request
    fails" ("Verifying bucket ownership with bucket owner condition", https://
    docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-owner-condition.html). Every bucket
    of the sandbox is its one account's; moto ignores the header."""

    def middleware(app: WsgiApp) -> WsgiApp:
        def checked(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            expected = environ.get("HTTP_X_AMZ_EXPECTED_BUCKET_OWNER")
            if expected is None or expected == account_id or signing_service(environ) != "s3":
                return app(environ, start_response)
            body = (
                b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code>'
                b"<Message>Access Denied</Message></Error>"
            )
            start_response(
                "403 Forbidden",
                [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
            )
            return [body]

        return checked

    return middleware
