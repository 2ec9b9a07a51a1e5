"""Per-second load rows: what Locust workers stream to the orchestrator.

One row per (second, user class, endpoint, traffic kind, WAF identity). Phase SLIs,
the timeline and the WAF SLIs are all computed from these rows, so a phase's SLIs
come from exactly its seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from chaos.metrics.histogram import LatencyHistogram

# normal: ordinary load; legit / abusive: WAF clients below / above the rate limit.
Traffic = Literal["normal", "legit", "abusive"]
TRAFFIC_KINDS: tuple[Traffic, ...] = get_args(Traffic)
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "error")


@dataclass
class SecondRow:
    second: int  # epoch second (UTC) in which the requests completed
    user_class: str
    endpoint: str  # Locust request name, e.g. "GET /orders"
    traffic: Traffic = "normal"
    identity: str | None = None  # the WAF aggregation identity (e.g. forwarded IP)
    requests: int = 0
    # Requests that count against availability: 5xx, connection errors, timeouts, a 429
    # that is not the WAF's block, and a WAF block of a non-abusive client. A block of an
    # abusive client is expected.
    failures: int = 0
    blocked: int = 0  # responses recognisably the WAF rate rule's block
    other_403: int = 0  # 403s that were not the rate rule's (authorizers, policies, other rules)
    injected: int = 0  # responses carrying the fault extension's marker header
    status_classes: dict[str, int] = field(default_factory=dict)
    histogram: LatencyHistogram = field(default_factory=LatencyHistogram)
    # The Locust process that measured the row (e.g. "host-1234-0"); not part of the key:
    # rows of the same second from several workers merge.
    worker: str | None = None

    def key(self) -> tuple[int, str, str, str, str | None]:
        return (self.second, self.user_class, self.endpoint, self.traffic, self.identity)

    def merge(self, other: SecondRow) -> SecondRow:
        """Add `other` (same key) into this row; returns self."""
        self.requests += other.requests
        self.failures += other.failures
        self.blocked += other.blocked
        self.other_403 += other.other_403
        self.injected += other.injected
        for name, count in other.status_classes.items():
            self.status_classes[name] = self.status_classes.get(name, 0) + count
        self.histogram.merge(other.histogram)
        return self

    def to_json(self) -> str:
        return json.dumps(
            {
                "second": self.second,
                "user_class": self.user_class,
                "endpoint": self.endpoint,
                "traffic": self.traffic,
                "identity": self.identity,
                "requests": self.requests,
                "failures": self.failures,
                "blocked": self.blocked,
                "other_403": self.other_403,
                "injected": self.injected,
                "status_classes": self.status_classes,
                "histogram": self.histogram.encode(),
                "worker": self.worker,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> SecondRow:
        raw: dict[str, Any] = json.loads(text)
        raw["histogram"] = LatencyHistogram.decode(raw.get("histogram", ""))
        return cls(**raw)
