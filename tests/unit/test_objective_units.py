"""Objectives mean what their units say (issue 22) and relative objectives parse (issue 24)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from chaos.errors import InputError
from chaos.experiment import load_document
from chaos.experiment.model import Experiment, SloCheck
from chaos.experiment.objective import objective_problem, parse_objective, sli_unit
from chaos.verdict.slo import evaluate_check

FULL_TEXT = (Path(__file__).parent / "fixtures" / "experiments" / "full.yaml").read_text()
P99_LINE = '  - {sli: latency_p99_ms, phase: [fault, recovery], objective: "< 1500"}'


def phase_result(p50: float, p99: float, availability: float = 1.0) -> dict[str, object]:
    slis = {
        "requests": 100,
        "availability": availability,
        "error_rate": 1 - availability,
        "latency_ms": {"p50": p50, "p90": p99, "p95": p99, "p99": p99, "max": p99},
    }
    return {"phases": {"baseline": dict(slis), "fault": dict(slis), "recovery": dict(slis)}}


# --------------------------------------------------------------------------- units


@pytest.mark.parametrize(
    ("sli", "text", "threshold"),
    [
        ("latency_p99_ms", "< 0.8s", 800.0),
        ("latency_p99_ms", "< 1500ms", 1500.0),
        ("latency_p99_ms", "< 1500", 1500.0),
        ("latency_p50_ms", "< 2s", 2000.0),
        ("waf_time_to_block_s", "<= 1500ms", 1.5),
        ("waf_time_to_block_s", "<= 60s", 60.0),
        ("recovery_time_s", "<= 10", 10.0),
        ("availability", ">= 99%", 0.99),
        ("lambda_duration_p99_ms", "< 1s", 1000.0),
    ],
)
def test_a_time_unit_on_a_time_sli_is_converted(sli: str, text: str, threshold: float) -> None:
    check = SloCheck(sli=sli, objective=text, phase="fault" if sli.startswith("l") else None)
    assert check.parsed_objective.threshold == pytest.approx(threshold)


def test_seconds_on_a_latency_judge_in_milliseconds() -> None:
    """The bug: '< 0.8s' compared 0.8 with milliseconds, so every latency failed it."""
    [fast] = evaluate_check("latency_p99_ms", ["fault"], "< 0.8s", phase_result(100, 500))
    [slow] = evaluate_check("latency_p99_ms", ["fault"], "< 0.8s", phase_result(100, 900))
    assert (fast["passed"], slow["passed"]) == (True, False)
    [median] = evaluate_check("latency_p50_ms", ["baseline"], "< 2s", phase_result(1500, 1900))
    assert median["passed"] is True


@pytest.mark.parametrize(
    ("sli", "text", "unit"),
    [
        ("latency_p99_ms", "< 10%", "%"),
        ("availability", ">= 99ms", "ms"),
        ("error_rate", "< 1s", "s"),
        ("waf_legit_blocked", "== 0%", "%"),
        ("requests", ">= 100ms", "ms"),
        ("waf_time_to_block_s", "<= 5%", "%"),
    ],
)
def test_a_unit_that_does_not_fit_the_sli_is_refused(sli: str, text: str, unit: str) -> None:
    problem = objective_problem(sli, text, ["fault"])
    assert problem is not None and f"unit {unit!r} does not fit" in problem


@pytest.mark.parametrize(
    ("old", "new", "needle"),
    [
        ('objective: "< 1500"}', 'objective: "< 10%"}', "unit '%' does not fit"),
        ('objective: ">= 99%"}', 'objective: ">= 99ms"}', "unit 'ms' does not fit"),
    ],
)
def test_validate_refuses_a_misfit_unit_at_file_line_col(
    tmp_path: Path, old: str, new: str, needle: str
) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(FULL_TEXT.replace(old, new, 1))
    with pytest.raises(InputError) as info:
        load_document(path)
    [line] = str(info.value).splitlines()
    number = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if new in text)
    column = path.read_text().splitlines()[number - 1].index("objective: ") + len("objective: ")
    column += 1  # the loader points at the value
    assert line.startswith(f"{path}:{number}:{column}: ")
    assert needle in line


def test_sli_units_come_from_the_catalog() -> None:
    assert [
        sli_unit(name)
        for name in ("latency_p99_ms", "availability", "waf_time_to_block_s", "requests", "nope")
    ] == ["ms", "fraction", "s", "count", None]


def test_abort_when_converts_units_too() -> None:
    experiment = Experiment.model_validate(
        {
            "version": 1,
            "kind": "experiment",
            "name": "x",
            "target": {"region": "us-east-1", "endpoint": "sandbox"},
            "phases": {"baseline": "5s", "fault": "5s", "recovery": "5s"},
            "faults": [],
            "stop_conditions": {
                "abort_when": {"sli": "latency_p99_ms", "objective": "> 0.8s", "for": "5s"}
            },
        }
    )
    abort_when = experiment.stop_conditions.abort_when
    assert abort_when is not None
    assert abort_when.parsed_objective.holds(900) and not abort_when.parsed_objective.holds(700)


# --------------------------------------------------------------------------- relative


@pytest.mark.parametrize(
    ("text", "reference", "factor", "value", "unit", "shown"),
    [
        ("<= 1.5x baseline", "baseline", 1.5, 0.0, "", "<= 1.5x baseline"),
        ("<=1.2x previous", "previous", 1.2, 0.0, "", "<= 1.2x previous"),
        ("<= baseline + 200ms", "baseline", 1.0, 200.0, "ms", "<= baseline + 200ms"),
        (">= baseline - 0.5%", "baseline", 1.0, -0.5, "%", ">= baseline - 0.5%"),
        ("<= previous + 50ms", "previous", 1.0, 50.0, "ms", "<= previous + 50ms"),
        ("<= baseline", "baseline", 1.0, 0.0, "", "<= baseline"),
    ],
)
def test_relative_objectives_parse(
    text: str, reference: str, factor: float, value: float, unit: str, shown: str
) -> None:
    objective = parse_objective(text)
    assert (objective.reference, objective.factor, objective.value, objective.unit) == (
        reference,
        factor,
        value,
        unit,
    )
    assert str(objective) == shown


def test_relative_offsets_convert_to_the_sli_unit() -> None:
    assert parse_objective("<= baseline + 0.2s", "latency_p95_ms").offset == pytest.approx(200)
    assert parse_objective(">= baseline - 0.5%", "availability").offset == pytest.approx(-0.005)
    assert parse_objective("<= 1.5x baseline", "latency_p99_ms").offset == 0.0


@pytest.mark.parametrize(
    ("sli", "text", "phases", "needle"),
    [
        ("latency_p99_ms", "<= 1.5x baseline + 20ms", ["fault"], "a factor and an offset"),
        ("latency_p99_ms", "== 1.5x baseline", ["fault"], "compares with >=, >, <=, <"),
        ("latency_p99_ms", "<= 0x baseline", ["fault"], "positive"),
        ("latency_p99_ms", "<= 1.5x baseline", ["baseline"], "cannot be compared with itself"),
        ("latency_p99_ms", "<= 1.5x baseline", [], "needs a phase"),
        ("waf_time_to_block_s", "<= 1.5x previous", [], "cannot be compared with the previous"),
        ("recovery_time_s", "<= baseline + 2s", ["recovery"], "cannot be compared"),
        ("availability", ">= baseline - 5ms", ["fault"], "unit 'ms' does not fit"),
        ("latency_p99_ms", "<= 1.5y baseline", ["fault"], "expected '<comparator>"),
    ],
)
def test_relative_objectives_refused_where_they_cannot_be_judged(
    sli: str, text: str, phases: list[str], needle: str
) -> None:
    problem = objective_problem(sli, text, phases)
    assert problem is not None and needle in problem


def test_relative_objective_refused_by_the_model_at_the_objective() -> None:
    with pytest.raises(ValidationError) as info:
        SloCheck(sli="latency_p99_ms", phase="baseline", objective="<= 1.5x baseline")
    assert info.value.errors()[0]["loc"] == ("objective",)
    with pytest.raises(ValidationError, match="relative objective cannot be watched"):
        Experiment.model_validate(
            {
                "version": 1,
                "kind": "experiment",
                "name": "x",
                "target": {"region": "us-east-1", "endpoint": "sandbox"},
                "phases": {"baseline": "5s", "fault": "5s", "recovery": "5s"},
                "faults": [],
                "stop_conditions": {
                    "abort_when": {
                        "sli": "latency_p99_ms",
                        "objective": "> 2x baseline",
                        "for": "5s",
                    }
                },
            }
        )


def test_relative_to_applies_to_recovery_time_only() -> None:
    SloCheck(sli="recovery_time_s", objective="<= 10s", relative_to="baseline")
    with pytest.raises(ValidationError, match="recovery_time_s only"):
        SloCheck(sli="latency_p99_ms", phase="fault", objective="< 1s", relative_to="baseline")


def test_gate_setting_validated() -> None:
    base = {
        "version": 1,
        "kind": "experiment",
        "name": "x",
        "target": {"region": "us-east-1", "endpoint": "sandbox"},
        "phases": {"baseline": "5s", "fault": "5s", "recovery": "5s"},
        "faults": [],
    }
    assert Experiment.model_validate(base).gate.model_dump() == {
        "confidence": 0.95,
        "inconclusive": "fail",
    }
    gate = Experiment.model_validate(
        {**base, "gate": {"confidence": 0.9, "inconclusive": "pass"}}
    ).gate
    assert (gate.confidence, gate.inconclusive) == (0.9, "pass")
    for bad in (
        {"confidence": 1.0},
        {"confidence": 0.5},
        {"inconclusive": "skip"},
        {"confidence": 0.9, "typo": 1},
    ):
        with pytest.raises(ValidationError):
            Experiment.model_validate({**base, "gate": bad})


def test_a_game_day_plan_gate_applies_to_all_its_experiments(tmp_path: Path) -> None:
    import argparse

    from chaos.cli.commands.experiment import _load_for_target
    from chaos.experiment import load_plan

    experiment = tmp_path / "exp.yaml"
    experiment.write_text(FULL_TEXT)
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(
        "version: 1\nkind: gameday\nname: g\nexperiments: [exp.yaml]\n"
        "gate: {confidence: 0.9, inconclusive: pass}\n"
    )
    plan = load_plan(plan_path)
    assert plan.gate is not None
    loaded = _load_for_target(argparse.Namespace(plan_gate=plan.gate), experiment)
    assert (loaded.gate.confidence, loaded.gate.inconclusive) == (0.9, "pass")
    assert loaded.source == experiment
    alone = _load_for_target(argparse.Namespace(), experiment)
    assert (alone.gate.confidence, alone.gate.inconclusive) == (0.95, "fail")
