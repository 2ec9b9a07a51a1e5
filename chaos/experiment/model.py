"""The experiment and game-day plan YAML formats as pydantic models.

Field names are the contract of PRODUCT.md ("Experiment YAML"). Every model forbids
unknown keys (with a did-you-mean), is frozen, and accepts both field names and aliases
(``lambda``/``lambda_``, ``for``/``for_``).
"""

from __future__ import annotations

import operator
import re
from functools import reduce
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    Field,
    GetCoreSchemaHandler,
    PrivateAttr,
    Strict,
    ValidationInfo,
    field_validator,
)
from pydantic_core import CoreSchema

from chaos.durations import Duration, format_duration
from chaos.experiment.objective import Objective, objective_problem, parse_objective
from chaos.faults import FAULT_KINDS, on_registry_change
from chaos.faults.spec import FaultSpec
from chaos.metrics.catalog import LIVE_SLIS, RECOVERY_TIME
from chaos.phases import PHASES as PHASE_NAMES
from chaos.yaml_model import NonNegInt, StrictModel, show_value

__all__ = [
    "PHASE_NAMES",
    "AbortWhen",
    "Experiment",
    "Fault",
    "GamedayPlan",
    "Gate",
    "Load",
    "Phases",
    "SloCheck",
    "StopConditions",
    "Target",
    "WafLoad",
]

#: Extra time allowed beyond the sum of the phases for starting the load and reporting.
#: Injection and restore do not count against max_duration (they are bounded by the
#: faults' own expiry, max_duration + expiry_margin).
MAX_DURATION_MARGIN_S = 30.0

#: Ranges of the load and the phases (docs/reference.md shows them). Beyond them a value is
#: a typo, not a game day: refused by `validate`, not found by a run that ramps for hours.
#: One Locust process drives ~6-12k requests/s; 100,000 users need workers anyway.
MAX_USERS = 100_000
MAX_SPAWN_RATE = 10_000.0
MAX_WORKERS = 256
MAX_REMOTE_WORKERS = 1_000
MAX_PHASE_S = 24 * 3600.0

NAME_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
REGION_PATTERN = r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$"
ACCOUNT_ID_PATTERN = r"^\d{12}$"
Name = Annotated[
    str,
    Field(
        pattern=NAME_PATTERN,
        description="lowercase letters, digits and dashes; starts with a letter or digit; "
        "at most 63 characters",
    ),
]


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

    @field_validator("baseline", "fault", "recovery")
    @classmethod
    def _at_most_a_day(cls, value: float, info: ValidationInfo) -> float:
        if value > MAX_PHASE_S:
            raise ValueError(
                f"the {info.field_name} phase lasts {format_duration(value)}; a "
                f"phase lasts at most {format_duration(MAX_PHASE_S)}"
            )
        return value

    @property
    def total(self) -> float:
        return self.baseline + self.fault + self.recovery


# --------------------------------------------------------------------------- faults


class _RegisteredFaults:
    """Pydantic's schema of one `faults` entry: the union of the registered kinds' specs,
    discriminated on `type` (chaos.faults); rebuilt when a kind registers."""

    @staticmethod
    def __get_pydantic_core_schema__(source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        models = [kind.spec_model() for kind in FAULT_KINDS.values()]
        if len(models) == 1:
            return handler(models[0])
        return handler(Annotated[reduce(operator.or_, models), Field(discriminator="type")])


#: One entry of `faults`: the spec of a registered fault kind.
Fault = Annotated[FaultSpec, _RegisteredFaults()]


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
    users: Annotated[int, Strict(), Field(ge=1, le=MAX_USERS)]
    spawn_rate: Annotated[float, Strict(), Field(gt=0, le=MAX_SPAWN_RATE)] = Field(
        description="users started per second"
    )
    workers: NonNegInt = Field(
        default=0, le=MAX_WORKERS, description="local Locust worker processes"
    )
    remote_workers: NonNegInt = Field(
        default=0,
        le=MAX_REMOTE_WORKERS,
        description="`gameday load worker` processes (any machine) the master waits for",
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
                f"master_bind must be HOST:PORT, e.g. 0.0.0.0:5557, not {show_value(value)}"
            )
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
            raise ValueError(
                "abort_when watches live values: a relative objective cannot "
                "be watched (write a number)"
            )
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
                raise ValueError(f"unknown phase {show_value(item)}; expected one of {allowed}")
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
        default=0.95, description="confidence of each one-sided bound, in (0.5, 1)"
    )
    inconclusive: Literal["fail", "pass"] = Field(
        default="fail", description="fail (default): an inconclusive check fails the gate"
    )


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
        description="every fault restores itself max_duration + this after the start (default 5m)",
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

    @field_validator("load")
    @classmethod
    def _ramps_within_the_run(cls, value: Load | None, info: ValidationInfo) -> Load | None:
        phases = info.data.get("phases")
        if value is None or not isinstance(phases, Phases):
            return value
        ramp_s = value.users / value.spawn_rate
        if ramp_s > phases.total:
            raise ValueError(
                f"{value.users} users at spawn_rate {value.spawn_rate:g}/s take "
                f"{format_duration(ramp_s)} to start, longer than the phases "
                f"({format_duration(phases.total)}): raise spawn_rate"
            )
        return value

    @field_validator("faults")
    @classmethod
    def _faults_fit_target(cls, value: list[FaultSpec], info: ValidationInfo) -> list[FaultSpec]:
        target = info.data.get("target")
        if not isinstance(target, Target):
            return value
        for index, fault in enumerate(value):
            problem = fault.target_problem(target.region)
            if problem:
                raise ValueError(f"faults[{index}].{problem}")
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
        default=None,
        pattern=r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?$",
        description="s3://BUCKET/PREFIX: the runs' journals in the target account "
        "(default: --journal / $GAMEDAY_JOURNAL)",
    )

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
            raise ValueError(
                f"schedule is not a valid cron expression {show_value(value)}: {expected}"
            )
        try:
            from croniter import croniter
        except ImportError:  # pragma: no cover - croniter is a dependency
            return value
        if not croniter.is_valid(value):
            raise ValueError(
                f"schedule is not a valid cron expression {show_value(value)}: {expected}"
            )
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


def _rebuild_with_registered_faults() -> None:
    Experiment.model_rebuild(force=True)


on_registry_change(_rebuild_with_registered_faults)
