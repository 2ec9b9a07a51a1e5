"""Memory of the orchestrator over a long run: a synthetic hour through the real path.

Pushes a one-hour run (3,600 s, 200 rows a second across 100 WAF identities and
5 endpoints, each row a JSON line with its encoded latency histogram, as the Locust
master writes them) through what `gameday run` does with rows: `SecondRow.from_json`,
the streaming aggregation (chaos.metrics.aggregate.RunAggregator), then the result
assembly (chaos.result.assemble.assemble_result: phases, timeline, WAF SLIs, SLOs) and every
report (result.json, junit.xml, report.md, report.html).

    python bench/orchestrator_memory.py [--seconds 3600] [--rows-per-second 200]
    python bench/orchestrator_memory.py --short   # CI: 60 s of 20 rows, same lines, no target

prints ``peak_rss_mb=… rss_growth_mb_per_hour=… assemble_s=…`` (targets: peak <= 300 MB,
growth <= 50 MB per simulated hour, assembly <= 10 s), then exits 1 with one line per
missed target when any is missed. Growth is measured between the end of the first
simulated tenth of the run and its end, and scaled to an hour. ``--short`` (seconds)
checks that the bench runs through every step and prints its lines; a minute of rows says
nothing about an hour's memory, so it judges no target.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chaos.clock import iso_from_epoch  # noqa: E402
from chaos.experiment import load_experiment  # noqa: E402
from chaos.load.waf import RateRule  # noqa: E402
from chaos.load.waf_traffic import WafTrafficPlan  # noqa: E402
from chaos.metrics.aggregate import RunAggregator  # noqa: E402
from chaos.metrics.histogram import LatencyHistogram  # noqa: E402
from chaos.metrics.rows import SecondRow  # noqa: E402
from chaos.report import write_reports  # noqa: E402
from chaos.result.assemble import LoadRecord, RunRecord, assemble_result  # noqa: E402
from tests.waf_rules import forwarded_ip_rule, waf_plan  # noqa: E402

START = 1_800_000_000
#: The issue's targets: (figure, its limit, unit).
TARGETS = (
    ("peak_rss_mb", 300.0, "MB"),
    ("rss_growth_mb_per_hour", 50.0, "MB per hour"),
    ("assemble_s", 10.0, "s"),
)
ENDPOINTS = ("GET /orders", "GET /orders/{id}", "POST /orders", "GET /health", "GET /users")
IDENTITIES = 100
ABUSIVE = 10
EXPERIMENT = """\
version: 1
kind: experiment
name: bench-one-hour
target: {region: us-east-1, endpoint: sandbox}
phases: {baseline: 15m, fault: 30m, recovery: 15m}
max_duration: 70m
faults: []
load: {locustfile: loadtests/orders.py, users: 50, spawn_rate: 10}
slo:
  - {sli: availability, phase: fault, objective: ">= 99%"}
  - {sli: latency_p99_ms, phase: [fault, recovery], objective: "< 1500"}
  - {sli: waf_legit_blocked, objective: "== 0"}
