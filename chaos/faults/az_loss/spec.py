"""The `az-loss` fault's YAML (PRODUCT.md, "Experiment YAML")."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from chaos.durations import Duration, format_duration
from chaos.faults.spec import FaultSpec
from chaos.janitor import MAX_CONVERGE_TIMEOUT_S
from chaos.yaml_model import StrictModel, show_value

__all__ = ["AZ_ID_PATTERN", "AzLossSpec", "AzLossTargets", "region_az_prefix"]

AZ_ID_PATTERN = r"^[a-z]{2,5}\d{1,2}-az\d{1,2}$"
_AZ_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}[a-z]$")
_COMPASS = {
    "east": "e", "west": "w", "north": "n", "south": "s", "central": "c",
    "northeast": "ne", "northwest": "nw", "southeast": "se", "southwest": "sw",
}  # fmt: skip


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
                raise ValueError(
                    f"ECS services are written cluster/service, not {show_value(item)}"
                )
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


class AzLossSpec(FaultSpec):
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
                "this long for capacity besides its own work"
            )
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
            f"az_id must be an AZ ID such as use1-az1, not {show_value(value)}; "
            "run `gameday az-map`"
        )

    def target_problem(self, region: str) -> str | None:
        prefix = region_az_prefix(region)
        if prefix is None or self.az_id.startswith(f"{prefix}-az"):
            return None
        return (
            f"az_id {self.az_id} is not in target.region {region} "
            f"(its AZ IDs look like {prefix}-az1)"
        )
