"""The WSGI middlewares the sandbox puts in front of moto: the app they wrap, and which
AWS service a signed request is for. A leaf: the process builds the middleware stack, and
a service (API Gateway's GetExport, the throttling) writes its middleware against this."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Middleware = Callable[[WsgiApp], WsgiApp]

# SigV4: "Credential=AKID/20240101/us-east-1/lambda/aws4_request"
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/,\s]+/([^/,\s]+)/aws4_request")


def signing_service(environ: dict[str, Any]) -> str | None:
    """The AWS service a signed request is for (the signing name of its credential scope)."""
    match = _CREDENTIAL_SCOPE.search(str(environ.get("HTTP_AUTHORIZATION") or ""))
    return match.group(1) if match else None
