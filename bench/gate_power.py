"""How often the SLO gate is wrong: false fails and detections, from recorded sandbox runs.

    python bench/gate_power.py            # full: 1,000 gate decisions per case and load
    python bench/gate_power.py --short    # CI: a few dozen decisions, same output format
    python bench/gate_power.py --decisions N --seed S --recordings DIR

Model (see docs/gate.md for the definitions):

- Recordings (bench/recordings/*.json, made by bench/gate_recording.py from runs of
  experiments/sandbox/lambda-faults.yaml) give, per second of each run, the legitimate
  requests, failures and the second's latency histogram.
- A simulated phase of the experiment (baseline 15 s, fault 30 s, recovery 15 s) at a load
  of N requests per phase draws **whole recorded seconds** of that phase (from all recorded
  runs, with replacement) until it holds about N requests, and groups them into the phase's
  seconds (at the recorded load, one recorded second per simulated second; at k times the
  load, k recorded seconds per simulated second — k times the users). Requests are never
  resampled one by one.
- One gate decision = a current run, three earlier passing runs (the `previous` reference)
  and the last run before it (what a team calibrates absolute thresholds on), each
  simulated independently; the current run may carry a synthetic regression. It is a false
  fail when the unchanged service's gate fails, a detection when a regressed service's
  gate fails, counting all checks together.

The load the new objectives need is the smallest tried at which the targets (false fail
<= 1 %, detection >= 99 % for p99 x 2 and availability -1 point) hold beyond the
simulation's own noise (one-sided 95 % Clopper-Pearson bounds over the decisions). The
last line gives the new objectives' figures at that load (or at the largest tried):
    false_fail_rate=X detection_p99x2=Y detection_availability_1pt=Z requests_per_phase=N
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parent))

import gate_recording  # noqa: E402

from chaos.verdict import (  # noqa: E402
    CheckVerdict,
    GateSettings,
    PhaseSample,
    SecondBlock,
    check_percentile_relative,
    check_rate_relative,
    gate_passes,
)

ROOT = Path(__file__).resolve().parents[1]
RECORDINGS = ROOT / "bench" / "recordings" / "lambda-faults"
PHASE_SECONDS = {"baseline": 15, "fault": 30, "recovery": 15}  # lambda-faults.yaml
PHASES = tuple(PHASE_SECONDS)
#: Where the targets below are read: the new objectives' false-fail and detection rates.
TARGET_FALSE_FAIL = 0.01
TARGET_DETECTION = 0.99
#: Loads tried (requests per phase), smallest first; the first that meets every target is
#: the load the new objectives need.
LOADS = (1000, 2000, 3000, 4000, 5000, 6000, 8000)
CASES = ("unchanged", "p99x2", "availability_1pt", "recovery_2x_slower", "availability_1pt_bursts")
SETTINGS = GateSettings()  # confidence 0.95, inconclusive: fail


# --------------------------------------------------------------------------- the pool


@dataclass
class Pool:
    """Every recorded second on one latency grid, indexed by segment."""

    values: np.ndarray
    counts: np.ndarray  # seconds x values
    requests: np.ndarray
    failures: np.ndarray
    by_segment: dict[str, np.ndarray] = field(default_factory=dict)
    unrecovered_seconds: list[int] = field(default_factory=list)  # per recorded run
    recorded_runs: int = 0
    _means: dict[str, float] = field(default_factory=dict)

    def mean_requests(self, segment: str) -> float:
        if segment not in self._means:
            self._means[segment] = float(self.requests[self.by_segment[segment]].mean())
        return self._means[segment]

    def truth(self, segment: str) -> PhaseSample:
        """All recorded seconds of `segment`: the known truth the simulation draws from."""
        rows = self.by_segment[segment]
        return PhaseSample(self.requests[rows], self.failures[rows], self.values, self.counts[rows])


def build_pool(recordings: Sequence[gate_recording.Recording]) -> Pool:
    seconds = [second for recording in recordings for second in recording.seconds]
    values = np.array(sorted({value for second in seconds for value in second.latency_ms}))
    column = {value: index for index, value in enumerate(values.tolist())}
    counts = np.zeros((len(seconds), values.shape[0]), dtype=np.int64)
    for row, second in enumerate(seconds):
        for value, count in second.latency_ms.items():
            counts[row, column[value]] += count
    segments = np.array([second.segment for second in seconds])
    pool = Pool(
        values,
        counts,
        np.array([second.requests for second in seconds], dtype=np.int64),
        np.array([second.failures for second in seconds], dtype=np.int64),
        recorded_runs=len(recordings),
    )
    for name in PHASES:
        pool.by_segment[name] = np.flatnonzero(segments == name)
    unrecovered: list[int] = []
    offset = 0
    for recording in recordings:
        labels = [second.segment for second in recording.seconds]
        last_fault = max(index for index, label in enumerate(labels) if label == "fault")
        after = [
            offset + index
            for index in range(last_fault + 1, len(labels))
            if labels[index] == "transition"
        ]
        unrecovered.extend(after)
        pool.unrecovered_seconds.append(len(after))
        offset += len(labels)
    pool.by_segment["unrecovered"] = np.array(unrecovered, dtype=np.int64)
    return pool


# --------------------------------------------------------------------------- simulation


def draw_phase(
    pool: Pool,
    segment: str,
    requests: float,
    seconds: int,
    rng: np.random.Generator,
    lead: tuple[str, int] | None = None,
) -> PhaseSample:
    """A phase of `seconds` simulated seconds holding about `requests` requests, made of whole
    recorded seconds of `segment` (the first lead[1] simulated seconds from lead[0])."""
    per_second = max(1, round(requests / (pool.mean_requests(segment) * seconds)))
    rows = rng.choice(pool.by_segment[segment], size=(seconds, per_second))
    if lead is not None and lead[1] > 0:
        rows[: lead[1]] = rng.choice(pool.by_segment[lead[0]], size=(lead[1], per_second))
    return PhaseSample(
        pool.requests[rows].sum(axis=1),
        pool.failures[rows].sum(axis=1),
        pool.values,
        pool.counts[rows].sum(axis=1),
    )


@dataclass(frozen=True)
class Run:
    phases: dict[str, PhaseSample]


def draw_run(
    pool: Pool, requests: dict[str, float], rng: np.random.Generator, unrecovered_extra: int = 0
) -> Run:
    phases = {
        name: draw_phase(pool, name, requests[name], PHASE_SECONDS[name], rng) for name in PHASES
    }
    if unrecovered_extra:
        phases["recovery"] = draw_phase(
            pool,
            "recovery",
            requests["recovery"],
            PHASE_SECONDS["recovery"],
            rng,
            lead=("unrecovered", unrecovered_extra),
        )
    return Run(phases)


# --------------------------------------------------------------------------- regressions


def stretch_tail(sample: PhaseSample, p90: float, p99: float) -> PhaseSample:
    """p99 x 2, p50 (and p90) unchanged: every latency x above the true p90 becomes
    p90 + (x - p90) * s with s = (2 * p99 - p90) / (p99 - p90), so the true p99 doubles."""
    scale = (2 * p99 - p90) / (p99 - p90)
    values = np.where(
        sample.latency_values > p90,
        p90 + (sample.latency_values - p90) * scale,
        sample.latency_values,
    )
    return PhaseSample(sample.requests, sample.failures, values, sample.latency_counts)


def fail_requests(sample: PhaseSample, share: float, rng: np.random.Generator) -> PhaseSample:
    """Each request that succeeded fails with probability `share` (independently)."""
    extra = rng.binomial(sample.requests - sample.failures, share)
    return PhaseSample(
        sample.requests, sample.failures + extra, sample.latency_values, sample.latency_counts
    )


def fail_seconds(sample: PhaseSample, share: float, rng: np.random.Generator) -> PhaseSample:
    """Each second fails whole (every request) with probability `share`: the same lost
    availability as `fail_requests`, in bursts."""
    down = rng.random(sample.seconds) < share
    failures = np.where(down, sample.requests, sample.failures)
    return PhaseSample(sample.requests, failures, sample.latency_values, sample.latency_counts)


@dataclass(frozen=True)
class Truth:
    p90: dict[str, float]
    p99: dict[str, float]
    availability: dict[str, float]


def truth_of(pool: Pool) -> Truth:
    samples = {name: pool.truth(name) for name in PHASES}
    return Truth(
        {name: sample.percentile(90) for name, sample in samples.items()},
        {name: sample.percentile(99) for name, sample in samples.items()},
        {
            name: 1 - sample.total_failures / sample.total_requests
            for name, sample in samples.items()
        },
    )


def regressed(case: str, run: Run, truth: Truth, rng: np.random.Generator) -> Run:
    phases = dict(run.phases)
    if case == "p99x2":
        phases = {
            name: stretch_tail(sample, truth.p90[name], truth.p99[name])
            for name, sample in phases.items()
        }
    elif case in ("availability_1pt", "availability_1pt_bursts"):
        spoil = fail_requests if case == "availability_1pt" else fail_seconds
        phases = {
            name: spoil(sample, 0.01 / truth.availability[name], rng)
            if case == "availability_1pt"
            else spoil(sample, 0.01, rng)
            for name, sample in phases.items()
        }
    return Run(phases)


# --------------------------------------------------------------------------- the gates


NEW_CHECKS = (
    "availability, baseline >= previous - 0.5%",
    "availability, recovery >= baseline - 0.5%",
    "latency_p99_ms, fault <= 1.5x previous",
    "latency_p95_ms, recovery <= baseline + 50ms",
)


def new_checks(current: Run, previous: Sequence[Run]) -> list[CheckVerdict]:
    """The lambda-faults checks written with relative objectives (NEW_CHECKS, docs/gate.md)."""
    reference = {
        name: PhaseSample.pooled([run.phases[name] for run in previous]) for name in PHASES
    }
    c = SETTINGS.confidence
    return [
        check_rate_relative(
            current.phases["baseline"], reference["baseline"], "availability", ">=", 1.0, -0.005, c
        ),
        check_rate_relative(
            current.phases["recovery"],
            current.phases["baseline"],
            "availability",
            ">=",
            1.0,
            -0.005,
            c,
        ),
        check_percentile_relative(
            current.phases["fault"], reference["fault"], "p99", "<=", 1.5, 0.0, c
        ),
        check_percentile_relative(
            current.phases["recovery"], current.phases["baseline"], "p95", "<=", 1.0, 50.0, c
        ),
    ]


def absolute_gate(current: Run, last: Run) -> bool:
    """The same checks as absolute thresholds calibrated the way a team does: the last
    run's observed value plus a margin (availability - 0.5 point, fault p99 x 1.5, recovery
    p95 + 50 ms), judged on the current run's point values."""

    def availability(run: Run, phase: str) -> float:
        sample = run.phases[phase]
        return 1 - sample.total_failures / sample.total_requests

    return (
        availability(current, "baseline") >= availability(last, "baseline") - 0.005
        and availability(current, "recovery") >= availability(last, "recovery") - 0.005
        and current.phases["fault"].percentile(99) < 1.5 * last.phases["fault"].percentile(99)
        and current.phases["recovery"].percentile(95) < last.phases["recovery"].percentile(95) + 50
    )


