"""Experiment and game-day plan YAML: models, position-aware loading, JSON Schema.

Every loading error is an ``InputError`` whose message has one line per problem, each
``FILE:LINE:COL: field.path: message`` (1-based line and column).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, TypeAdapter

from chaos.experiment.loader import (
    documents_with_lines,
    load_document,
    load_experiment,
    load_plan,
    validate_paths,
    yaml_files,
)
from chaos.experiment.model import (
    PHASE_NAMES,
    AbortWhen,
    Experiment,
    Fault,
    GamedayPlan,
    Load,
    Phases,
    SloCheck,
    StopConditions,
    Target,
    WafLoad,
)
from chaos.experiment.objective import Objective, parse_objective

__all__ = [
    "PHASE_NAMES",
    "AbortWhen",
    "Experiment",
    "Fault",
    "GamedayPlan",
    "Load",
    "Objective",
    "Phases",
    "SloCheck",
    "StopConditions",
    "Target",
    "WafLoad",
    "json_schema",
    "load_document",
    "load_experiment",
    "load_plan",
    "parse_objective",
    "documents_with_lines",
    "validate_paths",
    "yaml_files",
]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema() -> dict[str, Any]:
    """One JSON Schema (draft 2020-12) for both kinds, discriminated on ``kind``.

    Usable by the YAML language server, e.g. with a modeline
    ``# yaml-language-server: $schema=gameday.schema.json``.
    """
    adapter: TypeAdapter[Experiment | GamedayPlan] = TypeAdapter(
        Annotated[Experiment | GamedayPlan, Field(discriminator="kind")]
    )
    body = adapter.json_schema(by_alias=True, mode="validation")
    return {
        "$schema": SCHEMA_DIALECT,
        "title": "gameday experiment or game-day plan",
        "description": "A chaos experiment (kind: experiment) or a game-day plan (kind: gameday).",
        **body,
    }
