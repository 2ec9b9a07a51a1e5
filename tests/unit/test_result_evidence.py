"""result.json keeps each phase's per-second evidence (legitimate traffic, empty seconds
included) and the gate it was judged at: the verdicts are a function of result.json alone."""

from __future__ import annotations

import json
from pathlib import Path

from chaos.verdict.sample import sample_from_record
from chaos.verdict.slo import evaluate_check
from tests.unit.assembled import EXPERIMENT, PHASE_S, assembled


def test_each_phase_keeps_its_seconds_and_they_add_up_to_its_slis(tmp_path: Path) -> None:
    result = assembled(tmp_path)
    for name in ("baseline", "fault", "recovery"):
        phase = result["phases"][name]
        sample = sample_from_record(phase["evidence"])
        assert PHASE_S - 2 <= sample.seconds <= PHASE_S  # whole seconds (cut ones in no phase)
        assert sample.total_requests == phase["requests"]
        assert sample.total_failures == round(phase["error_rate"] * phase["requests"])
        for key, percent in (("p50", 50), ("p99", 99), ("max", 100)):
            assert sample.percentile(percent) == phase["latency_ms"][key]
    assert result["gate"] == {"confidence": 0.95, "inconclusive": "fail"}
    json.dumps(result, allow_nan=False)


def test_gate_setting_and_relative_checks_travel_into_result_json(tmp_path: Path) -> None:
    text = EXPERIMENT.replace("load:", "gate: {confidence: 0.9, inconclusive: pass}\nload:")
    text += (
        '  - {sli: latency_p99_ms, phase: recovery, objective: "<= 2x baseline"}\n'
        if "\nslo:\n" in text
        else 'slo:\n  - {sli: latency_p99_ms, phase: recovery, objective: "<= 2x baseline"}\n'
    )
    result = assembled(tmp_path, experiment_text=text)
    assert result["gate"] == {"confidence": 0.9, "inconclusive": "pass"}
    [check] = [entry for entry in result["slo"] if entry["objective"] == "<= 2x baseline"]
    assert check["verdict"] in ("passed", "failed", "inconclusive")
    assert check["interval"]["confidence"] == 0.9 and check["effect"] == "ratio"
    again = json.loads(json.dumps(result))
    assert evaluate_check("latency_p99_ms", ["recovery"], "<= 2x baseline", again) == [check]
    assert all("verdict" in entry and "interval" in entry for entry in result["slo"])
