"""A synthetic but realistic run result: ~90 s of rows over 3 phases, 2 faults, WAF load.

Built through the real pipeline (rows -> streaming aggregation -> evaluate_slos), so report tests
exercise what a run produces, not a hand-written dict.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import Any

from chaos.experiment.model import SloCheck
from chaos.metrics.attribution import boundary_periods, period_shares
from chaos.metrics.rows import SecondRow
from chaos.metrics.settle import minute_window
from chaos.verdict.slo import evaluate_slos, slo_outcome
from tests.reference.streaming import stream_measure

START = 1_700_000_000  # epoch seconds of the baseline start
PHASE_S = 30
HOSTILE_NAME = 'orders<img src=x onerror="alert(1)">&|`*'


def iso(epoch_s: float) -> str:
    stamp = datetime.fromtimestamp(epoch_s, timezone.utc).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def minutes_covering(start: float, end: float) -> dict[str, Any]:
    first, last = minute_window(start, end)
    return {"from": iso(first), "to": iso(last), "count": int((last - first) // 60)}


def unsettled(result: dict[str, Any]) -> dict[str, Any]:
    """The same result as when CloudWatch had not settled before the bound."""
    for phase in result["phases"].values():
        phase["server_side"]["settled"] = False
    result["server_side"]["settled"] = False
    result["waf"]["cloudwatch_settled"] = False
    return result


def phase_windows() -> dict[str, tuple[float, float]]:
    return {
        "baseline": (START + 0.0, START + PHASE_S + 0.0),
        "fault": (START + PHASE_S + 0.0, START + 2 * PHASE_S + 0.0),
        "recovery": (START + 2 * PHASE_S + 0.0, START + 3 * PHASE_S + 0.0),
    }


def _row(
    second: int,
    user_class: str,
    endpoint: str,
    latencies: list[float],
    failures: int,
    traffic: str = "normal",
    blocked: int = 0,
) -> SecondRow:
    row = SecondRow(
        second=second,
        user_class=user_class,
        endpoint=endpoint,
        traffic=traffic,  # type: ignore[arg-type]
        requests=len(latencies),
        failures=failures,
        blocked=blocked,
    )
    ok = len(latencies) - failures - blocked
    row.status_classes = {"2xx": max(ok, 0), "5xx": failures, "4xx": blocked}
    for latency in latencies:
        row.histogram.record(latency)
    return row


def synthetic_rows(seed: int = 7) -> list[SecondRow]:
    rng = random.Random(seed)
    rows: list[SecondRow] = []
    for offset in range(3 * PHASE_S):
        second = START + offset
        in_fault = PHASE_S <= offset < 2 * PHASE_S
        early_recovery = 2 * PHASE_S <= offset < 2 * PHASE_S + 4
        for user_class, endpoint, rate in (
            ("Shopper", "GET /orders", 30),
            ("Buyer", "POST /orders", 15),
        ):
            count = rate + rng.randint(-3, 3)
            extra = 300 + rng.uniform(-100, 100) if in_fault else 0.0
            latencies = [rng.lognormvariate(4.2, 0.35) + extra for _ in range(count)]
            error_rate = 0.06 if in_fault else 0.3 if early_recovery else 0.0
            failures = sum(1 for _ in range(count) if rng.random() < error_rate)
            rows.append(_row(second, user_class, endpoint, latencies, failures))
        # one abusive client over the limit, blocked from 12 s on; legit clients never blocked
        abusive = [rng.uniform(5, 15) for _ in range(20)]
        rows.append(
            _row(
                second,
                "Abuser",
                "GET /orders",
                abusive,
                0,
                "abusive",
                blocked=20 if offset >= 12 else 0,
            )
        )
    return rows


def synthetic_result(outcome_override: str | None = None) -> dict[str, Any]:
    windows = phase_windows()
    measured = stream_measure(synthetic_rows(), windows)
    phases = measured["phases"]
    minutes = period_shares(windows, 60)
    for name, (start, end) in windows.items():
        phases[name]["started_at"] = iso(start)
        phases[name]["ended_at"] = iso(end)
        phases[name]["server_side"] = {
            "lambda_errors": 80.0 if name == "fault" else 0.0,
            "lambda_throttles": 0.0,
            "lambda_duration_p99_ms": None,
            "apigw_5xx": 80.0 if name == "fault" else 12.0,
            "apigw_latency_p99_ms": None,
            "waf_blocked_requests": 600.0,
            "injected_faults": 1350.0 if name == "fault" else None,
            # as chaos.metrics.server_side reads them: the minutes they draw on, each
            # split between the phases by share, settled once
            "minutes": minutes_covering(start, end),
            "attribution": "per-minute share",
            "boundary_minutes": boundary_periods(minutes, name),
            "settled": True,
        }
    run_server_side = {
        "lambda_errors": 80.0,
        "lambda_throttles": 0.0,
        "lambda_duration_p99_ms": None,
        "apigw_5xx": 104.0,
        "apigw_latency_p99_ms": None,
        "waf_blocked_requests": 1540.0,
        "injected_faults": 1350.0,
        "minutes": minutes_covering(windows["baseline"][0], windows["recovery"][1]),
        "attribution": "per-minute share",
        "boundary_minutes": boundary_periods(minutes),
        "settled": True,
    }
    fault_start, recovery_start = windows["fault"][0], windows["recovery"][0]
    faults = [
        {
            "type": "lambda-extension",
            "target": "orders",
            "target_arn": "arn:aws:lambda:us-east-1:123456789012:function:orders",
            "changed": {
                "layers_added": ["arn:aws:lambda:us-east-1:123456789012:layer:gameday:3"],
                "environment_keys": ["AWS_LAMBDA_EXEC_WRAPPER", "GAMEDAY_FAULTS"],
            },
            "injected_at": iso(fault_start + 0.6),
            "restored_at": iso(recovery_start + 1.2),
            "restore_status": "restored",
            "detail": "",
        },
        {
            "type": "az-loss",
            "target": HOSTILE_NAME,
            "target_arn": "arn:aws:lambda:us-east-1:123456789012:function:payments",
            "changed": {"subnets_removed": ["subnet-0a1"], "az_id": "use1-az1"},
            "injected_at": iso(fault_start + 2.1),
            "restored_at": iso(recovery_start + 2.4),
            "restore_status": "drifted",
            "detail": "tags changed by someone else were kept",
        },
    ]
    checks = [
        SloCheck(sli="availability", phase="fault", objective=">= 99%"),
        SloCheck(sli="latency_p99_ms", phase=["fault", "recovery"], objective="< 1500"),
        SloCheck(sli="error_rate", phase="baseline", objective="< 1%"),
        SloCheck(sli="waf_time_to_block_s", objective="<= 60"),
        SloCheck(sli="waf_legit_blocked", objective="== 0"),
        SloCheck(sli="recovery_time_s", objective="<= 20"),
        SloCheck(sli="apigw_latency_p99_ms", phase="fault", objective="< 2000"),
    ]
    result: dict[str, Any] = {
        "version": 1,
        "outcome": "passed",
        "run_id": "20231114T221320Z-orders-az-loss-1a2b",
        "experiment": "orders-az-loss",
        "experiment_path": "experiments/orders.yaml",
        "sandbox": True,
        "started_at": iso(START - 2),
        "ended_at": iso(START + 3 * PHASE_S + 3),
        "abort_reason": None,
        "phases": phases,
        "overall": measured["overall"],
        "faults": faults,
        "timeline": measured["timeline"],
        "recovery_time_s": measured["recovery_time_s"],
        "server_side": run_server_side,
        "waf": {
            "rule": "orders-rate-limit",
            "limit": 100,
            "window_s": 60,
            "aggregation": "FORWARDED_IP",
            "estimated": True,
            "time_to_block_s": 12.0,
            "leaked_over_limit": 140,
            "legit_blocked": 0,
            "other_403": 7,
            "time_to_unblock_s": None,
            "client_blocked_requests": 1560,
            "cloudwatch_blocked_requests": 1540,
            "cloudwatch_settled": True,
        },
        "notes": ["p99 statistics are not available from this CloudWatch (sandbox)"],
    }
    result["slo"] = evaluate_slos(checks, result)
    result["outcome"] = outcome_override or slo_outcome(result["slo"])
    return result
