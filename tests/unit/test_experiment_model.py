from __future__ import annotations

import copy
import math
from typing import Any

import pytest
from pydantic import ValidationError

from chaos.experiment import (
    AbortWhen,
    Experiment,
    GamedayPlan,
    Objective,
    SloCheck,
    StopConditions,
    Target,
    json_schema,
    parse_objective,
)
from chaos.faults.az_loss.spec import AzLossSpec, AzLossTargets
from chaos.faults.lambda_extension.spec import LambdaExtensionSpec, TagSelector

BASE: dict[str, Any] = {
    "version": 1,
    "kind": "experiment",
    "name": "orders-az-loss",
    "target": {"region": "us-east-1", "account_id": "123456789012", "endpoint": "sandbox"},
    "phases": {"baseline": "30s", "fault": "2m", "recovery": 60},
    "faults": [
        {
            "type": "lambda-extension",
            "functions": ["orders"],
            "latency": {"ms": 300},
            "error": {"rate": 0.05},
        },
        {
            "type": "az-loss",
            "az_id": "use1-az1",
            "targets": {"lambda": ["orders"], "ecs_services": ["orders/web"]},
        },
    ],
}


def make(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def lam(functions: Any = ("f",), **specs: Any) -> dict[str, Any]:
    """An experiment with one lambda-extension fault."""
    names = functions if isinstance(functions, (dict, str)) else list(functions)
    fault = {"type": "lambda-extension", "functions": names, **specs}
    return make(faults=[fault])


def error_text(data: dict[str, Any], model: type[Experiment | GamedayPlan] = Experiment) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return str(info.value)


# --------------------------------------------------------------------------- objectives


@pytest.mark.parametrize(
    ("text", "comparator", "value", "unit"),
    [
        (">= 99%", ">=", 99.0, "%"),
        ("> 50%", ">", 50.0, "%"),
        ("<= 60", "<=", 60.0, ""),
        ("< 1500", "<", 1500.0, ""),
        ("== 0", "==", 0.0, ""),
        ("!= 0", "!=", 0.0, ""),
        ("<1500ms", "<", 1500.0, "ms"),
        ("<= 2.5 s", "<=", 2.5, "s"),
        (">=99.9%", ">=", 99.9, "%"),
        ("  > -3  ", ">", -3.0, ""),
        ("== 100%", "==", 100.0, "%"),
    ],
)
def test_parse_objective_accepts(text: str, comparator: str, value: float, unit: str) -> None:
    assert parse_objective(text) == Objective(comparator, value, unit)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "99%",
        ">=",
        "=> 99",
        "= 5",
        "=< 5",
        "<> 5",
        ">>= 5",
        ">= abc",
        ">= 99 %%",
        ">= 5 min",
        ">= 5 sec",
        ">= 5 MS",
        "> 5 5",
        "at least 99%",
    ],
)
def test_parse_objective_rejects(text: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_objective(text)
    message = str(info.value)
    assert "expected '<comparator> <number>[unit]'" in message
    assert ">=, >, <=, <, ==, !=" in message
    assert "%, ms, s or none" in message


@pytest.mark.parametrize("text", [">= 101%", "< -1%"])
def test_parse_objective_rejects_out_of_range_percentages(text: str) -> None:
    with pytest.raises(ValueError, match="within 0..100"):
        parse_objective(text)


@pytest.mark.parametrize(
    ("text", "observed", "holds"),
    [
        (">= 99%", 0.995, True),
        (">= 99%", 0.99, True),
        (">= 99%", 0.98, False),
        ("> 50%", 0.5, False),
        ("> 50%", 0.51, True),
        ("< 1500", 1499.9, True),
        ("< 1500", 1500, False),
        ("<= 60", 60, True),
        ("<= 60s", 60.5, False),
        ("== 0", 0, True),
        ("== 0", 1, False),
        ("!= 0", 1, True),
        ("!= 0", 0, False),
        ("== 99.9%", 0.999, True),
        ("!= 99.9%", 0.999, False),
        (">= 0", math.nan, False),
    ],
)
def test_objective_holds(text: str, observed: float, holds: bool) -> None:
    assert parse_objective(text).holds(observed) is holds


def test_objective_threshold_and_str() -> None:
    objective = parse_objective(">=99.5%")
    assert objective.threshold == pytest.approx(0.995)
    assert str(objective) == ">= 99.5%"
    assert str(parse_objective("<1500ms")) == "< 1500ms"
    assert parse_objective("< 1500").threshold == 1500.0


# --------------------------------------------------------------------------- experiment


def test_minimal_experiment_defaults() -> None:
    experiment = Experiment.model_validate(make())
    assert experiment.phases.baseline == 30.0
    assert experiment.phases.fault == 120.0
    assert experiment.phases.total == 210.0
    assert experiment.max_duration == 600.0
    assert experiment.slo == []
    assert experiment.stop_conditions == StopConditions()
    assert experiment.load is None
    assert experiment.target.is_sandbox
    az = experiment.faults[1]
    assert isinstance(az, AzLossSpec)
    assert az.mode == "pin"
    assert az.targets.lambda_ == ["orders"]
    assert az.targets.autoscaling_groups == []


def test_fault_config_returns_only_set_specs() -> None:
    fault = Experiment.model_validate(make()).faults[0]
    assert isinstance(fault, LambdaExtensionSpec)
    assert fault.fault_config() == {
        "latency": {"ms": 300, "jitter_ms": 0, "rate": 1.0},
        "error": {"status_code": 503, "rate": 0.05},
    }


def test_lambda_fault_needs_at_least_one_spec() -> None:
    data = lam()
    assert "at least one of latency, error, exception, timeout" in error_text(data)


def test_functions_may_be_a_tag_selector() -> None:
    data = lam({"tags": {"team": "orders"}}, timeout={"rate": 1})
    fault = Experiment.model_validate(data).faults[0]
    assert isinstance(fault, LambdaExtensionSpec)
    assert fault.functions == TagSelector(tags={"team": "orders"})


@pytest.mark.parametrize(
    ("functions", "fragment"),
    [
        ([], "at least 1 item"),
        ({"tags": {}}, "at least 1 item"),
        ("orders", "expected a list of function names/ARNs or a tag selector"),
    ],
)
def test_functions_invalid(functions: Any, fragment: str) -> None:
    data = lam(functions, exception={"rate": 1})
    assert fragment in error_text(data)


def test_spec_ranges() -> None:
    assert "less than or equal to 1" in error_text(lam(exception={"rate": 1.5}))
    assert "greater than or equal to 400" in error_text(lam(error={"status_code": 200, "rate": 1}))
    assert "greater than or equal to 0" in error_text(lam(latency={"ms": -1}))
    assert "error.rate\n  Field required" in error_text(lam(error={}))
    assert "Input should be a valid integer" in error_text(lam(latency={"ms": 1.5}))


def test_unknown_key_suggests_the_closest_field() -> None:
    data = lam(lantency={"ms": 1})
    assert "unknown field 'lantency' (did you mean 'latency'?)" in error_text(data)
    targets = {"lamda": ["f"]}
    assert "did you mean 'lambda'?" in error_text(
        make(faults=[{"type": "az-loss", "az_id": "use1-az1", "targets": targets}])
    )


def test_az_loss_targets_accept_name_and_alias() -> None:
    assert AzLossTargets.model_validate({"lambda": ["a"]}).lambda_ == ["a"]
    assert AzLossTargets.model_validate({"lambda_": ["a"]}).lambda_ == ["a"]
    assert AzLossTargets.model_validate({"tags": {"app": "x"}}).tags == {"app": "x"}
    with pytest.raises(ValidationError, match="name at least one target"):
        AzLossTargets.model_validate({"lambda": []})
    with pytest.raises(ValidationError, match="cluster/service"):
        AzLossTargets.model_validate({"ecs_services": ["web"]})


def test_az_name_is_refused_with_a_specific_message() -> None:
    data = make(faults=[{"type": "az-loss", "az_id": "us-east-1a", "targets": {"lambda": ["f"]}}])
    text = error_text(data)
    assert (
        "az_id must be an AZ ID such as use1-az1, not an AZ name (us-east-1a): names map to "
        "different zones in every account; run `gameday az-map`"
    ) in text


def test_az_id_garbage_and_region_mismatch() -> None:
    data = make(faults=[{"type": "az-loss", "az_id": "zone-1", "targets": {"lambda": ["f"]}}])
    assert "az_id must be an AZ ID such as use1-az1, not 'zone-1'" in error_text(data)
    data = make(faults=[{"type": "az-loss", "az_id": "euw1-az2", "targets": {"lambda": ["f"]}}])
    expected = "euw1-az2 is not in target.region us-east-1 (its AZ IDs look like use1-az1)"
    assert expected in error_text(data)
    data["target"] = {"region": "eu-west-1"}
    assert Experiment.model_validate(data).target.region == "eu-west-1"


@pytest.mark.parametrize(
    ("account_id", "fragment"),
    [
        (123456789012, 'account_id must be a quoted string such as "123456789012"'),
        ("12345", "exactly 12 digits"),
        ("12345678901a", "exactly 12 digits"),
    ],
)
def test_account_id(account_id: Any, fragment: str) -> None:
    assert fragment in error_text(make(target={"region": "us-east-1", "account_id": account_id}))


def test_account_id_with_leading_zero_is_kept() -> None:
    target = Target.model_validate({"region": "us-east-1", "account_id": "012345678901"})
    assert target.account_id == "012345678901"
    assert not target.is_sandbox


@pytest.mark.parametrize("endpoint", ["ftp://host/x", "abc", "http://", "sandboxes"])
def test_endpoint_invalid(endpoint: str) -> None:
    assert 'endpoint must be "sandbox" or an http(s) URL' in error_text(
        make(target={"region": "us-east-1", "endpoint": endpoint})
    )


@pytest.mark.parametrize("region", ["us-east-1", "ap-southeast-2", "us-gov-west-1", "eu-central-2"])
def test_region_valid(region: str) -> None:
    assert Target(region=region).region == region


@pytest.mark.parametrize("region", ["us-east", "US-EAST-1", "useast1", "us-east-1a"])
def test_region_invalid(region: str) -> None:
    with pytest.raises(ValidationError):
        Target(region=region)


def test_fault_phase_must_be_positive_and_max_duration_must_cover_phases() -> None:
    data = make(phases={"baseline": 0, "fault": 0, "recovery": 0})
    assert "the fault phase must be longer than 0s" in error_text(data)
    data = make(phases={"baseline": "5m", "fault": "5m", "recovery": "1m"})
    text = error_text(data)
    assert "max_duration 10m is shorter than the phases (11m) plus 30s" in text
    assert "make it at least 11m30s" in text
    data["max_duration"] = "11m30s"
    assert Experiment.model_validate(data).max_duration == 690.0


def test_name_slug() -> None:
    assert "String should match pattern" in error_text(make(name="Orders_AZ"))
    assert "String should match pattern" in error_text(make(name="a" * 64))
    assert Experiment.model_validate(make(name="a" * 63)).name == "a" * 63


def test_slo_phase_and_objective() -> None:
    check = SloCheck(sli="latency_p99_ms", phase=["fault", "recovery"], objective="< 1500")
    assert check.phases == ["fault", "recovery"]
    assert check.parsed_objective == Objective("<", 1500.0, "")
    assert SloCheck(sli="x", objective="== 0").phases == []
    with pytest.raises(ValidationError, match="unknown phase 'faults'"):
        SloCheck(sli="x", phase="faults", objective="== 0")
    with pytest.raises(ValidationError, match="must not be empty"):
        SloCheck(sli="x", phase=[], objective="== 0")
    with pytest.raises(ValidationError, match="invalid objective"):
        SloCheck(sli="x", objective="≥ 99%")


def test_abort_when_uses_for_alias() -> None:
    abort = AbortWhen.model_validate({"sli": "error_rate", "objective": "> 50%", "for": "20s"})
    assert abort.for_ == 20.0
    assert abort.parsed_objective.holds(0.6)
    with pytest.raises(ValidationError, match="did you mean 'for'"):
        AbortWhen.model_validate({"sli": "error_rate", "objective": "> 50%", "fro": "20s"})


def test_models_are_frozen() -> None:
    experiment = Experiment.model_validate(make())
    with pytest.raises(ValidationError):
        experiment.name = "other"


# --------------------------------------------------------------------------- plan


PLAN: dict[str, Any] = {
    "version": 1,
    "kind": "gameday",
    "name": "weekly",
    "experiments": ["a.yaml"],
}


def test_plan_defaults_and_cron() -> None:
    plan = GamedayPlan.model_validate({**PLAN, "schedule": "0 9 * * MON-FRI"})
    assert plan.stop_on_failure is True
    assert plan.schedule == "0 9 * * MON-FRI"
    assert plan.runbook is None


@pytest.mark.parametrize("cron", ["0 25 * * *", "61 * * * *", "* * *", "0 0 9 * * MON", "soon"])
def test_plan_bad_cron(cron: str) -> None:
    assert "schedule is not a valid cron expression" in error_text(
        {**PLAN, "schedule": cron}, GamedayPlan
    )


def test_plan_needs_experiments() -> None:
    assert "at least 1 item" in error_text({**PLAN, "experiments": []}, GamedayPlan)


# --------------------------------------------------------------------------- schema


def test_json_schema_covers_both_kinds() -> None:
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"]
    assert schema["discriminator"]["propertyName"] == "kind"
    assert set(schema["discriminator"]["mapping"]) == {"experiment", "gameday"}
    assert len(schema["oneOf"]) == 2
    defs = schema["$defs"]
    assert defs["Experiment"]["additionalProperties"] is False
    assert "lambda" in defs["AzLossTargets"]["properties"]
    assert "for" in defs["AbortWhen"]["properties"]
    assert defs["AzLossSpec"]["properties"]["az_id"]["pattern"] == r"^[a-z]{2,5}\d{1,2}-az\d{1,2}$"


def test_json_schema_validates_documents() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    validator = jsonschema.Draft202012Validator(json_schema())
    validator.validate(make(max_duration="10m"))
    validator.validate({**PLAN, "schedule": "0 9 * * *"})
    assert not validator.is_valid(make(bogus=1))
    assert not validator.is_valid(make(kind="other"))
    assert not validator.is_valid(make(phases={"baseline": "soon", "fault": 1, "recovery": 1}))
