"""What an error response shows: the rate rule's block, another 403, an injected fault.

Kept free of Locust: the plugin classifies every error response with it, and tests (and
the orchestrator) import it without Locust's gevent monkey-patching.
"""

from __future__ import annotations

from typing import Any

from chaos.load.collector import INJECTED, OTHER_403, WAF_BLOCK
from chaos.load.process_config import LoadPlan

__all__ = ["MARKER_HEADER", "WAF_FORBIDDEN_BODY", "ResponseSigns"]

# The fault extension marks the responses it replaces (gameday_chaos.engine).
MARKER_HEADER = "x-gameday-chaos-fault"
# API Gateway's answer when its web ACL blocks a request without a custom response.
WAF_FORBIDDEN_BODY = b'{"message":"Forbidden"}'


class ResponseSigns:
    """The flags (chaos.load.collector) of one error response.

    A block counts only when it is recognisably the rate rule's: its CustomResponse
    (status, and its header when it defines one), else API Gateway's 403 with the body
    {"message":"Forbidden"} that a WAF block gets. Authorizers, resource policies and a
    missing route answer 403 with other bodies: those are `other_403`.
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
        flags = INJECTED if headers.get(MARKER_HEADER) else 0
        if status == self.block_status and self._is_block(headers, response):
            return flags | WAF_BLOCK
        return flags | OTHER_403 if status == 403 else flags

    def _is_block(self, headers: Any, response: Any) -> bool:
        if self.block_header is not None:
            return bool(headers.get(self.block_header))
        if self.custom_response:
            return True
        body = getattr(response, "content", None) or b""
        return body.replace(b" ", b"").strip() == WAF_FORBIDDEN_BODY
