"""`gameday report`: re-render a result, or read its server-side figures again."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos.cli.options import Commands
from chaos.cli.targets import aws_clients
from chaos.errors import InputError
from chaos.outcome import EXIT_PASSED

if TYPE_CHECKING:
    from chaos.metrics.settle import CloudWatchLag


def register(commands: Commands) -> None:
    sub = commands.command(
        "report", cmd_report, "re-render reports (html, md, junit) from a result.json"
    )
    sub.add_argument("result", type=Path, metavar="RESULT_JSON")
    sub.add_argument(
        "--format",
        dest="report_formats",
        action="append",
        choices=["html", "md", "junit"],
        help="format to write (repeatable; default: all three)",
    )
    sub.add_argument(
        "--out",
        type=Path,
        default=None,
        help="output directory (default: the folder of RESULT_JSON)",
    )
    sub.add_argument(
        "--refresh",
        action="store_true",
        help="read the server-side (CloudWatch) SLIs again now that they have "
        "settled, judge the SLOs again and re-render every report",
    )
    sub.add_argument("--profile", help="AWS profile for --refresh")


def cmd_report(arguments: argparse.Namespace) -> int:
    from chaos.report import write_report
    from chaos.report.result import write_result

    path: Path = arguments.result
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read: {error}") from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"{path}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}"
        ) from None
    if not isinstance(result, dict) or "outcome" not in result:
        raise InputError(f"{path}: not a gameday result.json (no 'outcome')")
    out: Path = arguments.out or path.parent
    out.mkdir(parents=True, exist_ok=True)
    if arguments.refresh:
        before = result["outcome"]
        refresh_result(result, arguments.profile)
        print(write_result(out, result))
        settled = (result.get("server_side") or {}).get("settled")
        print(
            f"server-side SLIs read again ({'settled' if settled else 'NOT settled'}); "
            f"outcome {before} -> {result['outcome']}"
        )
    for report_format in arguments.report_formats or ["html", "md", "junit"]:
        print(write_report(result, out, report_format))
    return EXIT_PASSED


def refresh_result(
    result: dict[str, Any],
    profile: str | None,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Read the run's server-side figures again into `result`, by the run's own rule.

    They are settled only once the run's last minute is the target CloudWatch's ingestion
    lag in the past and two successive reads agree (within the run's settle bound);
    otherwise they stay `settled: false` and SLOs on them keep failing as not settled.
    A CLOUDFRONT web ACL's WAF metrics are read in us-east-1, as the run reads them.
    """
    from chaos.metrics.server_side import (
        CLOUDFRONT_METRICS_REGION,
        ServerSideQuery,
        read_server_side,
        reads_global_waf_metrics,
    )
    from chaos.result.assemble import refresh_server_side

    raw = result.get("server_side_query")
    if not isinstance(raw, dict):
        raise InputError(
            "this result has no server-side figures to refresh (no load and no "
            "server-side SLO, or written by an older gameday)"
        )
    query = ServerSideQuery.from_dict(raw)
    lag = _refresh_cloudwatch_lag(query.endpoint_url)
    target = argparse.Namespace(sandbox=query.endpoint_url is not None, profile=profile)
    with ExitStack() as stack:
        clients = stack.enter_context(aws_clients(target, query.targets.region))
        global_cloudwatch = None
        if reads_global_waf_metrics(query.targets):
            global_cloudwatch = stack.enter_context(
                aws_clients(target, CLOUDFRONT_METRICS_REGION)
            ).client("cloudwatch")
        figures = read_server_side(
            clients.client("cloudwatch"),
            query,
            lag,
            on_wait=lambda text: print(text, file=sys.stderr),
            global_cloudwatch=global_cloudwatch,
            clock=clock,
            sleep=sleep,
        )
    figures["query"] = raw
    refresh_server_side(result, figures)


def _refresh_cloudwatch_lag(endpoint_url: str | None) -> CloudWatchLag:
    """The ingestion lag of the CloudWatch that holds a run's figures: AWS's, or that of
    the sandbox the run used (refused when it is gone: its figures went with it)."""
    from chaos.metrics.settle import AWS_LAGS, CloudWatchLag
    from chaos.sandbox.process import control

    if endpoint_url is None:
        return AWS_LAGS
    state = control.read_state()
    if state is None or state.endpoint_url != endpoint_url:
        raise InputError(
            f"the sandbox this run used ({endpoint_url}) is not running: its "
            "CloudWatch figures went with it"
        )
    return CloudWatchLag.from_seconds(state.cloudwatch_lag_s)
