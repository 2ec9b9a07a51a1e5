"""The `gameday` parser: each command group registers its commands, in this order."""

from __future__ import annotations

import argparse

from chaos import __version__
from chaos.cli.commands import (
    az,
    experiment,
    extension,
    gameday,
    iam,
    janitor,
    load,
    recovery,
    report,
    sandbox,
)
from chaos.cli.options import Commands

#: The command groups, in the order `gameday --help` lists their commands.
COMMAND_GROUPS = (experiment, recovery, report, iam, gameday, az, extension, janitor, load, sandbox)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gameday",
        description="Chaos and resilience experiments for AWS serverless services.",
    )
    parser.add_argument("--version", action="version", version=f"gameday {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = Commands(parser.add_subparsers(title="commands", metavar="COMMAND"))
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser
