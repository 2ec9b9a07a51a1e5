"""Plan the evidence: per SLO check, how many requests its phase will get at the configured
load and whether that can decide the objective at its margin (`gameday plan`, `validate`).

Expected requests per phase = users x the phase's seconds x each user's request rate, read
from the locustfile's ``wait_time`` without running it (``between(a, b)``: one request per
``(a + b) / 2`` s plus its latency, ``constant(t)``, ``constant_pacing(t)``,
``constant_throughput(r)``); another wait_time, or none, is assumed one request per user
per second, and the line says so. The load needed comes from ``chaos.verdict.evidence``: the
smallest phase at which a *typical* phase of a service that meets the objective by its margin
gets the verdict passed, and (``power=0.99``) one at which 99 % of such phases would.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from chaos.experiment.objective import Objective, parse_objective, relative_slis
from chaos.metrics.catalog import CATALOG
from chaos.verdict.evidence import EvidencePlan, plan_percentile, plan_rate, plan_relative_rate
from chaos.verdict.percentiles import PERCENT_OF, PercentileKey
from chaos.verdict.rates import RateSli

if TYPE_CHECKING:
    from chaos.experiment.model import Experiment

__all__ = [
    "CheckPlan",
    "LoadEstimate",
    "estimate_load",
    "evidence_plans",
    "locustfile_rate",
    "never_decisive",
    "plan_lines",
]

#: Without a readable wait_time: one request per user per second (said in the plan line).
ASSUMED_RPS_PER_USER = 1.0
#: A typical request's own time, added to the wait between requests (sandbox: tens of ms).
ASSUMED_LATENCY_S = 0.05
#: An unchanged service's figures when a relative rate objective is planned without history.
ASSUMED_AVAILABILITY = 0.999
#: The margin of an absolute availability / error-rate objective: half a point, or half the
#: distance to 100 % / 0 % when that is less.
RATE_MARGIN = 0.005


@dataclass(frozen=True)
class LoadEstimate:
    rps_per_user: float
    users: int
    basis: str  # how the rate was found, for the plan line

    def requests(self, seconds: float) -> int:
        return int(round(self.rps_per_user * self.users * seconds))


@dataclass(frozen=True)
class CheckPlan:
    """One check in one phase: expected requests, needed requests, and the plan line."""

    index: int  # in the experiment's `slo` list
    sli: str
    phase: str
    expected_requests: int
    requests_needed: int | None  # a typical phase passes from here; None: no load decides it
    requests_for_99: int | None  # 99 % of phases pass from here (approximate, conservative)
    minimum_for_any_bound: int | None  # below it, the check can only be inconclusive (or fail)
    what: str  # "to show a p99 below 1500 ms", ...

    @property
    def decisive(self) -> bool:
        return self.requests_needed is not None and self.expected_requests >= self.requests_needed

    @property
    def never_decisive(self) -> bool:
        """No load decides it, or this phase can never hold enough requests to pass it."""
        if self.requests_needed is None:
            return True
        return (
            self.minimum_for_any_bound is not None
            and self.expected_requests < self.minimum_for_any_bound
        )

    def line(self, basis: str, inconclusive: str = "fail") -> str:
        head = f"{self.sli}, {self.phase}: ~{self.expected_requests} requests ({basis})"
        if self.requests_needed is None:
            return f"{head} — no load can decide it at its margin {self.what}"
        too_few = "too few: it will be inconclusive, which the gate counts as " + (
            "a pass" if inconclusive == "pass" else "a failure"
        )
        if self.requests_needed == self.minimum_for_any_bound:  # a floor, not the need
            verdict = too_few if not self.decisive else "above the floor; the tail decides"
            return f"{head} — needs at least {self.requests_needed} {self.what}: {verdict}"
        verdict = "enough" if self.decisive else too_few
        needs = f"about {self.requests_needed}"
        if self.requests_for_99 is not None and self.requests_for_99 > self.requests_needed:
            needs += f" ({self.requests_for_99} for 99 % of phases to pass)"
        return f"{head} — needs {needs} {self.what}: {verdict}"


def locustfile_rate(path: Path) -> tuple[float, str] | None:
    """(requests per user per second, basis) from the locustfile's ``wait_time``; None when
    it has none that can be read statically (the file is parsed, never run)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and any(
                isinstance(target, ast.Name) and target.id == "wait_time" for target in node.targets
            )
        ):
            continue
        call = node.value
        name = (
            call.func.id
            if isinstance(call.func, ast.Name)
            else (call.func.attr if isinstance(call.func, ast.Attribute) else "")
        )
        numbers = [
            arg.value
            for arg in call.args
            if isinstance(arg, ast.Constant) and isinstance(arg.value, (int, float))
        ]
        rate = _rate_of(name, [float(number) for number in numbers])
        if rate is not None:
            shown = ", ".join(f"{number:g}" for number in numbers)
            return rate, f"wait_time {name}({shown}) in {path.name}"
    return None