# --------------------------------------------------------------------------- the bench


@dataclass(frozen=True)
class Rates:
    new: float
    absolute: float
    checks_passed: tuple[float, ...]  # per new check: the share of decisions it passed


def gate_failure_rates(
    pool: Pool, truth: Truth, case: str, requests: dict[str, float], decisions: int, seed: int
) -> Rates:
    rng = np.random.default_rng([seed, CASES.index(case), int(sum(requests.values()))])
    new_fails = absolute_fails = 0
    passed = np.zeros(len(NEW_CHECKS))
    for _ in range(decisions):
        previous = [draw_run(pool, requests, rng) for _ in range(3)]
        last = draw_run(pool, requests, rng)
        extra = 0
        if case == "recovery_2x_slower":
            extra = int(rng.choice(pool.unrecovered_seconds))
        current = regressed(case, draw_run(pool, requests, rng, extra), truth, rng)
        checks = [gate_passes(check, SETTINGS) for check in new_checks(current, previous)]
        passed += checks
        new_fails += not all(checks)
        absolute_fails += not absolute_gate(current, last)
    return Rates(
        new_fails / decisions,
        absolute_fails / decisions,
        tuple(float(share) for share in passed / decisions),
    )


def recorded_load(pool: Pool) -> dict[str, float]:
    return {name: pool.mean_requests(name) * PHASE_SECONDS[name] for name in PHASES}


