"""The SLI catalog: every SLI name, where its value lives in result.json, and its rules.

The one place SLI names are spelled. The experiment loader validates `slo` and
`abort_when` against it, the SLO gate reads values through it, the CloudWatch reader
maps its metrics onto it and the reports label it from it.

Where each family lives in the result:

- ``phase``: ``result["phases"][phase]`` (a check without a phase: ``result["overall"]``);
- ``server``: ``...["server_side"][name]`` of the phase, or ``result["server_side"]``;
- ``waf``: ``result["waf"][key]``, over the whole run;
- ``recovery``: ``result["recovery_time_s"]``, in the recovery phase;
- ``fault``: ``result["faults"]`` evidence (the automatic `fault_effect` check).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

__all__ = [
    "APIGW_5XX",
    "AVAILABILITY",
    "CATALOG",
    "EXTENSION_FAIL_OPEN",
    "FAULT_EFFECT",
    "INJECTED_FAULTS",
    "INJECTION_COLD_STARTS",
    "KNOWN_SLIS",
    "LAMBDA_ERRORS",
    "LIVE_SLIS",
    "P99",
    "RECOVERY_TIME",
    "REQUESTS",
    "WAF_BLOCKED_REQUESTS",
    "Sli",
    "names",
    "reads_emf_metrics",
    "reads_server_side_metrics",
    "sli_problem",
    "validate_abort_when_sli",
    "validate_sli_names",
]

SliFamily = Literal["phase", "server", "waf", "recovery", "fault"]
#: Which phases a check of the SLI may name: any, none (measured over the run), or one.
PhaseRule = Literal["any", "none", "recovery", "fault"]
#: How CloudWatch values of several targets combine: counts add up, a p99 takes the max.
Combine = Literal["sum", "max"]


@dataclass(frozen=True)
class Sli:
    name: str
    family: SliFamily
    key: tuple[str, ...]  # the path inside the family's place in the result
    description: str
    phases: PhaseRule = "any"
    live: bool = False  # `abort_when` can watch it second by second
    fraction: bool = False  # observed as 0..1, shown as a percentage
    combine: Combine = "sum"  # server-side only
    emf: bool = False  # an EMF metric (the extension's): it settles later in CloudWatch
    # server-side only: the CloudWatch metric read for it (namespace, metric, statistic)
    metric: tuple[str, str, str] | None = None
    needs_requests: bool = True  # phase only: not measured in a window without requests

    def value_in(self, scope: Mapping[str, Any]) -> Any:
        """The SLI's value in its family's place of the result (`scope`), None if absent."""
        value: Any = scope
        for key in self.key:
            value = value.get(key) if isinstance(value, Mapping) else None
        return value

    @property
    def run_wide(self) -> bool:
        return self.phases == "none"


AVAILABILITY = "availability"
REQUESTS = "requests"
LAMBDA_ERRORS = "lambda_errors"
APIGW_5XX = "apigw_5xx"
WAF_BLOCKED_REQUESTS = "waf_blocked_requests"
INJECTED_FAULTS = "injected_faults"
INJECTION_COLD_STARTS = "injection_cold_starts"
EXTENSION_FAIL_OPEN = "extension_fail_open"
RECOVERY_TIME = "recovery_time_s"
FAULT_EFFECT = "fault_effect"
#: How CloudWatch names the statistic of a p99 SLI.
P99 = "p99"

_SLIS = (
    Sli(
        AVAILABILITY,
        "phase",
        (AVAILABILITY,),
        "share of requests that did not fail (5xx, no response, 429, a legit client blocked)",
        live=True,
        fraction=True,
    ),
    Sli("error_rate", "phase", ("error_rate",), "1 - availability", live=True, fraction=True),
    Sli(
        "throughput_rps",
        "phase",
        ("throughput_rps",),
        "requests per second",
        live=True,
        needs_requests=False,
    ),
    Sli(REQUESTS, "phase", (REQUESTS,), "requests completed", live=True, needs_requests=False),
    Sli("latency_p50_ms", "phase", ("latency_ms", "p50"), "median latency (ms)", live=True),
    Sli(
        "latency_p90_ms", "phase", ("latency_ms", "p90"), "90th percentile latency (ms)", live=True
    ),
    Sli(
        "latency_p95_ms", "phase", ("latency_ms", "p95"), "95th percentile latency (ms)", live=True
    ),
    Sli(
        "latency_p99_ms", "phase", ("latency_ms", "p99"), "99th percentile latency (ms)", live=True
    ),
    Sli("latency_max_ms", "phase", ("latency_ms", "max"), "largest latency (ms)", live=True),
    Sli(
        LAMBDA_ERRORS,
        "server",
        ("lambda", "errors"),
        "Lambda Errors (CloudWatch)",
        metric=("AWS/Lambda", "Errors", "Sum"),
    ),
    Sli(
        "lambda_throttles",
        "server",
        ("lambda", "throttles"),
        "Lambda Throttles (CloudWatch)",
        metric=("AWS/Lambda", "Throttles", "Sum"),
    ),
    Sli(
        "lambda_duration_p99_ms",
        "server",
        ("lambda", "duration_p99_ms"),
        "Lambda Duration p99 (CloudWatch)",
        combine="max",
        metric=("AWS/Lambda", "Duration", P99),
    ),
    Sli(
        APIGW_5XX,
        "server",
        ("apigateway", "5xx"),
        "API Gateway 5XXError (CloudWatch)",
        metric=("AWS/ApiGateway", "5XXError", "Sum"),
    ),
    Sli(
        "apigw_latency_p99_ms",
        "server",
        ("apigateway", "latency_p99_ms"),
        "API Gateway Latency p99 (CloudWatch)",
        combine="max",
        metric=("AWS/ApiGateway", "Latency", P99),
    ),
    Sli(
        WAF_BLOCKED_REQUESTS,
        "server",
        ("waf", "blocked_requests"),
        "WAF BlockedRequests of the rate rule (CloudWatch)",
        metric=("AWS/WAFV2", "BlockedRequests", "Sum"),
    ),
    # Both EMF metrics are read per function and per fault type / as `inits` (the key
    # inside the group): the SLI is the sum over the whole group.
    Sli(
        INJECTED_FAULTS,
        "server",
        ("injected_faults", ""),
        "faults the extension injected (its EMF metric, CloudWatch)",
        emf=True,
        metric=("Chaos", "InjectedFaults", "Sum"),
    ),
    Sli(
        INJECTION_COLD_STARTS,
        "server",
        ("extension_inits", ""),
        "execution environments started with the fault attached: the cold starts the "
        "injection itself caused (the extension's EMF metric, CloudWatch)",
        emf=True,
        metric=("Chaos", "ExtensionInits", "Sum"),
    ),
    Sli(
        EXTENSION_FAIL_OPEN,
        "server",
        ("extension_fail_open", ""),
        "execution environments where the extension failed open (it could not run or "
        "proxy; the fault did not act there; its EMF metric, CloudWatch)",
        emf=True,
        metric=("Chaos", "ExtensionFailOpen", "Sum"),
    ),
    Sli(
        "waf_time_to_block_s",
        "waf",
        ("time_to_block_s",),
        "seconds from an abusive client crossing the limit to its first block (estimate)",
        phases="none",
    ),
    Sli(
        "waf_leaked_over_limit",
        "waf",
        ("leaked_over_limit",),
        "requests allowed beyond the limit before the block",
        phases="none",
    ),
    Sli(
        "waf_legit_blocked",
        "waf",
        ("legit_blocked",),
        "blocks of legitimate clients",
        phases="none",
    ),
    Sli(
        "waf_time_to_unblock_s",
        "waf",
        ("time_to_unblock_s",),
        "seconds until a blocked client gets through at a legit pace (estimate)",
        phases="none",
    ),
    Sli(
        "waf_client_blocked_requests",
        "waf",
        ("client_blocked_requests",),
        "rate-rule blocks seen by the clients",
        phases="none",
    ),
    Sli(
        "waf_cloudwatch_blocked_requests",
        "waf",
        ("cloudwatch_blocked_requests",),
        "rate-rule blocks in CloudWatch",
        phases="none",
    ),
    Sli(
        "waf_other_403",
        "waf",
        ("other_403",),
        "403 responses that were not the rate rule's (authorizers, policies, other rules)",
        phases="none",
    ),
    Sli(
        RECOVERY_TIME,
        "recovery",
        ("recovery_time_s",),
        "seconds from the end of the restore until availability is back",
        phases="recovery",
    ),
    Sli(
        FAULT_EFFECT,
        "fault",
        ("observed_injections",),
        "injections a fault made during the fault phase (0: it never fired)",
        phases="fault",
    ),
)

CATALOG: dict[str, Sli] = {sli.name: sli for sli in _SLIS}
KNOWN_SLIS: tuple[str, ...] = tuple(CATALOG)
LIVE_SLIS: tuple[str, ...] = tuple(sli.name for sli in _SLIS if sli.live)


def names(family: SliFamily) -> tuple[str, ...]:
    """The SLI names of one family, in catalog order."""
    return tuple(sli.name for sli in _SLIS if sli.family == family)


# --------------------------------------------------------------------------- validation

# What the checks below read of an experiment, as shapes: the catalog sits below the
# experiment model (which validates SLI names against it) and imports nothing of it.


class _Check(Protocol):
    @property
    def sli(self) -> str: ...
    @property
    def phases(self) -> Sequence[str]: ...


class _AbortWhen(Protocol):
    @property
    def sli(self) -> str: ...


class _StopConditions(Protocol):
    @property
    def abort_when(self) -> _AbortWhen | None: ...


class Experiment(Protocol):
    @property
    def load(self) -> object | None: ...
    @property
    def slo(self) -> Sequence[_Check]: ...
    @property
    def stop_conditions(self) -> _StopConditions: ...


def reads_server_side_metrics(experiment: Experiment) -> bool:
    """Whether a run of `experiment` reads CloudWatch: with load, or a server-side SLO."""
    return experiment.load is not None or any(
        CATALOG.get(check.sli) is not None
        and (
            CATALOG[check.sli].family == "server" or check.sli == "waf_cloudwatch_blocked_requests"
        )
        for check in experiment.slo
    )


def reads_emf_metrics(experiment: Experiment) -> bool:
    """Whether an SLO of `experiment` is judged on an EMF metric (read once it settles)."""
    return any(
        CATALOG.get(check.sli) is not None and CATALOG[check.sli].emf for check in experiment.slo
    )


def validate_sli_names(experiment: Experiment) -> list[tuple[int, str]]:
    """Problems of the experiment's ``slo`` entries as (index in ``slo``, message)."""
    problems: list[tuple[int, str]] = []
    for index, check in enumerate(experiment.slo):
        message = sli_problem(check.sli, check.phases)
        if message:
            problems.append((index, message))
    return problems


