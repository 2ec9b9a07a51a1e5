"""How much of Locust's request rate survives our driver, and what 2 workers add.

    python bench/load_efficiency.py [seconds]

In one run, the same no-wait locustfile against the same local target (a threaded
stdlib HTTP server on 127.0.0.1, tests/load/local_target.py), each for `seconds`:
  1. plain `locust --headless` (one process),
  2. `gameday`'s LoadDriver, workers: 0 (our plugin streaming per-second rows),
  3. `gameday`'s LoadDriver, workers: 2 (a master and two local worker processes).
Every rate is counted by the server, over the steady middle of the run. The last line:
    ratio_vs_locust=<2 / 1> workers2_vs_1=<3 / 2>
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chaos.experiment.model import Load  # noqa: E402
from chaos.load.driver import LoadDriver  # noqa: E402
from tests.load.local_target import LocalTarget  # noqa: E402

LOCUSTFILE = '''
from locust import task
from chaos.load.users import GamedayUser

class Hammer(GamedayUser):
    @task
    def health(self):
        self.client.get("/health")
'''
USERS = 20
SAMPLE_S = 0.1


def server_rate(seconds: int, drive: Callable[[str], Callable[[], None]]) -> float:
    """Start load with `drive(url)` (returns a stopper); the server-counted steady req/s."""
    with LocalTarget() as target:
        samples: list[tuple[float, int]] = []
        stop = drive(target.url)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:  # bounded by `seconds`
            samples.append((time.monotonic(), target.total))
            time.sleep(SAMPLE_S)
        stop()
    skip = int(1 / SAMPLE_S)  # leave out the first and last second (ramp, shutdown)
    (t0, n0), (t1, n1) = samples[skip], samples[-skip]
    return (n1 - n0) / (t1 - t0)


def plain_locust(locustfile: Path, seconds: int) -> Callable[[str], Callable[[], None]]:
    def drive(url: str) -> Callable[[], None]:
        process = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
             "--only-summary", "--host", url, "-u", str(USERS), "-r", "1000",
             "--run-time", f"{seconds + 5}s"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        return lambda: (process.terminate(), process.wait(timeout=30))  # type: ignore[func-returns-value]
    return drive


def through_driver(locustfile: Path, seconds: int, run_dir: Path,
                   workers: int) -> Callable[[str], Callable[[], None]]:
    def drive(url: str) -> Callable[[], None]:
        load = Load(locustfile=str(locustfile), users=USERS, spawn_rate=1000.0, workers=workers)
        driver = LoadDriver(load, host=url, run_dir=run_dir, max_run_time_s=seconds + 30)
        starter = threading.Thread(target=driver.start)
        starter.start()
        starter.join(timeout=60)
        return driver.stop
    return drive


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    with tempfile.TemporaryDirectory() as folder:
        locustfile = Path(folder) / "hammer.py"
        locustfile.write_text(LOCUSTFILE)
        plain = server_rate(seconds, plain_locust(locustfile, seconds))
        ours = server_rate(seconds, through_driver(locustfile, seconds, Path(folder) / "a", 0))
        two = server_rate(seconds, through_driver(locustfile, seconds, Path(folder) / "b", 2))
    print(f"plain_locust_rps={plain:.0f} gameday_rps={ours:.0f} gameday_workers2_rps={two:.0f}")
    print(f"ratio_vs_locust={ours / plain:.2f} workers2_vs_1={two / ours:.2f}")


if __name__ == "__main__":
    main()
