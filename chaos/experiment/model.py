"""The experiment and game-day plan YAML formats as pydantic models.

Field names are the contract of PRODUCT.md ("Experiment YAML"). Every model forbids
unknown keys (with a did-you-mean), is frozen, and accepts both field names and aliases
(``lambda``/``lambda_``, ``for``/``for_``).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Strict,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from chaos.durations import Duration, format_duration
from chaos.experiment.objective import Objective, objective_problem, parse_objective
from chaos.janitor import MAX_CONVERGE_TIMEOUT_S
from chaos.metrics.catalog import LIVE_SLIS, RECOVERY_TIME

__all__ = [
    "FAULT_TYPES",
    "PHASE_NAMES",
    "AbortWhen",
    "AzLossFault",
    "AzLossTargets",
    "ErrorSpec",
    "ExceptionSpec",
    "Experiment",
    "Fault",
    "GamedayPlan",
    "Gate",
    "LambdaExtensionFault",
    "LatencySpec",
    "Load",
    "Phases",
    "SloCheck",
    "StopConditions",
    "TagSelector",
    "Target",
    "TimeoutSpec",
    "WafLoad",
]

PHASE_NAMES = ("baseline", "fault", "recovery")

#: Extra time allowed beyond the sum of the phases for starting the load and reporting.
#: Injection and restore do not count against max_duration (they are bounded by the
#: faults' own expiry, max_duration + expiry_margin).
MAX_DURATION_MARGIN_S = 30.0

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
REGION_PATTERN = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$"
ACCOUNT_ID_PATTERN = r"^\d{12}$"
AZ_ID_PATTERN = r"^[a-z]{2,5}\d{1,2}-az\d{1,2}$"
_AZ_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}[a-z]$")
_COMPASS = {
    "east": "e", "west": "w", "north": "n", "south": "s", "central": "c",
    "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
}  # fmt: skip

Int = Annotated[int, Strict()]
NonNegInt = Annotated[int, Strict(), Field(ge=0)]
Rate = Annotated[float, Strict(), Field(ge=0.0, le=1.0, description="fraction of requests, 0..1")]
Name = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        description="lowercase letters, digits and dashes; starts with a letter or digit; "
        "at most 63 characters",
    ),
]


def _show(value: object) -> str:
    """Echo a user value only when it is short (long strings may be secrets)."""
    text = repr(value)
    return text if len(text) <= 40 else f"(a value of {len(str(value))} characters)"


def region_az_prefix(region: str) -> str | None:
    """The AZ ID prefix of a region (``us-east-1`` -> ``use1``), or None if unknown."""
    parts = region.split("-")
    if len(parts) < 3 or not parts[-1].isdigit():
        return None
    words = parts[1:-1]
    if words[0] == "gov" and len(words) == 2:
        compass = _COMPASS.get(words[1])
        return f"{parts[0]}g{compass}{parts[-1]}" if compass else None
    if len(words) != 1 or words[0] not in _COMPASS:
        return None
    return f"{parts[0]}{_COMPASS[words[0]]}{parts[-1]}"


class StrictModel(BaseModel):
    """Base: frozen, unknown keys refused with a did-you-mean, names and aliases accepted."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @classmethod
    def yaml_keys(cls) -> list[str]:
        """The keys this model accepts in YAML (aliases where a field has one)."""
        return [info.alias or name for name, info in cls.model_fields.items()]

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_keys(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        accepted = set(cls.model_fields)
        accepted.update(info.alias for info in cls.model_fields.values() if info.alias)
        keys = cls.yaml_keys()
        for key in data:
            if key in accepted:
                continue
            close = difflib.get_close_matches(str(key), keys, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else f"; allowed: {', '.join(keys)}"
            raise PydanticCustomError(
                "unknown_field",
                "unknown field {key}{hint}",
                {"key": _show(key), "hint": hint, "field": str(key)},
            )
        return data


# --------------------------------------------------------------------------- target


class Target(StrictModel):
    """Where the experiment runs."""

    region: str = Field(pattern=REGION_PATTERN, description="AWS region, e.g. us-east-1")
    account_id: str | None = Field(
        default=None,
        json_schema_extra={"pattern": ACCOUNT_ID_PATTERN},
        description='12-digit AWS account ID, quoted ("123456789012"); required outside '
        "the sandbox: the run refuses if the caller is another account",
    )
    endpoint: str | None = Field(
        default=None,
        description='"sandbox" (the running sandbox\'s HTTP front) or an http(s) URL',
    )

    @field_validator("account_id", mode="before")
    @classmethod
    def _account_id(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            raise ValueError(
                'account_id must be a quoted string such as "123456789012": an unquoted '
                "number loses leading zeros"
            )
        if isinstance(value, str) and not re.fullmatch(ACCOUNT_ID_PATTERN, value):
            raise ValueError("account_id must be exactly 12 digits, quoted")
        return value

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str | None) -> str | None:
        if value is None or value == "sandbox":
            return value
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError('endpoint must be "sandbox" or an http(s) URL')
        return value

    @property
    def is_sandbox(self) -> bool:
        return self.endpoint == "sandbox"


# --------------------------------------------------------------------------- phases


class Phases(StrictModel):
    """How long each phase lasts."""

    baseline: Duration
    fault: Duration
    recovery: Duration

    @field_validator("fault")
    @classmethod
    def _fault_positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("the fault phase must be longer than 0s")
        return value

    @property
    def total(self) -> float:
        return self.baseline + self.fault + self.recovery


# --------------------------------------------------------------------------- faults


class LatencySpec(StrictModel):
    """Added latency before the handler runs."""

    ms: NonNegInt
    jitter_ms: NonNegInt = 0
    rate: Rate = 1.0


class ErrorSpec(StrictModel):
    """Replace the response with an API Gateway proxy error response."""

    status_code: Annotated[int, Strict(), Field(ge=400, le=599)] = 503
    rate: Rate


class ExceptionSpec(StrictModel):
    """Raise in the handler (a function error)."""

    rate: Rate


class TimeoutSpec(StrictModel):
    """Hang until the function times out."""

    rate: Rate


class TagSelector(StrictModel):
    """Select resources by tags (all must match)."""

    tags: dict[str, str] = Field(min_length=1)


def _functions_kind(value: Any) -> str | None:
    if isinstance(value, (dict, TagSelector)):
        return "tag-selector"
    if isinstance(value, (list, tuple)):
        return "function-names"
    return None


Functions = Annotated[
    Annotated[list[str], Field(min_length=1), Tag("function-names")]
    | Annotated[TagSelector, Tag("tag-selector")],
    Discriminator(
        _functions_kind,
        custom_error_type="invalid_functions",
        custom_error_message="expected a list of function names/ARNs or a tag selector "
        "{tags: {key: value}}",
    ),
]


class LambdaExtensionFault(StrictModel):
    """Inject faults in Lambda functions through the fault-injection extension layer."""

    type: Literal["lambda-extension"]
    functions: Functions = Field(
        description="function names or ARNs ($LATEST), name:alias (the alias is shifted to a "
        "faulted version), or a tag selector")
    latency: LatencySpec | None = None
    error: ErrorSpec | None = None
    exception: ExceptionSpec | None = None
    timeout: TimeoutSpec | None = None
    weight: Annotated[float, Strict(), Field(gt=0.0, le=1.0)] | None = Field(
        default=None,
        description="alias targets only: share of the alias's traffic routed to the faulted "
        "version (default 1: all of it)",
    )
    allow_provisioned_concurrency: Annotated[bool, Strict()] = Field(
        default=False,
        description="alias targets only: accept that the faulted version has no provisioned "
        "concurrency (it runs on demand, with cold starts, for the fault phase)",
    )

    @model_validator(mode="after")
    def _at_least_one(self) -> LambdaExtensionFault:
        if not self.fault_config():
            raise ValueError(
                "a lambda-extension fault needs at least one of latency, error, exception, timeout"
            )
        # error, exception and timeout each replace the invocation's result: at most one
        # fires per invocation, so their probabilities must fit in 1.
        replacing = [spec.rate for spec in (self.error, self.exception, self.timeout) if spec]
        if sum(replacing) > 1.0 + 1e-9:
            raise ValueError(
                f"the rates of error, exception and timeout add up to {sum(replacing):g}; "
                "at most one of them fires per invocation, so they must add up to at most 1"
            )
        return self

    def fault_config(self) -> dict[str, dict[str, Any]]:
        """The configured specs as plain dicts, keyed latency/error/exception/timeout."""
        specs = {
            "latency": self.latency,
            "error": self.error,
            "exception": self.exception,
            "timeout": self.timeout,
        }
        return {key: spec.model_dump() for key, spec in specs.items() if spec is not None}


class AzLossTargets(StrictModel):
    """The workloads that lose the AZ."""

    lambda_: list[str] = Field(default_factory=list, alias="lambda")
    ecs_services: list[str] = Field(default_factory=list, description='"cluster/service"')
    autoscaling_groups: list[str] = Field(default_factory=list)
    load_balancers: list[str] = Field(default_factory=list)
    tags: dict[str, str] | None = None

    @field_validator("ecs_services")
    @classmethod
    def _cluster_service(cls, value: list[str]) -> list[str]:
        for item in value:
            cluster, sep, service = item.partition("/")
            if not sep or not cluster or not service or "/" in service:
                raise ValueError(f"ECS services are written cluster/service, not {_show(item)}")
        return value

    @model_validator(mode="after")
    def _at_least_one(self) -> AzLossTargets:
        if not (
            self.lambda_
            or self.ecs_services
            or self.autoscaling_groups
            or self.load_balancers
            or self.tags
        ):
            raise ValueError(
                "name at least one target: lambda, ecs_services, autoscaling_groups, "
                "load_balancers or tags"
            )
        return self


class AzLossFault(StrictModel):
    """Simulate the loss of one Availability Zone, selected by AZ ID."""

    type: Literal["az-loss"]
    az_id: str = Field(
        description="AZ ID such as use1-az1 (never an AZ name such as us-east-1a)",
        json_schema_extra={"pattern": AZ_ID_PATTERN},
    )
    mode: Literal["pin", "blackhole"] = "pin"
    targets: AzLossTargets
    converge_timeout: Duration = Field(
        default=600.0,
        description="pin: how long each target may take, on apply and on restore, until its "
        "capacity per AZ ID has converged (tasks / instances moved, update complete; "
        "default 10m, at most 12m); a restore that does not converge in time fails and keeps "
        "the journal",
    )

    @field_validator("converge_timeout")
    @classmethod
    def _converge_timeout(cls, value: float) -> float:
        if value > MAX_CONVERGE_TIMEOUT_S:
            raise ValueError(
                f"converge_timeout must be at most {format_duration(MAX_CONVERGE_TIMEOUT_S)}: "
                "the janitor restores within one Lambda invocation (at most 900 s), waiting "
                "this long for capacity besides its own work")
        return value

    @field_validator("az_id")
    @classmethod
    def _az_id(cls, value: str) -> str:
        if re.fullmatch(AZ_ID_PATTERN, value):
            return value
        if _AZ_NAME.fullmatch(value):
            raise ValueError(
                f"az_id must be an AZ ID such as use1-az1, not an AZ name ({value}): names map "
                "to different zones in every account; run `gameday az-map`"
            )
        raise ValueError(
            f"az_id must be an AZ ID such as use1-az1, not {_show(value)}; run `gameday az-map`"
        )


Fault = Annotated[LambdaExtensionFault | AzLossFault, Field(discriminator="type")]
FAULT_TYPES = ("lambda-extension", "az-loss")


# --------------------------------------------------------------------------- load


class WafLoad(StrictModel):
    """Clients that deliberately exceed the WAF rate-based rule, beside legitimate ones."""

    rule: str = Field(min_length=1, description="name of the rate-based rule")
    web_acl: str | None = None
    abusive_clients: NonNegInt = 1
    legit_clients: NonNegInt = 10
    measure_unblock: Annotated[bool, Strict()] = False


class Load(StrictModel):
    """Locust load for the whole run."""

    locustfile: str = Field(min_length=1)
    users: Annotated[int, Strict(), Field(ge=1)]
    spawn_rate: Annotated[float, Strict(), Field(gt=0)]
    workers: NonNegInt = Field(default=0, description="local Locust worker processes")
    remote_workers: NonNegInt = Field(
        default=0, description="`gameday load worker` processes (any machine) the master waits for"
    )
    master_bind: str | None = Field(
        default=None,
        description='HOST:PORT the Locust master listens on for workers, e.g. "0.0.0.0:5557" '
        "(default 127.0.0.1 and a free port)",
    )
    workers_timeout: Duration = Field(
        default=60.0, description="how long the master waits for every worker to connect"
    )
    waf: WafLoad | None = None

    @field_validator("master_bind")
    @classmethod
    def _host_port(cls, value: str | None) -> str | None:
        if value is None:
            return value
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(
                f"master_bind must be HOST:PORT, e.g. 0.0.0.0:5557, not {_show(value)}")
        return value

    @field_validator("workers_timeout")
    @classmethod
    def _positive_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("workers_timeout must be longer than 0s")
        return value

    @property
    def total_workers(self) -> int:
        """Every worker process the master waits for (0: one standalone process)."""
        return self.workers + self.remote_workers


# --------------------------------------------------------------------------- SLOs, stop


def _check_objective(value: str, sli: Any = None, phases: Any = ()) -> str:
    if not isinstance(value, str):
        parse_objective(value)  # raises, naming the accepted forms
    if isinstance(sli, str):
        problem = objective_problem(sli, value, _phase_list(phases))
        if problem:
            raise ValueError(problem)
    else:
        parse_objective(value)
    return value


def _phase_list(value: Any) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, str)]