def spread_check(
    pool: Pool,
    recordings: Sequence[gate_recording.Recording],
    rng: np.random.Generator,
    draws: int = 400,
) -> list[str]:
    """Per phase: the p99 range of the recorded runs beside the 5-95 % range of phases
    resampled at the recorded load (whole seconds pooled over runs): if the runs differed
    by more than their seconds do, the pooled resample would be too narrow."""
    lines = []
    shipped = recorded_load(pool)
    for name in PHASES:
        recorded_p99 = []
        for recording in recordings:
            seconds = [second for second in recording.seconds if second.segment == name]
            sample = PhaseSample.from_seconds(
                SecondBlock(s.requests, s.failures, s.latency_ms) for s in seconds
            )
            recorded_p99.append(sample.percentile(99))
        simulated = [
            draw_phase(pool, name, shipped[name], PHASE_SECONDS[name], rng).percentile(99)
            for _ in range(draws)
        ]
        low, high = np.percentile(simulated, [5, 95])
        lines.append(
            f"  {name:<9} p99 of the {len(recorded_p99)} recorded runs: "
            f"{min(recorded_p99):.0f}-{max(recorded_p99):.0f} ms; resampled phases "
            f"(5-95 %): {low:.0f}-{high:.0f} ms"
        )
    return lines


