"""How much of Locust's own request rate survives our driver, and what 2 workers add.

    python bench/load_efficiency.py [--rounds N] [--seconds S] [--users U] [--no-workers2]
    python bench/load_efficiency.py --short   # CI: one 1 s round, same lines, no target

The target is a fast asyncio HTTP/1.1 keep-alive server in its own process
(tests/load/fast_target.py), several times faster than one Locust process, so Locust is
the bottleneck and our per-request cost shows. Alternating rounds, each measuring S
steady seconds (after a warm-up) of the same no-wait FastHttpUser locustfile:
  plain   `python -m locust --headless` (no plugin),
  driver  `LoadDriver` with workers: 0 (our plugin, per-second rows streamed back),
and once at the end the driver with workers: 2 (a master and two local workers).
Rates are counted by the target. Because other processes on a shared machine take CPU
from Locust unevenly, each run also reports requests per CPU-second of its Locust process
(the per-request cost, whatever CPU it got); where the OS allows, Locust and the target
are pinned to different cores. Printed: every round, then the medians:
    plain_rps=… driver_rps=… ratio_vs_locust=…
    plain_rps_per_cpu=… driver_rps_per_cpu=… ratio_per_cpu=…
    workers2_rps=… workers2_vs_1=…
Target: ratio_per_cpu >= 0.98 (the driver keeps 98% of Locust's requests per CPU-second;
the plugin's per-request work is the cost). Missed, the bench exits 1 after printing its
figures, with one line saying so. ``--short`` (seconds) checks that the bench runs and
prints its lines; one second says nothing about the ratio, so it judges no target.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chaos.experiment.model import Load  # noqa: E402
from chaos.load.driver import LoadDriver, with_chaos_importable  # noqa: E402
from chaos.load.processes import TiedProcesses  # noqa: E402
from tests.load.fast_target import FastTarget  # noqa: E402

LOCUSTFILE = """
from locust import task
from chaos.load.users import GamedayUser

class Hammer(GamedayUser):
    @task
    def health(self):
        self.client.get("/health")
"""
WARM_UP_S = 2.0
TARGET_RATIO_PER_CPU = 0.98
SPAWN_RATE = 1000.0


@dataclass(frozen=True)
class Measured:
    rps: float  # counted by the target
    cpu: float  # CPU-seconds per second used by the Locust process(es)

    @property
    def rps_per_cpu(self) -> float:
        return self.rps / self.cpu if self.cpu else 0.0


def pin(pid: int, cpu: int) -> None:
    """Keep `pid` on one core, where the OS allows it (Linux, 2+ cores)."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(pid, {cpu})


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


def measure(target: FastTarget, locust_pids: list[int], seconds: float) -> Measured:
    time.sleep(WARM_UP_S)
    served0, cpu0, t0 = target.served(), cpu_seconds(locust_pids), time.monotonic()
    time.sleep(seconds)
    served1, cpu1, t1 = target.served(), cpu_seconds(locust_pids), time.monotonic()
    return Measured((served1 - served0) / (t1 - t0), (cpu1 - cpu0) / (t1 - t0))


@contextmanager
def pinned_target() -> Iterator[FastTarget]:
    with FastTarget() as target:
        pin(target.pid, (os.cpu_count() or 1) - 1)
        yield target


def plain_locust(locustfile: Path, users: int, seconds: float) -> Measured:
    tied = TiedProcesses()  # dies with this script, as the driver's processes do
    with pinned_target() as target:
        process = tied.start(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(locustfile),
                "--headless",
                "--only-summary",
                "--host",
                target.url,
                "-u",
                str(users),
                "-r",
                f"{SPAWN_RATE:g}",
                "--run-time",
                f"{int(WARM_UP_S + seconds + 30)}s",
            ],
            env=with_chaos_importable(dict(os.environ)),
            output=subprocess.DEVNULL,
        )
        try:
            pin(process.pid, 0)
            return measure(target, [process.pid], seconds)
        finally:
            process.terminate()
            process.wait(timeout=30)
            tied.close()