_OBJECTIVE_HELP = (
    "'<comparator> <number>[unit]' in the SLI's unit (e.g. '>= 99%', '< 1500', '< 0.8s'), "
    "or relative: '<= 1.5x baseline', '<= baseline + 200ms', '>= previous - 0.5%'"
)


class _WithObjective(StrictModel):
    """An SLI and an objective string such as '>= 99%' (validated, and parsed on demand)."""

    sli: str = Field(min_length=1)
    objective: str = Field(description=_OBJECTIVE_HELP)

    @field_validator("objective")
    @classmethod
    def _objective(cls, value: str, info: ValidationInfo) -> str:
        if parse_objective(value).relative:
            raise ValueError("abort_when watches live values: a relative objective cannot "
                             "be watched (write a number)")
        sli = info.data.get("sli")
        return _check_objective(value, sli if sli in LIVE_SLIS else None)  # else: the SLI's

    @property
    def parsed_objective(self) -> Objective:
        """The objective, its number converted to the SLI's unit ('0.8s' -> 800 on ms)."""
        return parse_objective(self.objective, self.sli)


class SloCheck(StrictModel):
    """One SLO check: an SLI compared against an objective in one or more phases."""

    sli: str = Field(min_length=1)
    phase: str | list[str] | None = Field(
        default=None, description="baseline, fault or recovery, or a list of them"
    )
    objective: str = Field(description=_OBJECTIVE_HELP)
    relative_to: Literal["baseline"] | None = Field(
        default=None,
        description="recovery_time_s only: 'baseline' measures the seconds until the "
        "recovery phase is back in the baseline's band (failures and median latency) instead "
        "of availability back to 99%",
    )

    @field_validator("phase", mode="before")
    @classmethod
    def _phase(cls, value: Any) -> Any:
        allowed = ", ".join(PHASE_NAMES)
        items = value if isinstance(value, list) else [value]
        if value is None:
            return value
        if isinstance(value, list) and not value:
            raise ValueError(f"phase list must not be empty (phases: {allowed})")
        for item in items:
            if not isinstance(item, str) or item not in PHASE_NAMES:
                raise ValueError(f"unknown phase {_show(item)}; expected one of {allowed}")
        return value

    @field_validator("objective")
    @classmethod
    def _objective(cls, value: str, info: ValidationInfo) -> str:
        return _check_objective(value, info.data.get("sli"), info.data.get("phase"))

    @field_validator("relative_to")
    @classmethod
    def _relative_to(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and info.data.get("sli") != RECOVERY_TIME:
            raise ValueError(f"relative_to applies to {RECOVERY_TIME} only")
        return value

    @property
    def parsed_objective(self) -> Objective:
        """The objective, its number converted to the SLI's unit ('0.8s' -> 800 on ms)."""
        return parse_objective(self.objective, self.sli)

    @property
    def phases(self) -> list[str]:
        """The phases checked; empty when the SLI is measured over the whole run."""
        if self.phase is None:
            return []
        return [self.phase] if isinstance(self.phase, str) else list(self.phase)


class AbortWhen(_WithObjective):
    """Abort (and roll back) when an SLI breaches an objective for a while."""

    for_: Duration = Field(alias="for")


class Gate(StrictModel):
    """How the SLO gate decides: each bound's confidence, and what an inconclusive check
    (the evidence supports neither the objective nor its breach) does to the exit code."""

    confidence: Annotated[float, Field(gt=0.5, lt=1.0)] = Field(
        default=0.95, description="confidence of each one-sided bound, in (0.5, 1)")
    inconclusive: Literal["fail", "pass"] = Field(
        default="fail", description="fail (default): an inconclusive check fails the gate")


class StopConditions(StrictModel):
    """Conditions that abort the run and roll back."""

    alarms: list[str] = Field(default_factory=list, description="CloudWatch alarm names")
    abort_when: AbortWhen | None = None


# --------------------------------------------------------------------------- documents


class Experiment(StrictModel):
    """One experiment (``kind: experiment``)."""

    version: Literal[1]
    kind: Literal["experiment"]
    name: Name
    description: str | None = None
    target: Target
    phases: Phases
    max_duration: Duration = Field(
        default=600.0,
        validate_default=True,
        description="hard stop: abort and roll back (default 10m)",
    )
    faults: list[Fault] = Field(description="may be empty (a baseline-only run)")
    load: Load | None = None
    slo: list[SloCheck] = Field(default_factory=list)
    gate: Gate = Field(
        default_factory=lambda: Gate(),
        description="the SLO gate: {confidence: 0.95, inconclusive: fail} (the default)",
    )
    stop_conditions: StopConditions = Field(default_factory=StopConditions)
    expiry_margin: Duration = Field(
        default=300.0,
        description="every fault restores itself max_duration + this after the start "
        "(default 5m)",
    )
    settle_timeout: Duration = Field(
        default=300.0,
        description="how long to wait after the run for CloudWatch to settle before reading "
        "the server-side SLIs (default 5m); figures read unsettled fail their SLO checks",
    )
    expect_effect: Annotated[bool, Strict()] = Field(
        default=True,
        description="a fault that injected nothing while the fault phase had load fails the "
        "automatic `fault_effect` check",
    )

    _source: Path | None = PrivateAttr(default=None)

    @property
    def expiry_s(self) -> float:
        """Seconds after the start at which every fault restores itself."""
        return self.max_duration + self.expiry_margin

    @field_validator("expiry_margin")
    @classmethod
    def _positive_margin(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("expiry_margin must be longer than 0s")
        return value

    @field_validator("max_duration")
    @classmethod
    def _covers_phases(cls, value: float, info: ValidationInfo) -> float:
        phases = info.data.get("phases")
        if isinstance(phases, Phases):
            needed = phases.total + MAX_DURATION_MARGIN_S
            if value < needed:
                raise ValueError(
                    f"max_duration {format_duration(value)} is shorter than the phases "
                    f"({format_duration(phases.total)}) plus "
                    f"{format_duration(MAX_DURATION_MARGIN_S)} to start the load and report: "
                    f"make it at least {format_duration(needed)}"
                )
        return value

    @field_validator("faults")
    @classmethod
    def _az_matches_region(cls, value: list[Any], info: ValidationInfo) -> list[Any]:
        target = info.data.get("target")
        if not isinstance(target, Target):
            return value
        prefix = region_az_prefix(target.region)
        for index, fault in enumerate(value):
            if not isinstance(fault, AzLossFault) or prefix is None:
                continue
            if not fault.az_id.startswith(f"{prefix}-az"):
                raise ValueError(
                    f"faults[{index}].az_id {fault.az_id} is not in target.region "
                    f"{target.region} (its AZ IDs look like {prefix}-az1)"
                )
        return value

    @property
    def source(self) -> Path | None:
        """The file this experiment was loaded from, if any."""
        return self._source


class GamedayPlan(StrictModel):
    """A game-day plan (``kind: gameday``): experiments run in order into one report."""

    version: Literal[1]
    kind: Literal["gameday"]
    name: Name
    description: str | None = None
    experiments: list[Annotated[str, Field(min_length=1)]] = Field(
        min_length=1, description="experiment files, relative to the plan file"
    )
    schedule: str | None = Field(
        default=None, description="5-field cron expression (UTC), e.g. '0 9 * * MON-FRI'"
    )
    stop_on_failure: Annotated[bool, Strict()] = True
    runbook: str | None = None
    gate: Gate | None = Field(
        default=None,
        description="the SLO gate of every experiment of the plan (overrides theirs)",
    )
    journal: str | None = Field(
        default=None, pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$",
        description="s3://BUCKET/PREFIX: the runs' journals in the target account "
        "(default: --journal / $GAMEDAY_JOURNAL)")

    _source: Path | None = PrivateAttr(default=None)

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return value
        expected = (
            "expected 5 fields: minute hour day-of-month month day-of-week, e.g. '0 9 * * MON-FRI'"
        )
        if len(value.split()) != 5:
            raise ValueError(f"schedule is not a valid cron expression {_show(value)}: {expected}")
        try:
            from croniter import croniter
        except ImportError:  # pragma: no cover - croniter is a dependency
            return value
        if not croniter.is_valid(value):
            raise ValueError(f"schedule is not a valid cron expression {_show(value)}: {expected}")
        return value

    @property
    def source(self) -> Path | None:
        """The file this plan was loaded from, if any."""
        return self._source

    def experiment_paths(self, base: Path | None = None) -> list[Path]:
        """The experiment files, resolved against ``base`` (default: the plan's folder)."""
        if base is None:
            base = self._source.parent if self._source is not None else Path.cwd()
        return [base / item for item in self.experiments]