def _rate_of(name: str, numbers: list[float]) -> float | None:
    if name == "between" and len(numbers) == 2 and min(numbers) >= 0:
        return 1 / (sum(numbers) / 2 + ASSUMED_LATENCY_S)
    if name == "constant" and len(numbers) == 1 and numbers[0] >= 0:
        return 1 / (numbers[0] + ASSUMED_LATENCY_S)
    if name == "constant_pacing" and len(numbers) == 1 and numbers[0] > 0:
        return 1 / numbers[0]
    if name == "constant_throughput" and len(numbers) == 1 and numbers[0] > 0:
        return numbers[0]
    return None


def estimate_load(experiment: Experiment) -> LoadEstimate | None:
    """The load's request rate, or None for an experiment without load."""
    load = experiment.load
    if load is None:
        return None
    candidates = [Path(load.locustfile)]
    if experiment.source is not None and not Path(load.locustfile).is_absolute():
        candidates.append(experiment.source.parent / load.locustfile)
    for candidate in candidates:
        found = locustfile_rate(candidate) if candidate.is_file() else None
        if found is not None:
            rate, basis = found
            return LoadEstimate(rate, load.users, f"{load.users} users, {basis}")
    return LoadEstimate(
        ASSUMED_RPS_PER_USER, load.users, f"{load.users} users at an assumed 1 request/s each"
    )


def evidence_plans(experiment: Experiment) -> tuple[list[CheckPlan], str] | None:
    """The plan of each statistical check (percentile or rate, in a phase), and the load
    basis; None for an experiment without load."""
    estimate = estimate_load(experiment)
    if estimate is None:
        return None
    confidence = experiment.gate.confidence
    seconds = {
        "baseline": experiment.phases.baseline,
        "fault": experiment.phases.fault,
        "recovery": experiment.phases.recovery,
    }
    plans = []
    for index, check in enumerate(experiment.slo):
        if check.sli not in relative_slis():
            continue
        objective = parse_objective(check.objective, check.sli)
        for phase in check.phases:
            expected = estimate.requests(seconds[phase])
            reference = estimate.requests(seconds["baseline"])
            planned = _plan(
                check.sli,
                objective,
                expected,
                reference,
                int(seconds[phase]),
                int(seconds["baseline"]),
                confidence,
            )
            if planned is not None:
                plans.append(CheckPlan(index, check.sli, phase, expected, *planned))
    return plans, estimate.basis


