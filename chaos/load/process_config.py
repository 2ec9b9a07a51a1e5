"""What the Locust processes of a run are told: the run's load plan and their local settings.

Two pieces, because they travel differently:

- `LoadPlan` (how many workers, the WAF traffic plan) is the same for every Locust process
  of the run, on any machine. It is a Locust custom option, ``--gameday-plan`` (the driver
  sets it through the ``GAMEDAY_LOAD_PLAN`` environment variable). Locust forwards custom
  options from the master to every worker with the first spawn message, before any user
  starts, so a `gameday load worker` on another machine receives it with nothing to copy.
- `ProcessConfig` (where to write rows, the orchestrator's pid to watch) belongs to the
  processes the driver starts on the orchestrator's machine: ``GAMEDAY_LOAD_PROCESS``.
  A remote worker has none.

Kept free of Locust and boto3 imports: the orchestrator and the Locust processes import it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from chaos.load.waf_traffic import WafTrafficPlan

PLAN_ENV = "GAMEDAY_LOAD_PLAN"
PLAN_OPTION = "--gameday-plan"
PROCESS_ENV = "GAMEDAY_LOAD_PROCESS"
# Custom Locust messages between our plugin on the master and on the workers.
ROWS_MESSAGE = "gameday_rows"
STOP_ABUSIVE_MESSAGE = "gameday_stop_abusive"


@dataclass(frozen=True)
class LoadPlan:
    """The run's load as every Locust process of it must see it, wherever it runs."""

    # Every worker the master waits for (local and remote): WAF identities are spread over
    # all of them by Locust's worker index, so they stay distinct run-wide.
    workers: int = 0
    waf: WafTrafficPlan | None = None

    def to_json(self) -> str:
        return json.dumps(
            {"workers": self.workers, "waf": self.waf.to_dict() if self.waf else None}
        )

    @classmethod
    def from_json(cls, text: str | None) -> LoadPlan:
        if not text:
            return cls()
        raw: dict[str, Any] = json.loads(text)
        waf = WafTrafficPlan.from_dict(raw["waf"]) if raw.get("waf") else None
        return cls(workers=int(raw.get("workers", 0)), waf=waf)


@dataclass(frozen=True)
class ProcessConfig:
    """One local Locust process's settings, from the driver on the orchestrator's machine."""

    rows_path: str | None = None  # where the master (or the single process) appends rows
    spawned_path: str | None = None  # touched once every user has been spawned
    connected_path: str | None = None  # the master writes how many workers connected
    # The process that owns the load: when it is gone, this Locust process stops.
    orchestrator_pid: int | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "rows_path": self.rows_path,
                "spawned_path": self.spawned_path,
                "connected_path": self.connected_path,
                "orchestrator_pid": self.orchestrator_pid,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ProcessConfig:
        raw: dict[str, Any] = json.loads(text)
        pid = raw.get("orchestrator_pid")
        return cls(
            rows_path=raw.get("rows_path"),
            spawned_path=raw.get("spawned_path"),
            connected_path=raw.get("connected_path"),
            orchestrator_pid=int(pid) if pid else None,
        )

    @classmethod
    def from_environment(cls) -> ProcessConfig:
        text = os.environ.get(PROCESS_ENV)
        return cls.from_json(text) if text else cls()
