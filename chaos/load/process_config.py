"""What the driver tells the Locust processes (one JSON environment variable).

Kept free of Locust and boto3 imports: both the orchestrator and the Locust processes
import it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from chaos.load.plan import WafTrafficPlan

PLAN_ENV = "GAMEDAY_LOAD_PLAN"
# Custom Locust messages between our plugin on the master and on the workers.
ROWS_MESSAGE = "gameday_rows"
STOP_ABUSIVE_MESSAGE = "gameday_stop_abusive"


@dataclass(frozen=True)
class ProcessConfig:
    """The run's load settings as every Locust process of it sees them."""

    rows_path: str | None = None  # where the master (or the single process) appends rows
    spawned_path: str | None = None  # touched once every user has been spawned
    workers: int = 0
    waf: WafTrafficPlan | None = None

    def to_json(self) -> str:
        return json.dumps({
            "rows_path": self.rows_path, "spawned_path": self.spawned_path,
            "workers": self.workers, "waf": self.waf.to_dict() if self.waf else None,
        })

    @classmethod
    def from_json(cls, text: str) -> ProcessConfig:
        raw: dict[str, Any] = json.loads(text)
        waf = WafTrafficPlan.from_dict(raw["waf"]) if raw.get("waf") else None
        return cls(rows_path=raw.get("rows_path"), spawned_path=raw.get("spawned_path"),
                   workers=int(raw.get("workers", 0)), waf=waf)

    @classmethod
    def from_environment(cls) -> ProcessConfig:
        text = os.environ.get(PLAN_ENV)
        return cls.from_json(text) if text else cls()
