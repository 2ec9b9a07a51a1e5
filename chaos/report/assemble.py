"""Assemble result.json from a finished run: phases and their SLIs, WAF, faults, SLOs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chaos.clock import utc_now
from chaos.load.driver import merge_rows
from chaos.metrics.cloudwatch import (
    ServerSideTargets,
    function_name,
    server_side_by_phase,
    server_side_slis,
)
from chaos.metrics.sli import measure_run, phase_windows_from_times
from chaos.report.result import RESULT_VERSION, fault_entries
from chaos.sandbox import seed as sandbox_seed
from chaos.slo import evaluate_slos, reads_server_side_metrics, slo_outcome

if TYPE_CHECKING:
    from chaos.run import RunContext


def assemble_result(
    context: RunContext, started_at: str, outcome: str, reason: str | None
) -> dict[str, Any]:
    assert context.journal is not None
    faults = fault_entries(context.journal)
    if outcome == "passed" and any(f["restore_status"] == "failed" for f in faults):
        outcome = "error"
    windows = phase_windows_from_times(context.phase_times)
    rows = merge_rows(list(context.rows))
    measured = measure_run(rows, windows)
    phases = {name: {**times, **measured["phases"].get(name, {})}
              for name, times in context.phase_times.items()}
    result: dict[str, Any] = {
        "version": RESULT_VERSION,
        "outcome": outcome,
        "run_id": context.run_id,
        "experiment": context.experiment.name,
        "experiment_path": str(context.experiment_path),
        "sandbox": context.target.sandbox,
        "started_at": started_at,
        "ended_at": utc_now(),
        "abort_reason": reason,
        "phases": phases,
        "overall": measured["overall"],
        "recovery_time_s": measured["recovery_time_s"],
        "faults": faults,
        "timeline": measured["timeline"],
        "notes": list(context.notes),
    }
    if context.load is None:
        result["notes"].append("no load in this experiment: per-phase SLIs were not measured")
    add_server_side(context, result, windows)
    if context.load is not None:
        waf = context.load.waf_section(rows)
        if waf is not None:
            blocked = (result.get("server_side") or {}).get("waf_blocked_requests")
            waf["cloudwatch_blocked_requests"] = blocked
            result["waf"] = waf
    result["slo"] = evaluate_slos(context.experiment.slo, result)
    if outcome == "passed":
        result["outcome"] = slo_outcome(result["slo"])
    return result


def add_server_side(
    context: RunContext, result: dict[str, Any], windows: dict[str, tuple[float, float]]
) -> None:
    """CloudWatch SLIs per phase and over the run; never fails the result."""
    if not windows or not reads_server_side_metrics(context.experiment):
        return
    targets = server_side_targets(context)
    cloudwatch = context.target.clients.client("cloudwatch")
    try:
        for name, values in server_side_by_phase(cloudwatch, targets, windows).items():
            if name in result["phases"]:
                result["phases"][name]["server_side"] = values
        start = min(start for start, _ in windows.values())
        end = max(end for _, end in windows.values())
        result["server_side"] = server_side_slis(cloudwatch, targets, start, end)
    except Exception as error:  # noqa: BLE001 - metrics are best effort, the verdict says so
        result["notes"].append(f"server-side metrics unavailable: {error}")


def server_side_targets(context: RunContext) -> ServerSideTargets:
    # Every fault names a function by its ARN (az-loss labels its targets "lambda:NAME").
    function_names = tuple(sorted({
        function_name(entry.target_arn)
        for entry in (context.journal.entries if context.journal else [])
        if entry.target_arn.startswith("arn:aws:lambda:")
    }))
    rule = context.load.rule if context.load is not None else None
    if context.target.sandbox:
        return ServerSideTargets(
            region=context.target.clients.region,
            function_names=function_names or (sandbox_seed.FUNCTION_NAME,),
            api_name="orders-api", stage=sandbox_seed.STAGE_NAME,
            web_acl=sandbox_seed.WEB_ACL_NAME, rules=(sandbox_seed.RATE_RULE_NAME,),
            percentiles=False,  # the sandbox's CloudWatch cannot compute percentiles
        )
    api_name, stage = api_of_endpoint(context)
    return ServerSideTargets(
        region=context.target.clients.region, function_names=function_names,
        api_name=api_name, stage=stage,
        web_acl=(rule.web_acl_metric_name or rule.web_acl_name) if rule else None,
        rules=((rule.metric_name or rule.name),) if rule else (),
    )


def api_of_endpoint(context: RunContext) -> tuple[str | None, str | None]:
    """ApiName and Stage of an execute-api endpoint (the ApiName dimension is the name)."""
    endpoint = context.experiment.target.endpoint or ""
    parts = urlsplit(endpoint)
    host = parts.hostname or ""
    if ".execute-api." not in host:
        return None, None
    stage = parts.path.strip("/").split("/", 1)[0] or None
    try:
        api = context.target.clients.client("apigateway").get_rest_api(
            restApiId=host.split(".", 1)[0])
        return str(api["name"]), stage
    except Exception:  # noqa: BLE001 - without the name the API metrics are reported absent
        return None, stage
