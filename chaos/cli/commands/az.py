"""`gameday az-map` and `az-audit`: AZ names, AZ IDs and who lives where."""

from __future__ import annotations

import argparse
import os

from chaos.az.mapping import az_mapping
from chaos.cli.options import Commands, target_options
from chaos.cli.targets import aws_clients
from chaos.errors import InputError
from chaos.outcome import EXIT_PASSED, exit_for


def register(commands: Commands) -> None:
    sub = commands.command("az-map", cmd_az_map, "the account's AZ name <-> AZ ID mapping")
    target_options(sub, region=True)

    sub = commands.command(
        "az-audit",
        cmd_az_audit,
        "per AZ ID: which workloads have capacity there and which would lose all",
    )
    sub.add_argument("--sandbox", action="store_true", help="audit the local sandbox")
    sub.add_argument("--region", default=None, help="AWS region")
    sub.add_argument(
        "--profile",
        action="append",
        dest="profiles",
        metavar="PROFILE",
        help="AWS profile of one account (repeat to line up several accounts)",
    )
    sub.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub.add_argument(
        "--depends-on",
        action="append",
        default=[],
        metavar="SERVICE=DEPENDENCY",
        help="flag SERVICE if DEPENDENCY runs in other AZ IDs (repeatable; "
        "NAME, KIND:NAME or PROFILE:NAME)",
    )
    sub.add_argument(
        "--fail-on-findings",
        action="store_true",
        help="exit 1 when a workload lives in one AZ ID or a dependency's AZ IDs "
        "differ (a CI gate)",
    )


def cmd_az_map(arguments: argparse.Namespace) -> int:
    with aws_clients(arguments, arguments.region) as clients:
        for zone in az_mapping(clients):
            print(f"{zone.name}\t{zone.zone_id}")
    return EXIT_PASSED


def cmd_az_audit(arguments: argparse.Namespace) -> int:
    from chaos.az import audit as az_audit

    dependencies = [az_audit.parse_dependency(text) for text in arguments.depends_on]
    if arguments.sandbox:
        with aws_clients(arguments, arguments.region) as clients:
            region = clients.region
            inventories = [az_audit.take_inventory(clients, "sandbox")]
    else:
        # As the AWS CLI and SDKs do (and as `gameday sandbox env` exports it).
        named: str | None = (
            arguments.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        )
        if not named:
            raise InputError(
                "--region is required (or AWS_REGION / AWS_DEFAULT_REGION, or --sandbox)"
            )
        region = named
        inventories = [
            az_audit.take_inventory(
                az_audit.clients_for_profile(profile, region), profile or "default"
            )
            for profile in (arguments.profiles or [None])
        ]
    report = az_audit.audit(inventories, dependencies, region)
    if arguments.json:
        print(az_audit.render_json(report))
    else:
        az_audit.print_table(report)
    return exit_for("failed" if arguments.fail_on_findings and report.has_findings else "passed")
