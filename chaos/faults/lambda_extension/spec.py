"""The `lambda-extension` fault's YAML (PRODUCT.md, "Experiment YAML")."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Strict, Tag, model_validator

from chaos.faults.spec import FaultSpec
from chaos.yaml_model import NonNegInt, Rate, StrictModel

__all__ = [
    "ErrorSpec",
    "ExceptionSpec",
    "LambdaExtensionSpec",
    "LatencySpec",
    "TagSelector",
    "TimeoutSpec",
]


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


class LambdaExtensionSpec(FaultSpec):
    """Inject faults in Lambda functions through the fault-injection extension layer."""

    type: Literal["lambda-extension"]
    functions: Functions = Field(
        description="function names or ARNs ($LATEST), name:alias (the alias is shifted to a "
        "faulted version), or a tag selector"
    )
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
    def _at_least_one(self) -> LambdaExtensionSpec:
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
