"""Server-side SLIs of a run: which CloudWatch metrics to read, read per phase window.

Explicit inputs only (the API stage, the functions, the WAF rule): the run resolves
them, this module turns them into `get_metric_data` queries (chaos.metrics.cloudwatch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from chaos.metrics.cloudwatch import (
    ServerSideTargets,
    function_name,
    server_side_by_phase,
    server_side_slis,
)

if TYPE_CHECKING:
    from chaos.load.waf import RateRule

__all__ = ["ApiStage", "api_stage_of", "read_server_side", "server_side_targets"]


@dataclass(frozen=True)
class ApiStage:
    """The ApiName and Stage dimensions of the endpoint's API Gateway metrics."""

    name: str | None
    stage: str | None


def api_stage_of(apigateway: Any, endpoint: str, rest_api_id: str | None = None) -> ApiStage:
    """The API's name and stage from an execute-api URL (or a known REST API id).

    The ApiName dimension is the API's *name*, which only `GetRestApi` tells.
    """
    parts = urlsplit(endpoint)
    stage = parts.path.strip("/").split("/", 1)[0] or None
    host = parts.hostname or ""
    if rest_api_id is None and ".execute-api." in host:
        rest_api_id = host.split(".", 1)[0]
    if rest_api_id is None:
        return ApiStage(None, stage)
    try:
        return ApiStage(str(apigateway.get_rest_api(restApiId=rest_api_id)["name"]), stage)
    except Exception:  # noqa: BLE001 - without the name the API metrics are reported absent
        return ApiStage(None, stage)


def server_side_targets(
    *,
    region: str,
    function_arns: Iterable[str],
    api: ApiStage,
    rule: RateRule | None,
    percentiles: bool = True,
) -> ServerSideTargets:
    """What to read for a run: its Lambda functions, its API stage, its WAF rate rule."""
    names = tuple(sorted({function_name(arn) for arn in function_arns}))
    return ServerSideTargets(
        region=region, function_names=names, api_name=api.name, stage=api.stage,
        web_acl=(rule.web_acl_metric_name or rule.web_acl_name) if rule else None,
        rules=((rule.metric_name or rule.name),) if rule else (),
        percentiles=percentiles,
    )


def read_server_side(
    cloudwatch: Any,
    targets: ServerSideTargets,
    phase_windows: Mapping[str, tuple[float, float]],
) -> dict[str, Any]:
    """``{"phases": {phase: slis}, "run": slis}`` (``notes`` when CloudWatch failed).

    Never raises: metrics are best effort and an SLO on a missing figure fails as such.
    """
    if not phase_windows:
        return {"phases": {}, "run": None}
    try:
        phases = server_side_by_phase(cloudwatch, targets, phase_windows)
        start = min(start for start, _ in phase_windows.values())
        end = max(end for _, end in phase_windows.values())
        return {"phases": phases, "run": server_side_slis(cloudwatch, targets, start, end)}
    except Exception as error:  # noqa: BLE001 - see docstring
        return {"phases": {}, "run": None,
                "notes": [f"server-side metrics unavailable: {error}"]}
