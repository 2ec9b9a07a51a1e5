"""A stand-in orchestrator for tests: starts a LoadDriver, prints its Locust pids, sleeps.

    python tests/load/load_owner.py URL RUN_DIR WORKERS [--untied]

The test kills this process (SIGKILL: no cleanup of any kind runs) and checks that the
Locust processes it started die with it. ``--untied`` starts them without the parent-death
signal, leaving the plugin's watchdog alone to stop them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from chaos.experiment.model import Load  # noqa: E402
from chaos.load import driver as driver_module  # noqa: E402

LOCUSTFILE = str(ROOT / "loadtests" / "orders.py")
LIFETIME_S = 60.0  # the test kills it long before; bounded in case the test dies first


class UntiedProcesses:
    """Plain children: no PR_SET_PDEATHSIG, only the plugin's watchdog can stop them."""

    def start(
        self,
        command: list[str],
        *,
        env: dict[str, str],
        output: IO[bytes] | int | None,
        new_session: bool = True,
    ) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=new_session,
        )

    def close(self) -> None:
        pass


def main() -> None:
    url, run_dir, workers = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    if "--untied" in sys.argv:
        driver_module.TiedProcesses = UntiedProcesses  # type: ignore[misc, assignment]
    load = Load(locustfile=LOCUSTFILE, users=4, spawn_rate=40.0, workers=workers)
    driver = driver_module.LoadDriver(load, host=url, run_dir=run_dir, max_run_time_s=LIFETIME_S)
    driver.start()
    pids = {locust.role: locust.process.pid for locust in driver.processes}
    print(json.dumps({"owner": os.getpid(), "locust": pids}), flush=True)
    time.sleep(LIFETIME_S)
    driver.stop()


if __name__ == "__main__":
    main()
