"""The golden vectors shared with the Go extension (extension/schema/vectors/).

Config vectors run through gameday_chaos.config and the JSON Schema; decision vectors run
through the packaged binary of this machine's architecture (`gameday-chaos vectors`), so
the committed bytes decide as the Go tests say the source does.
"""

from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from gameday_chaos import config as c

from chaos.faults.lambda_extension.layer import binary_path

SCHEMA_DIR = Path(c.__file__).resolve().parents[1] / "schema"
SCHEMA = json.loads((SCHEMA_DIR / "config.schema.json").read_text())
CONFIG_VECTORS = json.loads((SCHEMA_DIR / "vectors" / "config.json").read_text())
DECISION_VECTORS = json.loads((SCHEMA_DIR / "vectors" / "decisions.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def _ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["name"] for case in cases]


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    modes = set(SCHEMA["properties"]["faults"]["properties"])
    assert modes == set(c.FAULT_TYPES)
    for mode, spec in SCHEMA["properties"]["faults"]["properties"].items():
        assert set(spec["properties"]) == set(c._FIELDS[mode]), mode
    assert SCHEMA["properties"]["version"] == {"const": c.SCHEMA_VERSION}


@pytest.mark.parametrize("vector", CONFIG_VECTORS["valid"], ids=_ids(CONFIG_VECTORS["valid"]))
def test_valid_config_vectors(vector):
    text = c.dump_config(vector["faults"], run_id=vector["run_id"], expires_at=vector["expires_at"])
    assert text == vector["config"]
    assert c.parse_config(text).faults() == vector["normalized"]
    VALIDATOR.validate(json.loads(text))


@pytest.mark.parametrize(
    "vector", CONFIG_VECTORS["legacy_v1"], ids=_ids(CONFIG_VECTORS["legacy_v1"])
)
def test_version_1_vectors(vector):
    parsed = c.parse_config(json.dumps(vector["document"]))
    assert parsed.version == 1 and parsed.faults() == vector["normalized"]


@pytest.mark.parametrize("vector", CONFIG_VECTORS["invalid"], ids=_ids(CONFIG_VECTORS["invalid"]))
def test_invalid_config_vectors(vector):
    text = vector["text"] if "text" in vector else json.dumps(vector["document"])
    with pytest.raises(c.ConfigError) as info:
        c.parse_config(text)
    assert vector["error_field"] in str(info.value)
    document = vector.get("document")
    if document is None:
        return
    assert VALIDATOR.is_valid(document) is not vector["schema_rejects"]
    if document.get("version") == 2 and set(document) == {
        "version",
        "run_id",
        "expires_at",
        "faults",
    }:
        with pytest.raises(c.ConfigError) as info:
            c.dump_config(
                document["faults"], run_id=document["run_id"], expires_at=document["expires_at"]
            )
        assert vector["error_field"] in str(info.value)


def _host_architecture() -> str:
    machine = platform.machine()
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}[machine]


def test_decision_vectors_through_the_packaged_binary():
    cases = DECISION_VECTORS["cases"]
    assert len(cases) >= 20
    for case in cases:  # every config a vector uses is one the toolkit accepts
        c.parse_config(json.dumps(case["config"]))
        expected = case["expect"]
        assert expected["draws_used"] <= len(case["draws"]), case["name"]
        if expected["outcome"] is not None:
            assert expected["outcome"] in case["config"]["faults"], case["name"]
    inputs = [{key: value for key, value in case.items() if key != "expect"} for case in cases]
    done = subprocess.run(
        [str(binary_path(_host_architecture())), "vectors"],
        input=json.dumps(inputs),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    results = json.loads(done.stdout)
    mismatches = [
        (case["name"], result)
        for case, result in zip(cases, results, strict=True)
        if result != case["expect"]
    ]
    assert mismatches == []


def test_injected_error_keeps_the_marker_the_load_recognises():
    from chaos.load.response_signs import MARKER_HEADER

    assert c.MARKER_HEADER.lower() == MARKER_HEADER
    responses = [
        json.loads(case["expect"]["response"])
        for case in DECISION_VECTORS["cases"]
        if case["expect"]["outcome"] == "error"
    ]
    assert responses
    for response in responses:
        headers = response.get("headers") or {
            name: values[0] for name, values in response["multiValueHeaders"].items()
        }
        assert headers[c.MARKER_HEADER] == "error"
