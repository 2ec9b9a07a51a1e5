"""`gameday report --refresh`: a result's server-side figures read again, its checks judged
again.

The figures are read by the run's own reader (chaos.metrics.server_side.read_settled):
nothing before the run's last minute is the target CloudWatch's ingestion lag in the
past, then each metric settled by its datapoint of that minute or by an unchanged read
one publishing interval later (within the run's settle bound; chaos.metrics.settle);
otherwise they stay `settled: false` and SLOs on them keep failing as not settled.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from chaos.aws.clients import AwsClients
from chaos.errors import InputError
from chaos.metrics.catalog import FAULT_EFFECT
from chaos.metrics.server_side import (
    UNAVAILABLE_NOTE,
    UNSETTLED_NOTE,
    CloudWatchIn,
    ServerSideQuery,
    cloudwatch_in_regions_of,
    read_settled,
)
from chaos.metrics.settle import AWS_LAGS, CloudWatchLag
from chaos.outcome import TERMINAL_OUTCOMES
from chaos.result.assemble import add_server_side, judge
from chaos.sandbox.process import control
from chaos.verdict.slo import evaluate_again

__all__ = ["cloudwatch_lag_of", "refresh_result", "refresh_server_side"]

#: The notes of an earlier read that a new read replaces.
_READ_NOTES = (UNSETTLED_NOTE, UNAVAILABLE_NOTE)


def refresh_result(
    result: dict[str, Any],
    profile: str | None,
    *,
    cloudwatch_in: CloudWatchIn | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Read the run's server-side figures again into `result` and judge it again.

    `cloudwatch_in`: CloudWatch clients by Region (by default those of the run's AWS, or
    of its sandbox, with `profile`).
    """
    raw = result.get("server_side_query")
    if not isinstance(raw, dict):
        raise InputError(
            "this result has no server-side figures to refresh (no load and no "
            "server-side SLO, or written by an older gameday)"
        )
    query = ServerSideQuery.from_dict(raw)
    lag = cloudwatch_lag_of(query.endpoint_url)
    if cloudwatch_in is None:
        cloudwatch_in = cloudwatch_in_regions_of(
            AwsClients(
                region=query.targets.region, endpoint_url=query.endpoint_url, profile=profile
            )
        )
    figures = read_settled(
        query,
        lag,
        cloudwatch_in,
        on_wait=lambda text: print(text, file=sys.stderr),
        clock=clock,
        sleep=sleep,
    )
    figures["query"] = raw
    refresh_server_side(result, figures)


def cloudwatch_lag_of(endpoint_url: str | None) -> CloudWatchLag:
    """The ingestion lag of the CloudWatch that holds a run's figures: AWS's, or that of
    the sandbox the run used (refused when it is gone: its figures went with it)."""
    if endpoint_url is None:
        return AWS_LAGS
    state = control.read_state()
    if state is None or state.endpoint_url != endpoint_url:
        raise InputError(
            f"the sandbox this run used ({endpoint_url}) is not running: its "
            "CloudWatch figures went with it"
        )
    return CloudWatchLag.from_seconds(state.cloudwatch_lag_s)


def refresh_server_side(result: dict[str, Any], server_side: Mapping[str, Any]) -> None:
    """Replace the server-side figures (read again later) and judge the checks again."""
    run_outcome = result["outcome"] if result["outcome"] in TERMINAL_OUTCOMES else "passed"
    result["notes"] = [note for note in result.get("notes", []) if not note.startswith(_READ_NOTES)]
    add_server_side(result, server_side)
    result["slo"] = evaluate_again(result.get("slo", []), result, automatic=FAULT_EFFECT)
    judge(result, run_outcome)