def through_driver(locustfile: Path, users: int, seconds: float, workers: int) -> Measured:
    with pinned_target() as target, tempfile.TemporaryDirectory() as run_dir:
        load = Load(locustfile=str(locustfile), users=users, spawn_rate=SPAWN_RATE, workers=workers)
        driver = LoadDriver(
            load, host=target.url, run_dir=Path(run_dir), max_run_time_s=WARM_UP_S + seconds + 30
        )
        driver.start()
        try:
            pids = [locust.process.pid for locust in driver.processes]
            if not workers:
                pin(pids[0], 0)
            return measure(target, pids, seconds)
        finally:
            driver.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--short", action="store_true", help="one round of 1 s (CI): the lines, no target judged"
    )
    parser.add_argument("--rounds", type=int, default=None, help="default 5, short 1")
    parser.add_argument("--seconds", type=float, default=None, help="default 8, short 1")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--no-workers2", action="store_true")
    arguments = parser.parse_args(argv)
    arguments.rounds = arguments.rounds or (1 if arguments.short else 5)
    arguments.seconds = arguments.seconds or (1.0 if arguments.short else 8.0)
    plain_runs: list[Measured] = []
    driver_runs: list[Measured] = []
    with tempfile.TemporaryDirectory() as folder:
        locustfile = Path(folder) / "hammer.py"
        locustfile.write_text(LOCUSTFILE)
        for round_number in range(1, arguments.rounds + 1):
            plain = plain_locust(locustfile, arguments.users, arguments.seconds)
            ours = through_driver(locustfile, arguments.users, arguments.seconds, workers=0)
            plain_runs.append(plain)
            driver_runs.append(ours)
            print(
                f"round {round_number}: plain_rps={plain.rps:.0f} (cpu {plain.cpu:.2f}) "
                f"driver_rps={ours.rps:.0f} (cpu {ours.cpu:.2f}) "
                f"ratio_vs_locust={ours.rps / plain.rps:.3f} "
                f"ratio_per_cpu={ours.rps_per_cpu / plain.rps_per_cpu:.3f}",
                flush=True,
            )
        two = (
            None
            if arguments.no_workers2
            else through_driver(locustfile, arguments.users, arguments.seconds, workers=2)
        )
    plain_rps = statistics.median(run.rps for run in plain_runs)
    driver_rps = statistics.median(run.rps for run in driver_runs)
    plain_per_cpu = statistics.median(run.rps_per_cpu for run in plain_runs)
    driver_per_cpu = statistics.median(run.rps_per_cpu for run in driver_runs)
    print(
        f"median of {arguments.rounds} rounds, {arguments.seconds:g}s each, "
        f"{arguments.users} users, {os.cpu_count()} cores:"
    )
    print(
        f"plain_rps={plain_rps:.0f} driver_rps={driver_rps:.0f} "
        f"ratio_vs_locust={driver_rps / plain_rps:.3f}"
    )
    print(
        f"plain_rps_per_cpu={plain_per_cpu:.0f} driver_rps_per_cpu={driver_per_cpu:.0f} "
        f"ratio_per_cpu={driver_per_cpu / plain_per_cpu:.3f}"
    )
    if two is not None:
        print(f"workers2_rps={two.rps:.0f} workers2_vs_1={two.rps / driver_rps:.2f}")
    sys.stdout.flush()
    if arguments.short:
        return 0
    missed = missed_target(driver_per_cpu / plain_per_cpu if plain_per_cpu else None)
    if missed:
        print(f"target missed: {missed}", file=sys.stderr)
        return 1
    return 0


def missed_target(ratio_per_cpu: float | None) -> str | None:
    """What is wrong with `ratio_per_cpu`, or None when it meets TARGET_RATIO_PER_CPU."""
    if ratio_per_cpu is None:
        return "ratio_per_cpu not measured (plain Locust served nothing)"
    if ratio_per_cpu < TARGET_RATIO_PER_CPU:
        return f"ratio_per_cpu={ratio_per_cpu:.3f} < {TARGET_RATIO_PER_CPU}"
    return None


if __name__ == "__main__":
    raise SystemExit(main())
