"""What an error response shows: the rate rule's block, another 403, an injected fault.

Kept free of Locust: the plugin classifies every error response with it, and tests (and
the orchestrator) import it without Locust's gevent monkey-patching.
"""

from __future__ import annotations

from typing import Any

from chaos.load.collector import INJECTED, OTHER_403, THROTTLED, WAF_BLOCK
from chaos.load.process_config import LoadPlan

__all__ = ["MARKER_HEADER", "WAF_FORBIDDEN_BODY", "ResponseSigns"]

# The fault extension marks the responses it replaces (gameday_chaos.engine).
MARKER_HEADER = "x-gameday-chaos-fault"
# API Gateway's answer when its web ACL blocks a request without a custom response.
WAF_FORBIDDEN_BODY = b'{"message":"Forbidden"}'


class ResponseSigns:
    """The flags (chaos.load.collector) of one error response.

    A block counts only when it is recognisably the rate rule's: its CustomResponse status
    and the header the rule defines, else API Gateway's 403 with the body
    {"message":"Forbidden"} that a WAF block gets. Everything else is what it is: a 429
    without the rule's header is a throttle (API Gateway's own, or a function's error
    response), a response carrying the fault extension's marker came from the function (the
    WAF let that request through), and a 403 with another body (authorizers, resource
    policies, a missing route) is `other_403`.

    A CustomResponse without a header is told apart by its status alone only where nothing
    else answers with that status under load: never a 429 (API Gateway throttles with it)
    nor a 5xx (integration failures, injected errors).
    """

    def __init__(self) -> None:
        self.block_status: int | None = None
        self.custom_response = False
        self.block_header: str | None = None

    def configure(self, plan: LoadPlan) -> None:
        rule = plan.waf.rule if plan.waf else None
        self.block_status = rule.block_status if rule else None
        self.custom_response = bool(rule and rule.custom_response)
        self.block_header = rule.block_header if rule else None

    def flags(self, status: int, response: Any) -> int:
        headers = getattr(response, "headers", None) or {}
        other_403 = OTHER_403 if status == 403 else 0
        if headers.get(MARKER_HEADER):
            return INJECTED | other_403
        if status == self.block_status and self._is_block(status, headers, response):
            return WAF_BLOCK
        return other_403

    def _is_block(self, status: int, headers: Any, response: Any) -> bool:
        if self.block_header is not None:
            return bool(headers.get(self.block_header))
        if self.custom_response:
            return status != THROTTLED and status < 500
        body = getattr(response, "content", None) or b""
        return body.replace(b" ", b"").strip() == WAF_FORBIDDEN_BODY
