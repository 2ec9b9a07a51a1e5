"""`gameday report`: re-render a result, or read its server-side figures again."""

from __future__ import annotations

import argparse
import json
from contextlib import ExitStack
from pathlib import Path

from chaos.cli.options import Commands, journal_option, target_options
from chaos.cli.targets import aws_clients
from chaos.errors import InputError
from chaos.outcome import EXIT_PASSED


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

    sub = commands.command(
        "history",
        cmd_history,
        "the trend of an experiment's recorded runs on its target, one line per run",
    )
    sub.add_argument("experiment", type=Path, metavar="EXPERIMENT")
    sub.add_argument(
        "--account-id",
        help="the target's account (default: target.account_id, else the one the runs were "
        "recorded in, or the credentials' with --journal)",
    )
    target_options(sub)
    journal_option(sub)


def cmd_report(arguments: argparse.Namespace) -> int:
    from chaos.report import write_report, write_result
    from chaos.result.refresh import refresh_result

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


def cmd_history(arguments: argparse.Namespace) -> int:
    from chaos.experiment import load_experiment
    from chaos.history import HistoryStore, LocalHistoryStore, S3HistoryStore, history_location
    from chaos.history.lookup import history_report
    from chaos.journal import JournalLocation

    experiment = load_experiment(arguments.experiment)
    account_id = arguments.account_id or experiment.target.account_id
    local = LocalHistoryStore()
    stores: list[HistoryStore] = [local]
    with ExitStack() as stack:
        if arguments.journal:
            location = history_location(JournalLocation.parse(arguments.journal))
            arguments.sandbox = arguments.sandbox or experiment.target.is_sandbox
            clients = stack.enter_context(aws_clients(arguments, experiment.target.region))
            account_id = account_id or clients.caller_account_id()
            stores.append(S3HistoryStore(clients.client("s3"), location, account_id))
        for line in history_report(experiment, account_id, stores, local):
            print(line)
    return EXIT_PASSED