def validate_abort_when_sli(experiment: Experiment) -> str | None:
    """The problem of ``stop_conditions.abort_when.sli``, or None when it can be watched live."""
    abort_when = experiment.stop_conditions.abort_when
    if abort_when is None or abort_when.sli in LIVE_SLIS:
        return None
    return (
        f"abort_when cannot watch {_shown(abort_when.sli)} live"
        f"{_did_you_mean(abort_when.sli, LIVE_SLIS)}; live SLIs: {', '.join(LIVE_SLIS)}"
    )


def sli_problem(sli: str, phases: Sequence[str]) -> str | None:
    """Why a check of `sli` in `phases` is invalid, or None."""
    entry = CATALOG.get(sli)
    if entry is None:
        return (
            f"unknown SLI {_shown(sli)}{_did_you_mean(sli, KNOWN_SLIS)}; known SLIs: "
            f"{', '.join(KNOWN_SLIS)}"
        )
    if entry.phases == "none" and phases:
        return f"{sli} is measured over the whole run: remove phase"
    if entry.phases in ("recovery", "fault") and any(phase != entry.phases for phase in phases):
        return (
            f"{sli} is measured in the {entry.phases} phase only: remove phase or use "
            f"{entry.phases}"
        )
    return None


def _shown(value: str) -> str:
    return repr(value) if len(value) <= 40 else f"(a name of {len(value)} characters)"


def _did_you_mean(name: str, candidates: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
