"""API Gateway's Lambda custom integration (``type: AWS``, non-proxy), as AWS documents it.

Request ("Method request behavior for payloads without mapping templates",
https://docs.aws.amazon.com/apigateway/latest/developerguide/integration-passthrough-behaviors.html):
a request whose Content-Type (``application/json`` when absent) has a mapping template is
transformed by it; otherwise ``WHEN_NO_MATCH`` passes the body through untransformed,
``WHEN_NO_TEMPLATES`` passes it through only when the integration has no template at all,
and ``NEVER`` refuses it, both refusals with 415 Unsupported Media Type.

Response ("Handle Lambda errors in API Gateway", https://docs.aws.amazon.com/apigateway/
latest/developerguide/handle-errors-in-lambda-integration.html): the function's result goes
to the *default* integration response (the one without a selection pattern) and, with no
response template, is the response body as it is: "Lambda errors are returned as 200 OK
responses by default". A function error's ``errorMessage`` is matched against each
integration response's ``selectionPattern`` (a Java regex matching the whole message); no
match falls back to the default response; no default response, or a status code the method
does not declare as a method response, is an invalid configuration (500).

Mapping templates (Velocity) are not evaluated here: a request or response that would go
through a non-empty template is answered 500 and logged, never mapped wrongly.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

from chaos.sandbox.apigateway.routing import IntegrationResponseSpec, IntegrationSpec

log = logging.getLogger(__name__)

DEFAULT_CONTENT_TYPE = "application/json"
PASSTHROUGH_WHEN_NO_MATCH = "WHEN_NO_MATCH"
PASSTHROUGH_WHEN_NO_TEMPLATES = "WHEN_NO_TEMPLATES"
EMPTY_EVENT = b"{}"  # what Lambda hands a function invoked without a payload


class IntegrationFailure(Exception):
    """API Gateway cannot map this request or response: an HTTP error for the client."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class MappedResponse:
    status: int
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()


def request_payload(integration: IntegrationSpec, content_type: str | None, body: bytes) -> bytes:
    """The Lambda invocation payload for a method request; raises IntegrationFailure."""
    media_type = _media_type(content_type)
    templates = {key.lower(): value for key, value in integration.request_templates.items()}
    if media_type in templates:
        if templates[media_type]:
            raise IntegrationFailure(
                500,
                f"request mapping template for {media_type} "
                "(the sandbox does not evaluate mapping templates)",
            )
        return _passthrough(body)
    behavior = (integration.passthrough_behavior or PASSTHROUGH_WHEN_NO_MATCH).upper()
    passes = behavior == PASSTHROUGH_WHEN_NO_MATCH or (
        behavior == PASSTHROUGH_WHEN_NO_TEMPLATES and not templates
    )
    if not passes:
        raise IntegrationFailure(
            415, f"no mapping template for {media_type} and passthroughBehavior {behavior}"
        )
    return _passthrough(body)


def _passthrough(body: bytes) -> bytes:
    if not body:
        return EMPTY_EVENT
    try:
        json.loads(body)
    except ValueError:
        # Lambda refuses a payload that is not JSON (InvalidRequestContentException), which
        # API Gateway turns into an integration failure.
        raise IntegrationFailure(500, "the passed-through body is not JSON") from None
    return body


def map_response(
    integration: IntegrationSpec,
    method_status_codes: frozenset[str],
    payload: bytes,
    function_error: str | None,
) -> MappedResponse:
    """The method response for the function's result or error; raises IntegrationFailure."""
    chosen = _select(integration.responses, _error_message(payload) if function_error else None)
    if chosen is None:
        raise IntegrationFailure(
            500, "no match for output mapping and no default output mapping configured"
        )
    if method_status_codes and chosen.status_code not in method_status_codes:
        raise IntegrationFailure(
            500, f"integration response {chosen.status_code} has no method response"
        )
    if any(template for template in chosen.response_templates.values()):
        raise IntegrationFailure(
            500, "response mapping template (the sandbox does not evaluate mapping templates)"
        )
    try:
        status = int(chosen.status_code)
    except ValueError:
        raise IntegrationFailure(500, f"status code {chosen.status_code!r}") from None
    return MappedResponse(status, payload, _static_headers(chosen.response_parameters))


def _select(
    responses: tuple[IntegrationResponseSpec, ...], error_message: str | None
) -> IntegrationResponseSpec | None:
    default = next((r for r in responses if not r.selection_pattern), None)
    if error_message is None:
        return default
    for response in responses:
        if response.selection_pattern and _matches(response.selection_pattern, error_message):
            return response
    return default


def _matches(pattern: str, message: str) -> bool:
    try:
        return re.fullmatch(pattern, message) is not None
    except re.error:
        log.warning("selectionPattern %r is not a regular expression Python understands", pattern)
        return False


def _error_message(payload: bytes) -> str:
    try:
        document = json.loads(payload)
    except ValueError:
        return payload.decode("utf-8", "replace")
    message = document.get("errorMessage") if isinstance(document, dict) else None
    return message if isinstance(message, str) else ""


def _static_headers(parameters: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """``method.response.header.X: "'literal'"`` mappings (the only kind mapped here)."""
    prefix = "method.response.header."
    headers = []
    for destination, source in parameters.items():
        if destination.startswith(prefix) and len(source) >= 2 and source[0] == source[-1] == "'":
            headers.append((destination[len(prefix) :], source[1:-1]))
        elif destination.startswith(prefix):
            log.info(
                "response parameter %s <- %s is not mapped by the sandbox", destination, source
            )
    return tuple(headers)


def _media_type(content_type: str | None) -> str:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type or DEFAULT_CONTENT_TYPE
