"""`gameday plan` and `validate` say whether each check's phase can decide its objective."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.cli import main
from chaos.experiment import load_experiment
from chaos.run.plan_view import evidence_warnings
from chaos.verdict.planning import estimate_load, evidence_plans, locustfile_rate, plan_lines

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = REPO / "loadtests" / "orders.py"


def experiment_file(tmp_path: Path, slo: str, users: int = 10, phases: str = "15s") -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(
        "version: 1\nkind: experiment\nname: plan-evidence\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        f"phases: {{baseline: {phases}, fault: {phases}, recovery: {phases}}}\n"
        "max_duration: 1h\nfaults: []\n"
        f"load: {{locustfile: {LOCUSTFILE}, users: {users}, spawn_rate: 5}}\n"
        f"slo:\n{slo}"
    )
    return path


@pytest.mark.parametrize(
    ("source", "rate"),
    [
        ("wait_time = between(0.5, 2.0)", 1 / 1.3),
        ("wait_time = constant(1)", 1 / 1.05),
        ("wait_time = constant_pacing(2)", 0.5),
        ("wait_time = locust.constant_throughput(4)", 4.0),
    ],
)
def test_locustfile_rate_is_read_without_running_it(
    tmp_path: Path, source: str, rate: float
) -> None:
    path = tmp_path / "locustfile.py"
    path.write_text(f"import locust\nraise SystemExit('never run')\nclass U:\n    {source}\n")
    found = locustfile_rate(path)
    assert found is not None and found[0] == pytest.approx(rate)


def test_unknown_wait_time_assumes_one_request_per_user_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "lf.py").write_text("class U:\n    wait_time = custom()\n")
    path = tmp_path / "exp.yaml"
    path.write_text(
        experiment_file(tmp_path, '  - {sli: availability, phase: fault, objective: ">= 99%"}\n')
        .read_text()
        .replace(str(LOCUSTFILE), "lf.py")
    )
    estimate = estimate_load(load_experiment(path))
    assert estimate is not None and estimate.rps_per_user == 1.0
    assert "assumed" in estimate.basis


def test_plan_says_a_p99_over_120_requests_cannot_be_decided(tmp_path: Path) -> None:
    path = experiment_file(
        tmp_path, '  - {sli: latency_p99_ms, phase: recovery, objective: "< 1500"}\n', users=8
    )
    planned = evidence_plans(load_experiment(path))
    assert planned is not None
    [plan], basis = planned
    assert plan.expected_requests == pytest.approx(92, abs=2)  # 8 users x 15 s / 1.3 s
    assert not plan.decisive and plan.never_decisive
    assert plan.requests_needed is not None and plan.requests_needed > 299
    [head, line] = plan_lines(load_experiment(path))
    assert head.startswith("evidence (gate: confidence 95 %, inconclusive fail)")
    assert line.startswith(
        "  - latency_p99_ms, recovery: ~92 requests (8 users, wait_time "
        "between(0.5, 2) in orders.py) — needs about "
    )
    assert "for a p99 to show it below 1500 ms at 95 %" in line
    assert line.endswith("too few: it will be inconclusive, which the gate counts as a failure")


def test_plan_says_enough_when_the_load_is_enough(tmp_path: Path) -> None:
    path = experiment_file(
        tmp_path,
        '  - {sli: latency_p95_ms, phase: fault, objective: "< 1500"}\n',
        users=50,
        phases="60s",
    )
    [line] = plan_lines(load_experiment(path))[1:]
    assert line.endswith(": enough")


def test_validate_warns_at_file_line_col_and_still_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = experiment_file(
        tmp_path,
        '  - {sli: availability, phase: fault, objective: ">= 99%"}\n'
        '  - {sli: latency_p99_ms, phase: fault, objective: "< 2s"}\n',
    )
    [warning] = evidence_warnings([path])
    line = (
        path.read_text()
        .splitlines()
        .index('  - {sli: latency_p99_ms, phase: fault, objective: "< 2s"}')
        + 1
    )
    assert warning.startswith(f"{path}:{line}:")
    assert "warning: latency_p99_ms in phase fault can never be decisive" in warning
    assert main(["validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert "can never be decisive" in captured.err and "ok: 1 path(s) valid" in captured.out


def test_validate_is_quiet_when_every_check_can_be_decided(tmp_path: Path) -> None:
    path = experiment_file(
        tmp_path,
        '  - {sli: latency_p95_ms, phase: fault, objective: "< 1500"}\n',
        users=50,
        phases="60s",
    )
    assert evidence_warnings([path]) == []


def test_relative_checks_plan_a_floor_or_an_assumed_unchanged_service(tmp_path: Path) -> None:
    path = experiment_file(
        tmp_path,
        '  - {sli: latency_p99_ms, phase: fault, objective: "<= 1.5x previous"}\n'
        '  - {sli: availability, phase: recovery, objective: ">= baseline - 0.5%"}\n',
    )
    _, p99, availability = plan_lines(load_experiment(path))
    assert "needs at least " in p99 and "for any upper bound on a p99" in p99
    assert p99.endswith("which the gate counts as a failure")
    assert "for an unchanged service (assumed 99.9 %)" in availability
    assert availability.endswith("which the gate counts as a failure")
