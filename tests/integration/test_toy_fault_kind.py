"""A fault kind is one folder plus one registry line: a toy kind from a test folder,
registered by a fixture only, is validated by the loader (FILE:LINE:COL errors), appears in
the JSON Schema, in `gameday plan` and in `gameday iam-policy` (issue 21, acceptance 1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.cli import main
from chaos.errors import InputError
from chaos.experiment import json_schema, load_experiment
from chaos.faults import FAULT_KINDS, FAULT_TYPES, FaultKind, register, unregister
from chaos.run.permissions import experiment_policy
from tests.integration.conftest import ACCOUNT_ID, REGION
from tests.integration.toy_kind.kind import ToyNoteFault
from tests.integration.toy_kind.spec import ToyNoteSpec


@pytest.fixture
def toy_kind() -> Iterator[type[FaultKind]]:
    register(ToyNoteFault)
    yield ToyNoteFault
    unregister(ToyNoteFault.type_name)


def toy_experiment(tmp_path: Path, note: str = "hello") -> Path:
    path = tmp_path / "toy.yaml"
    path.write_text(
        "version: 1\nkind: experiment\nname: toy-check\n"
        f'target: {{region: {REGION}, account_id: "{ACCOUNT_ID}"}}\n'
        "phases: {baseline: 0s, fault: 100ms, recovery: 0s}\n"
        "max_duration: 1m\n"
        "faults:\n"
        "  - type: toy-note\n"
        "    function: orders\n"
        f"    note: {note}\n",
        encoding="utf-8",
    )
    return path


def test_an_unregistered_kind_is_an_unknown_type(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        load_experiment(toy_experiment(tmp_path))
    assert "toy-note" in str(info.value) and "lambda-extension" in str(info.value)


def test_the_loader_validates_a_registered_kind(toy_kind: type[FaultKind], tmp_path: Path) -> None:
    assert "toy-note" in FAULT_TYPES
    [fault] = load_experiment(toy_experiment(tmp_path)).faults
    assert isinstance(fault, ToyNoteSpec) and fault.note == "hello"
    path = toy_experiment(tmp_path, note="x" * 101)
    with pytest.raises(InputError) as info:
        load_experiment(path)
    [line] = str(info.value).splitlines()
    assert line.startswith(f"{path}:10:11: faults[0].note: ")
    assert "at most 100 characters" in line


def test_the_json_schema_has_the_registered_kind(toy_kind: type[FaultKind]) -> None:
    schema = json_schema()
    assert schema["$defs"]["ToyNoteSpec"]["properties"]["type"]["const"] == "toy-note"
    fault_item = schema["$defs"]["Experiment"]["properties"]["faults"]["items"]
    assert fault_item["discriminator"]["mapping"]["toy-note"] == "#/$defs/ToyNoteSpec"


def test_gameday_plan_plans_the_registered_kind(
    toy_kind: type[FaultKind], aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", str(toy_experiment(tmp_path))]) == 0
    output = capsys.readouterr().out
    assert "toy-note on lambda:orders" in output
    assert "note 'hello' on orders" in output


def test_the_policy_grants_the_registered_kind(toy_kind: type[FaultKind], tmp_path: Path) -> None:
    policy = experiment_policy(load_experiment(toy_experiment(tmp_path)), ACCOUNT_ID)
    by_sid = {statement["Sid"]: statement for statement in policy["Statement"]}
    assert by_sid["ToyNote0"]["Action"] == ["lambda:GetFunction"]
    assert by_sid["ToyNote0"]["Resource"] in (
        function_arn := f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:orders",
        [function_arn],
    )


def test_unregistering_removes_the_kind_again(tmp_path: Path) -> None:
    register(ToyNoteFault)
    unregister(ToyNoteFault.type_name)
    assert "toy-note" not in FAULT_KINDS
    assert "ToyNoteSpec" not in json_schema()["$defs"]
