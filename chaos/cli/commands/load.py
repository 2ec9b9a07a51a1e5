"""`gameday load worker`: a Locust worker for a running experiment."""

from __future__ import annotations

import argparse
from pathlib import Path

from chaos.cli.options import Commands


def register(commands: Commands) -> None:
    load = commands.add_parser("load", help="Locust load of a running experiment")
    load_commands = load.add_subparsers(title="load commands", metavar="COMMAND")
    sub = load_commands.add_parser(
        "worker", help="a Locust worker for a running experiment's master (any machine)"
    )
    sub.add_argument(
        "--master",
        required=True,
        metavar="HOST:PORT",
        help="the run's Locust master (its load.master_bind)",
    )
    sub.add_argument(
        "--locustfile",
        type=Path,
        default=None,
        help="a local copy of the experiment's locustfile (required unless --trust-master-code)",
    )
    sub.add_argument(
        "--trust-master-code",
        action="store_true",
        help="without --locustfile, run the master's locustfile: Python sent over "
        "Locust's unauthenticated channel, executed by this worker",
    )
    sub.set_defaults(handler=cmd_load_worker)


def cmd_load_worker(arguments: argparse.Namespace) -> int:
    from chaos.load.remote_worker import run_worker

    return run_worker(
        arguments.master, arguments.locustfile, trust_master_code=arguments.trust_master_code
    )
