"""The lambda-extension fault's modes in the experiment YAML (PRODUCT.md, "Lambda fault
modes"): each is accepted with its fields, appears in the JSON Schema, and becomes the config
the extension reads - checked against extension/schema/config.schema.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from gameday_chaos import config as extension_config
from pydantic import ValidationError

from chaos.experiment import Experiment, json_schema
from chaos.faults.lambda_extension.spec import LambdaExtensionSpec
from tests.unit.test_experiment_model import error_text, lam

REPO = Path(__file__).resolve().parents[2]
CONFIG_SCHEMA = REPO / "extension" / "schema" / "config.schema.json"
MATCH = [
    {"path": "httpMethod", "equals": "POST"},
    {"path": "path", "prefix": "/orders"},
    {"path": "headers.x-tenant", "regex": "^t-[0-9]+$"},
    {"path": "requestContext.http", "exists": False},
]
EVERY_MODE: dict[str, Any] = {
    "latency": {"ms": 300, "jitter_ms": 50, "rate": 0.5, "match": MATCH[:1]},
    "error": {
        "status_code": 502,
        "rate": 0.2,
        "format": "api-gateway-http",
        "prevent_execution": True,
        "match": MATCH,
    },
    "exception": {"rate": 0.1, "prevent_execution": True},
    "timeout": {"rate": 0.1},
    "corruption": {"rate": 0.2, "mode": "replace", "body": '{"oops":'},
    "disk": {"mb": 64, "match": [{"path": "path", "prefix": "/orders"}]},
}


def spec_of(**modes: Any) -> LambdaExtensionSpec:
    fault = Experiment.model_validate(lam(**modes)).faults[0]
    assert isinstance(fault, LambdaExtensionSpec)
    return fault


def test_every_mode_becomes_the_config_the_extension_schema_accepts() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    spec = spec_of(**EVERY_MODE)
    text = extension_config.dump_config(spec.fault_config(), run_id="r-1", expires_at=2e9)
    document = json.loads(text)
    jsonschema.Draft202012Validator(json.loads(CONFIG_SCHEMA.read_text())).validate(document)
    faults = document["faults"]
    assert set(faults) == set(EVERY_MODE)
    assert faults["error"]["prevent_execution"] is True
    assert faults["error"]["format"] == "api-gateway-http"
    assert faults["error"]["match"] == MATCH
    assert faults["corruption"] == {"rate": 0.2, "mode": "replace", "body": '{"oops":'}
    assert faults["disk"] == {"mb": 64, "rate": 1.0, "match": [MATCH[1]]}
    # and the extension's own reader gives back the same modes
    parsed = extension_config.parse_config(text)
    assert parsed.error is not None and parsed.error.prevent_execution
    assert parsed.disk is not None and parsed.disk.mb == 64


def test_a_minimal_config_stays_compact() -> None:
    spec = spec_of(error={"rate": 0.5}, corruption={"rate": 0.5})
    assert spec.fault_config() == {
        "error": {"status_code": 503, "rate": 0.5},
        "corruption": {"rate": 0.5, "mode": "mangle"},
    }


def test_the_json_schema_describes_every_mode() -> None:
    defs = json_schema()["$defs"]
    properties = defs["LambdaExtensionSpec"]["properties"]
    assert set(extension_config.FAULT_TYPES) <= set(properties)
    assert set(defs["MatchCondition"]["properties"]) == {
        "path",
        "equals",
        "prefix",
        "regex",
        "exists",
    }
    assert defs["ErrorSpec"]["properties"]["format"]["enum"] == list(extension_config.ERROR_FORMATS)
    assert "prevent_execution" in defs["ExceptionSpec"]["properties"]
    assert defs["CorruptionSpec"]["properties"]["mode"]["enum"] == ["mangle", "replace"]


@pytest.mark.parametrize(
    ("modes", "expected"),
    [
        ({"error": {"rate": 0.6}, "corruption": {"rate": 0.6}}, "add up to 1.2"),
        (
            {"error": {"rate": 1.0, "match": [{"path": "httpMethod"}]}},
            "exactly one of equals, prefix, regex, exists (got none)",
        ),
        (
            {"error": {"rate": 1.0, "match": [{"path": "p", "equals": "a", "prefix": "b"}]}},
            "exactly one of equals, prefix, regex, exists (got equals, prefix)",
        ),
        ({"error": {"rate": 1.0, "match": [{"path": "p", "regex": "(?=x)"}]}}, "lookahead"),
        ({"corruption": {"rate": 1.0, "mode": "replace"}}, "body is required"),
        ({"corruption": {"rate": 1.0, "body": "x"}}, "only allowed with mode replace"),
        ({"disk": {"mb": 0}}, "greater than or equal to 1"),
        ({"error": {"rate": 1.0, "format": "soap"}}, "'auto'"),
        ({"error": {"rate": 1.0, "prevent_execution": "yes"}}, "valid boolean"),
    ],
)
def test_invalid_modes_are_refused_naming_the_field(modes: dict[str, Any], expected: str) -> None:
    assert expected in error_text(lam(**modes))


def test_an_unknown_mode_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="unknown field 'size'; allowed: match, mb, rate"):
        spec_of(disk={"mb": 1, "size": 2})


def test_the_telemetry_read_covers_every_mode() -> None:
    from chaos.metrics.cloudwatch import FAULT_TYPES

    assert set(FAULT_TYPES) == set(extension_config.FAULT_TYPES)