def monte_carlo_bounds(rate: float, decisions: int) -> tuple[float, float]:
    """One-sided 95 % Clopper–Pearson bounds on a rate measured over `decisions` decisions."""
    interval = stats.binomtest(round(rate * decisions), decisions).proportion_ci(
        confidence_level=0.90, method="exact"
    )
    return float(interval.low), float(interval.high)


def meets_targets(rates: dict[str, Rates], decisions: int) -> bool:
    """The targets hold beyond the simulation's own noise: the false-fail rate's upper bound
    and the detection rates' lower bounds (95 %, one-sided) meet them."""
    return (
        monte_carlo_bounds(rates["unchanged"].new, decisions)[1] <= TARGET_FALSE_FAIL
        and monte_carlo_bounds(rates["p99x2"].new, decisions)[0] >= TARGET_DETECTION
        and monte_carlo_bounds(rates["availability_1pt"].new, decisions)[0] >= TARGET_DETECTION
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="a quick run (CI)")
    parser.add_argument("--decisions", type=int, help="gate decisions per case and load")
    parser.add_argument("--seed", type=int, default=20261206)
    parser.add_argument("--recordings", type=Path, default=RECORDINGS)
    args = parser.parse_args(argv)
    decisions = args.decisions or (40 if args.short else 1000)
    loads = (LOADS[5],) if args.short else LOADS  # short: the load the full run finds
    recordings = gate_recording.load_all(args.recordings)
    pool = build_pool(recordings)
    truth = truth_of(pool)
    started = time.monotonic()
    shipped = recorded_load(pool)
    print(
        f"{pool.recorded_runs} recorded runs, {decisions} gate decisions per case and load; "
        f"recorded load per phase: "
        + ", ".join(f"{name} {value:.0f}" for name, value in shipped.items())
    )
    print("\n".join(spread_check(pool, recordings, np.random.default_rng(args.seed))))
    print(
        f"{'load (requests/phase)':<24}{'case':<26}{'new: gate fails':>16}"
        f"{'(95 % bounds)':>18}{'absolute: gate fails':>22}"
    )
    table: list[tuple[str, dict[str, Rates]]] = []
    rows: list[tuple[str, dict[str, float]]] = [("recorded", shipped)]
    rows += [(str(load), dict.fromkeys(PHASES, float(load))) for load in loads]
    chosen: tuple[str, dict[str, Rates]] | None = None
    for label, requests in rows:
        rates = {
            case: gate_failure_rates(pool, truth, case, requests, decisions, args.seed)
            for case in CASES
        }
        table.append((label, rates))
        for case, rate in rates.items():
            low, high = monte_carlo_bounds(rate.new, decisions)
            print(
                f"{label:<24}{case:<26}{rate.new:>16.3f}{f'{low:.3f}-{high:.3f}':>18}"
                f"{rate.absolute:>22.3f}",
                flush=True,
            )
        print(
            f"{'':<24}unchanged, each new check passed: "
            + "; ".join(
                f"{name} {share:.3f}"
                for name, share in zip(NEW_CHECKS, rates["unchanged"].checks_passed, strict=True)
            )
        )
        if label != "recorded" and meets_targets(rates, decisions):
            chosen = (label, rates)
            break
    chosen = chosen or table[-1]
    label, rates = chosen
    print(
        f"({time.monotonic() - started:.0f} s; gate fails = false fails for 'unchanged', "
        "detections otherwise)"
    )
    print(
        f"false_fail_rate={rates['unchanged'].new:.4f} "
        f"detection_p99x2={rates['p99x2'].new:.4f} "
        f"detection_availability_1pt={rates['availability_1pt'].new:.4f} "
        f"requests_per_phase={label}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
