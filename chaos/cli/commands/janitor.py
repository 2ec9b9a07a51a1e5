"""`gameday janitor deploy|iam-policy`: the function that restores expired runs."""

from __future__ import annotations

import argparse
import json
import re
from typing import TYPE_CHECKING

from chaos.cli.options import Commands, journal_option, target_options
from chaos.cli.targets import aws_clients
from chaos.errors import InputError
from chaos.outcome import EXIT_PASSED

if TYPE_CHECKING:
    from chaos.journal import JournalLocation


def register(commands: Commands) -> None:
    janitor = commands.add_parser("janitor", help="the function that restores expired runs")
    janitor_commands = janitor.add_subparsers(title="janitor commands", metavar="COMMAND")
    sub = janitor_commands.add_parser(
        "deploy",
        help="install (idempotently) the janitor function and its roles in the "
        "target account; prints what it created or reused",
    )
    journal_option(sub)
    target_options(sub, region=True)
    sub.set_defaults(handler=cmd_janitor_deploy)
    sub = janitor_commands.add_parser(
        "iam-policy",
        help="the least-privilege IAM policy `janitor deploy` needs (the "
        "janitor's own roles are what deploy creates)",
    )
    journal_option(sub)
    sub.add_argument("--region", required=True, help="AWS region")
    sub.add_argument("--account-id", required=True, help="the target account")
    sub.set_defaults(handler=cmd_janitor_iam_policy)


def janitor_journal(arguments: argparse.Namespace) -> JournalLocation:
    from chaos.journal import JournalLocation

    if not arguments.journal:
        raise InputError(
            "--journal s3://BUCKET/PREFIX is required (or GAMEDAY_JOURNAL): the "
            "janitor reads and writes the runs' journals there, and only there"
        )
    return JournalLocation.parse(arguments.journal)


def cmd_janitor_deploy(arguments: argparse.Namespace) -> int:
    from chaos.janitor.deploy import deploy_janitor

    location = janitor_journal(arguments)
    with aws_clients(arguments, arguments.region) as clients:
        deploy_janitor(clients, clients.caller_account_id(), location)
    return EXIT_PASSED


def cmd_janitor_iam_policy(arguments: argparse.Namespace) -> int:
    from chaos.experiment.model import ACCOUNT_ID_PATTERN
    from chaos.janitor.policy import deployer_policy

    if not re.fullmatch(ACCOUNT_ID_PATTERN, arguments.account_id):
        raise InputError(f"--account-id {arguments.account_id!r}: expected 12 digits")
    print(
        json.dumps(
            deployer_policy(arguments.region, arguments.account_id, janitor_journal(arguments)),
            indent=2,
        )
    )
    return EXIT_PASSED