def _plan(
    sli: str,
    objective: Objective,
    expected: int,
    reference: int,
    seconds: int,
    reference_seconds: int,
    confidence: float,
) -> tuple[int | None, int | None, int | None, str] | None:
    key = CATALOG[sli].key
    seconds = max(seconds, 1)
    if key[0] == "latency_ms":
        return _plan_percentile(
            cast(PercentileKey, key[1]), objective, expected, seconds, confidence
        )
    rate = cast(RateSli, key[0])
    if objective.reference is None:
        return _plan_rate(rate, objective, expected, seconds, confidence)
    both = [
        plan_relative_rate(
            expected,
            reference,
            seconds,
            max(reference_seconds, 1),
            rate,
            objective.comparator,
            _assumed(rate),
            objective.factor,
            objective.offset,
            confidence,
            power=power,
        )
        for power in (0.5, 0.99)
    ]
    what = (
        f"to show {rate} {objective} for an unchanged service "
        f"(assumed {_percent(_assumed(rate))}) at {_percent(confidence)}"
    )
    return both[0].requests_needed, both[1].requests_needed, None, what


def _plan_rate(
    rate: RateSli, objective: Objective, expected: int, seconds: int, confidence: float
) -> tuple[int | None, int | None, int | None, str] | None:
    threshold = objective.threshold
    better_up = objective.comparator in (">=", ">")
    if objective.comparator not in (">=", ">", "<=", "<"):
        return None
    room = (1 - threshold) if better_up else threshold
    margin = min(RATE_MARGIN, room / 2) if room > 0 else 0.0
    plans: list[EvidencePlan] = [
        plan_rate(
            expected,
            seconds,
            rate,
            objective.comparator,
            threshold,
            margin,
            confidence,
            power=power,
        )
        for power in (0.5, 0.99)
    ]
    value = threshold + margin if better_up else threshold - margin
    what = (
        f"to show {rate} {objective.comparator} {_percent(threshold)} for a service at "
        f"{_percent(value)} at {_percent(confidence)}"
    )
    return plans[0].requests_needed, plans[1].requests_needed, None, what


def _plan_percentile(
    key: PercentileKey, objective: Objective, expected: int, seconds: int, confidence: float
) -> tuple[int | None, int | None, int | None, str] | None:
    percent = PERCENT_OF[key]
    if key == "max":
        return None  # the observed maximum is a fact of the run: always decided
    floor = plan_percentile(
        expected, seconds, percent, confidence, share_above_threshold=0.0
    ).requests_needed
    name = f"a {key}"
    if objective.reference is not None:
        what = (
            f"for any upper bound on {name} at {_percent(confidence)} (the comparison "
            f"with the {objective.reference} needs more: docs/gate.md)"
        )
        return floor, None, floor, what
    if objective.comparator not in ("<", "<="):
        return None
    plans = [
        plan_percentile(expected, seconds, percent, confidence, power=power)
        for power in (0.5, 0.99)
    ]
    tighter = 100 - (100 - percent) / 2
    what = (
        f"for {name} to show it below {objective.threshold:g} ms at {_percent(confidence)} "
        f"(when {objective.threshold:g} ms is the service's p{tighter:g})"
    )
    return plans[0].requests_needed, plans[1].requests_needed, floor, what


def _assumed(rate: RateSli) -> float:
    return ASSUMED_AVAILABILITY if rate == "availability" else 1 - ASSUMED_AVAILABILITY


def _percent(value: float) -> str:
    text = f"{value * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text} %"


def plan_lines(experiment: Experiment) -> list[str]:
    """`gameday plan`'s evidence section: one line per statistical check and phase."""
    planned = evidence_plans(experiment)
    if planned is None:
        return []
    plans, basis = planned
    if not plans:
        return []
    gate = experiment.gate
    lines = [
        f"evidence (gate: confidence {_percent(gate.confidence)}, inconclusive "
        f"{gate.inconclusive}):"
    ]
    lines += [f"  - {plan.line(basis, gate.inconclusive)}" for plan in plans]
    return lines


def never_decisive(experiment: Experiment) -> list[CheckPlan]:
    """The checks `validate` warns about: no load, or not this load, can ever pass them."""
    planned = evidence_plans(experiment)
    return [plan for plan in (planned[0] if planned else []) if plan.never_decisive]
