"""`expiry_margin`: every fault restores itself `max_duration + expiry_margin` after the start,
the margin 5m unless the experiment says otherwise (PRODUCT.md, "Experiment YAML")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chaos.experiment import json_schema, load_experiment
from chaos.experiment.model import Experiment

FIVE_MINUTES_S = 5 * 60
EXPERIMENT = """\
version: 1
kind: experiment
name: margin
target: {region: us-east-1, account_id: "123456789012", endpoint: sandbox}
phases: {baseline: 10s, fault: 20s, recovery: 10s}
max_duration: 2m
faults:
  - {type: az-loss, az_id: use1-az1, targets: {lambda: [orders]}}
"""


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiment.yaml"
    path.write_text(text)
    return path


def test_without_expiry_margin_faults_expire_five_minutes_after_max_duration(
    tmp_path: Path,
) -> None:
    experiment = load_experiment(written(tmp_path, EXPERIMENT))

    assert experiment.expiry_margin == FIVE_MINUTES_S
    assert experiment.expiry_s == 120 + FIVE_MINUTES_S


@pytest.mark.parametrize(("written_as", "seconds"), [("10s", 10), ("1m", 60), ("15m", 900)])
def test_an_expiry_margin_the_experiment_sets_replaces_the_default(
    tmp_path: Path, written_as: str, seconds: int
) -> None:
    experiment = load_experiment(written(tmp_path, f"{EXPERIMENT}expiry_margin: {written_as}\n"))

    assert experiment.expiry_margin == seconds
    assert experiment.expiry_s == 120 + seconds


def test_the_schema_editors_complete_from_gives_the_same_default() -> None:
    margins: list[dict[str, Any]] = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict) and "expiry_margin" in node["properties"]:
                margins.append(node["properties"]["expiry_margin"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(json_schema())
    assert margins, "expiry_margin is in the schema"
    assert {margin.get("default") for margin in margins} == {FIVE_MINUTES_S}
    assert Experiment.model_fields["expiry_margin"].default == FIVE_MINUTES_S
