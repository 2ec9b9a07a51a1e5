"""WAF client identities: the header values that make each simulated client its own key.

Addresses come from the documentation ranges (RFC 5737), one /24 per kind of traffic,
so an identity tells its traffic kind at a glance and never reaches a real host.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

POOL_SIZE = 254
ADDRESS_POOLS = {
    "abusive": "203.0.113",
    "legit": "198.51.100",
    "normal": "192.0.2",
}


@dataclass(frozen=True)
class ClientIdentity:
    label: str  # what rows carry as `identity`
    headers: dict[str, str]


@dataclass(frozen=True)
class IdentityScheme:
    """How a client's identity is expressed: a forwarded address, header values, or the host."""

    forwarded_header: str | None = None
    headers: tuple[str, ...] = ()
    host: bool = False

    def describe(self) -> str:
        if self.host:
            return "aggregation IP: one host is one client (this machine's address)"
        parts = []
        if self.forwarded_header:
            pools = ", ".join(f"{kind} {prefix}.0/24" for kind, prefix in ADDRESS_POOLS.items())
            parts.append(f"a distinct address per client in {self.forwarded_header} ({pools})")
        if self.headers:
            parts.append(
                f"a distinct value per client in header(s) {', '.join(self.headers)} "
                "(gameday-<kind>-<n>)"
            )
        return "; ".join(parts)

    def identity(self, traffic: str, index: int) -> ClientIdentity:
        """The identity of client number ``index`` (from 0) of a traffic kind."""
        if self.host:
            return ClientIdentity(f"host:{socket.gethostname()}", {})
        slot = index % POOL_SIZE
        address = f"{ADDRESS_POOLS[traffic]}.{slot + 1}"
        value = f"gameday-{traffic}-{slot}"
        headers = {name: value for name in self.headers}
        if self.forwarded_header:
            headers[self.forwarded_header] = address
        return ClientIdentity(address if self.forwarded_header else value, headers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "forwarded_header": self.forwarded_header,
            "headers": list(self.headers),
            "host": self.host,
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> IdentityScheme:
        return cls(
            forwarded_header=raw.get("forwarded_header"),
            headers=tuple(raw.get("headers", ())),
            host=bool(raw.get("host")),
        )


def client_index(local_index: int, worker_index: int, workers: int) -> int:
    """A run-wide client number from a worker-local one.

    Distinct across every worker of the run, local or remote, while worker indexes (Locust
    numbers workers 0, 1, ... as they connect to the master) stay below `workers`.
    """
    return local_index * max(workers, 1) + max(worker_index, 0)
