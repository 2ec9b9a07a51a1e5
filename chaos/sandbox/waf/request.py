"""What the web ACL inspects of a request, and what it decides for it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WebRequest:
    """The parts of an HTTP request that WAF statements inspect."""

    source_ip: str
    method: str
    uri_path: str
    query_string: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    query: tuple[tuple[str, str], ...] = ()

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]

    def query_values(self, name: str) -> list[str]:
        return [value for key, value in self.query if key == name]


@dataclass(frozen=True)
class Verdict:
    """What the web ACL decided for one request."""

    blocked: bool
    rule: str | None = None  # the terminating rule, None for the default action
    metric_name: str = "ALL"  # CloudWatch Rule dimension of the terminating rule
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    counted: tuple[str, ...] = ()  # metric names of the Count rules that matched