"""


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def encoded_histograms(rng: random.Random, count: int) -> list[str]:
    """A pool of realistic row histograms (1-6 requests each, 5 ms to 2 s)."""
    pool = []
    for _ in range(count):
        histogram = LatencyHistogram()
        for _ in range(rng.randint(1, 6)):
            histogram.record(rng.lognormvariate(3.5, 0.9))
        pool.append(histogram.encode())
    return pool


def row_lines(second: int, per_second: int, rng: random.Random, pool: list[str]) -> list[str]:
    """One second of rows as the Locust master writes them (JSON lines)."""
    lines = []
    for index in range(per_second):
        identity = (second * per_second + index) % IDENTITIES
        traffic = "abusive" if identity < ABUSIVE else "legit"
        requests = rng.randint(1, 6)
        blocked = requests if traffic == "abusive" and rng.random() < 0.5 else 0
        lines.append(
            json.dumps(
                {
                    "second": second,
                    "user_class": "OrdersUser" + traffic.capitalize(),
                    "endpoint": ENDPOINTS[index % len(ENDPOINTS)],
                    "traffic": traffic,
                    "identity": f"198.51.100.{identity + 1}",
                    "requests": requests,
                    "failures": int(rng.random() < 0.01),
                    "blocked": blocked,
                    "other_403": 0,
                    "status_classes": {"2xx": requests - blocked, "4xx": blocked},
                    "histogram": rng.choice(pool),
                    "worker": f"worker-{index % 4}",
                },
                separators=(",", ":"),
            )
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--short",
        action="store_true",
        help="60 simulated seconds of 20 rows (CI): the lines, no target judged",
    )
    parser.add_argument("--seconds", type=int, default=None, help="default 3600, short 60")
    parser.add_argument("--rows-per-second", type=int, default=None, help="default 200, short 20")
    arguments = parser.parse_args(argv)
    arguments.seconds = arguments.seconds or (60 if arguments.short else 3600)
    arguments.rows_per_second = arguments.rows_per_second or (20 if arguments.short else 200)
    rng = random.Random(7)
    pool = encoded_histograms(rng, 500)
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "bench.yaml"
        path.write_text(EXPERIMENT)
        experiment = load_experiment(path)
        seconds = arguments.seconds
        aggregator = RunAggregator()
        phase_ends = {"baseline": seconds // 4, "fault": 3 * seconds // 4, "recovery": seconds}
        aggregator.mark("baseline", START)
        warm_rss = None
        started = time.perf_counter()
        for offset in range(seconds):
            if offset == phase_ends["baseline"]:
                aggregator.mark("transition", START + offset)
                aggregator.mark("fault", START + offset + 2.5)
            if offset == phase_ends["fault"]:
                aggregator.mark("transition", START + offset)
                aggregator.mark("recovery", START + offset + 3.5)
            for line in row_lines(START + offset, arguments.rows_per_second, rng, pool):
                aggregator.add(SecondRow.from_json(line))
            if offset == seconds // 10:
                warm_rss = rss_mb()
        aggregator.finish(START + seconds)
        ingest_s = time.perf_counter() - started
        end_rss = rss_mb()
        assembled = time.perf_counter()
        record = RunRecord(
            run_id="bench",
            experiment=experiment,
            experiment_path=path,
            sandbox=True,
            started_at=iso_from_epoch(START),
            ended_at=iso_from_epoch(START + seconds),
            outcome="passed",
            abort_reason=None,
            phase_times=phase_times(phase_ends),
            journal_entries=[],
            load=LoadRecord(aggregator, *waf(), None),
        )
        result = assemble_result(record)
        write_reports(result, Path(scratch) / "reports")
        assemble_s = time.perf_counter() - assembled
    growth = (end_rss - (warm_rss or end_rss)) * 3600 / (seconds - seconds // 10)
    print(
        f"rows={seconds * arguments.rows_per_second} ingest_rows_per_s="
        f"{seconds * arguments.rows_per_second / ingest_s:.0f} timeline_seconds="
        f"{len(result['timeline'])}"
    )
    figures = {
        "peak_rss_mb": peak_rss_mb(),
        "rss_growth_mb_per_hour": growth,
        "assemble_s": assemble_s,
    }
    print(
        f"peak_rss_mb={figures['peak_rss_mb']:.0f} "
        f"rss_growth_mb_per_hour={figures['rss_growth_mb_per_hour']:.1f} "
        f"assemble_s={figures['assemble_s']:.2f}",
        flush=True,
    )
    if arguments.short:
        return 0
    missed = missed_targets(figures)
    for line in missed:
        print(f"target missed: {line}", file=sys.stderr)
    return 1 if missed else 0


def missed_targets(figures: dict[str, float]) -> list[str]:
    """One line per target the figures miss (a missing figure misses its target)."""
    missed = []
    for name, limit, unit in TARGETS:
        value = figures.get(name)
        if value is None:
            missed.append(f"{name} not measured (target <= {limit:g} {unit})")
        elif not value <= limit:
            missed.append(f"{name}={value:.2f} > {limit:g} {unit}")
    return missed


def phase_times(phase_ends: dict[str, int]) -> dict[str, dict[str, str]]:
    times, start = {}, 0
    for name, end in phase_ends.items():
        times[name] = {
            "started_at": iso_from_epoch(START + start),
            "ended_at": iso_from_epoch(START + end),
        }
        start = end
    return times


def waf() -> tuple[RateRule, WafTrafficPlan]:
    rule = forwarded_ip_rule(limit=100, window_s=60)
    return rule, waf_plan(rule, abusive=ABUSIVE, legit=IDENTITIES - ABUSIVE, workers=4)


if __name__ == "__main__":
    raise SystemExit(main())
