"""Max request rate of one local Locust process against the local test target.

    python bench/load_throughput.py [seconds]

Runs the same no-wait locustfile twice against tests/load/local_target.py (a threaded
stdlib HTTP server on 127.0.0.1): through LoadDriver (our plugin streaming rows) and through
plain `locust --headless`. Prints the steady rates (server-counted) and their ratio.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chaos.experiment.model import Load  # noqa: E402
from chaos.load.driver import LoadDriver, merge_rows  # noqa: E402
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


def through_driver(locustfile: Path, seconds: int, run_dir: Path) -> float:
    with LocalTarget() as target:
        driver = LoadDriver(Load(locustfile=str(locustfile), users=USERS, spawn_rate=1000.0),
                            host=target.url, run_dir=run_dir, max_run_time_s=seconds)
        driver.start()
        driver.wait(timeout_s=seconds + 30)
    per_second: dict[int, int] = {}
    for row in merge_rows(driver.rows):
        per_second[row.second] = per_second.get(row.second, 0) + row.requests
    steady = sorted(per_second)[1:-1]  # drop the partial first and last seconds
    return sum(per_second[second] for second in steady) / max(len(steady), 1)


def plain_locust(locustfile: Path, seconds: int) -> float:
    with LocalTarget() as target:
        process = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless",
             "--only-summary", "--host", target.url, "-u", str(USERS), "-r", "1000",
             "--run-time", f"{seconds}s"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        samples = []
        for _ in range(seconds * 10 + 300):  # bounded poll, 0.1 s apart
            if process.poll() is not None:
                break
            samples.append((time.monotonic(), target.total))
            time.sleep(0.1)
        process.wait(timeout=30)
    # the rate between the 2nd and the second-to-last second of sampling
    (t0, n0), (t1, n1) = samples[10], samples[-10]
    return (n1 - n0) / (t1 - t0)


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 6
    with tempfile.TemporaryDirectory() as folder:
        locustfile = Path(folder) / "hammer.py"
        locustfile.write_text(LOCUSTFILE)
        ours = through_driver(locustfile, seconds, Path(folder) / "run")
        plain = plain_locust(locustfile, seconds)
    print(f"gameday_rps={ours:.0f} plain_locust_rps={plain:.0f} ratio_vs_locust={ours / plain:.2f}")


if __name__ == "__main__":
    main()
