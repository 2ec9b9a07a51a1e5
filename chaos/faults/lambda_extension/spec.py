"""The `lambda-extension` fault's YAML (PRODUCT.md, "Experiment YAML")."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from gameday_chaos import config as extension_config
from pydantic import Discriminator, Field, Strict, Tag, model_validator

from chaos.faults.spec import FaultSpec
from chaos.yaml_model import NonNegInt, Rate, StrictModel

__all__ = [
    "CorruptionSpec",
    "DiskSpec",
    "ErrorSpec",
    "ExceptionSpec",
    "FunctionEntry",
    "LambdaExtensionSpec",
    "LatencySpec",
    "MatchCondition",
    "TagSelector",
    "TimeoutSpec",
]


ErrorFormat = Literal["auto", "api-gateway-rest", "api-gateway-http", "alb", "function-url"]
EqualsValue = (
    Annotated[str, Strict()]
    | Annotated[bool, Strict()]
    | Annotated[int, Strict()]
    | Annotated[float, Strict()]
    | None
)


class MatchCondition(StrictModel):
    """One condition on an event field (a dotted path); exactly one operator."""

    path: str = Field(
        min_length=1,
        description="dotted path in the event, e.g. httpMethod or requestContext.http.method",
    )
    equals: EqualsValue = None
    prefix: str | None = None
    regex: str | None = Field(default=None, description="RE2 syntax (no lookarounds)")
    exists: Annotated[bool, Strict()] | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> MatchCondition:
        used = [
            name
            for name in ("equals", "prefix", "regex", "exists")
            if name in self.model_fields_set
        ]
        if len(used) != 1:
            raise ValueError(
                "a match condition needs exactly one of equals, prefix, regex, "
                f"exists (got {', '.join(used) or 'none'})"
            )
        return self

    def to_config(self) -> dict[str, Any]:
        return self.model_dump(include=self.model_fields_set | {"path"})


Match = Annotated[list[MatchCondition], Field(min_length=1, max_length=8)]


#: Written to the config only when they differ from the extension's own default (the
#: config is bounded: 2 KB of Lambda's 4 KB environment).
_OMITTED_DEFAULTS = {"format": "auto", "prevent_execution": False}


class _Mode(StrictModel):
    match: Match | None = Field(
        default=None,
        description="conditions on event fields, all must hold for the mode to "
        "be drawn (e.g. [{path: httpMethod, equals: POST}])",
    )

    def to_config(self) -> dict[str, Any]:
        document = {
            key: value
            for key, value in self.model_dump(exclude={"match"}, exclude_none=True).items()
            if key not in _OMITTED_DEFAULTS or _OMITTED_DEFAULTS[key] != value
        }
        if self.match:
            document["match"] = [condition.to_config() for condition in self.match]
        return document


class LatencySpec(_Mode):
    """Added latency before the handler runs."""

    ms: NonNegInt
    jitter_ms: NonNegInt = 0
    rate: Rate = 1.0


class ErrorSpec(_Mode):
    """Replace the response with an HTTP error response in the invoker's format."""

    status_code: Annotated[int, Strict(), Field(ge=400, le=599)] = 503
    rate: Rate
    format: ErrorFormat = Field(
        default="auto",
        description="response format: auto (detected from each event: API "
        "Gateway REST or HTTP API, ALB, Function URL) or one of them declared",
    )
    prevent_execution: Annotated[bool, Strict()] = Field(
        default=False,
        description="answer without running the handler (its side effects do not happen)",
    )


class ExceptionSpec(_Mode):
    """Raise in the handler (a function error)."""

    rate: Rate
    prevent_execution: Annotated[bool, Strict()] = False


class TimeoutSpec(_Mode):
    """Hang until the function times out."""

    rate: Rate


class CorruptionSpec(_Mode):
    """Replace or mangle the body the handler returned."""

    rate: Rate
    mode: Literal["mangle", "replace"] = "mangle"
    body: str | None = Field(
        default=None, description="mode replace only: the body sent instead of the handler's"
    )


class DiskSpec(_Mode):
    """Fill /tmp by `mb` megabytes (bounded by the function's EphemeralStorage)."""

    mb: Annotated[int, Strict(), Field(ge=1, le=10_240)]
    rate: Rate = 1.0


class TagSelector(StrictModel):
    """Select resources by tags (all must match)."""

    tags: dict[str, str] = Field(min_length=1)


def _functions_kind(value: Any) -> str | None:
    if isinstance(value, (dict, TagSelector)):
        return "tag-selector"
    if isinstance(value, (list, tuple)):
        return "function-names"
    return None


class FunctionEntry(StrictModel):
    """A function named with options: ``{name: orders-img, baked_in: true}``."""

    name: str = Field(min_length=1, description="function name or ARN, or name:alias")
    baked_in: Annotated[bool, Strict()] = Field(
        default=False,
        description="container-image function whose image carries the "
        'extension (extension/README.md, "Container images"): the run changes only its '
        "environment, no layer",
    )


Functions = Annotated[
    Annotated[list[str | FunctionEntry], Field(min_length=1), Tag("function-names")]
    | Annotated[TagSelector, Tag("tag-selector")],
    Discriminator(
        _functions_kind,
        custom_error_type="invalid_functions",
        custom_error_message="expected a list of function names/ARNs or a tag selector "
        "{tags: {key: value}}",
    ),
]


class LambdaExtensionSpec(FaultSpec):
    """Inject faults in Lambda functions through the fault-injection extension layer."""

    type: Literal["lambda-extension"]
    functions: Functions = Field(
        description="function names or ARNs ($LATEST), name:alias (the alias is shifted to a "
        "faulted version), {name: ..., baked_in: true} for a container image that carries "
        "the extension, or a tag selector"
    )
    latency: LatencySpec | None = None
    error: ErrorSpec | None = None
    exception: ExceptionSpec | None = None
    timeout: TimeoutSpec | None = None
    corruption: CorruptionSpec | None = None
    disk: DiskSpec | None = None
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
    def _at_least_one(self) -> LambdaExtensionSpec:
        faults = self.fault_config()
        if not faults:
            raise ValueError(
                "a lambda-extension fault needs at least one of latency, error, "
                "exception, timeout, corruption, disk"
            )
        # timeout, exception, error and corruption each replace the invocation's outcome:
        # at most one fires per invocation, so their probabilities must fit in 1.
        replacing = [
            faults[mode]["rate"] for mode in extension_config.OUTCOME_FAULTS if mode in faults
        ]
        if sum(replacing) > 1.0 + 1e-9:
            raise ValueError(
                f"the rates of {', '.join(extension_config.OUTCOME_FAULTS)} add up to "
                f"{sum(replacing):g}; at most one of them fires per invocation, so they must "
                "add up to at most 1"
            )
        # The config the extension reads is checked by its own rules (one source of truth:
        # regexes RE2 accepts, corruption's body with mode replace only, the size limit).
        try:
            extension_config.dump_config(faults, run_id="plan", expires_at=1.0)
        except extension_config.ConfigError as error:
            raise ValueError(str(error).removeprefix("faults.")) from None
        return self

    def fault_config(self) -> dict[str, dict[str, Any]]:
        """The configured modes as the extension's config documents them, by mode name."""
        specs = {
            "latency": self.latency,
            "disk": self.disk,
            "timeout": self.timeout,
            "exception": self.exception,
            "error": self.error,
            "corruption": self.corruption,
        }
        return {key: spec.to_config() for key, spec in specs.items() if spec is not None}
