"""What the commands share in the parser: how a command is added, and the common options."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from typing import Any

from chaos.janitor import NO_JANITOR_ENV

Handler = Callable[[argparse.Namespace], int]


class Commands:
    """The `gameday` subcommands: each module of chaos.cli.commands adds its own."""

    def __init__(self, subparsers: Any) -> None:
        self._subparsers = subparsers

    def command(self, name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        """A command that runs `handler`; it takes --debug after its name too."""
        sub: argparse.ArgumentParser = self._subparsers.add_parser(
            name, help=help_text, description=help_text
        )
        sub.add_argument(
            "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
        )
        sub.set_defaults(handler=handler)
        return sub

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """A group of commands (`gameday extension ...`): its own subparsers follow."""
        parser: argparse.ArgumentParser = self._subparsers.add_parser(name, **kwargs)
        return parser


def journal_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--journal",
        metavar="s3://BUCKET/PREFIX",
        default=os.environ.get("GAMEDAY_JOURNAL") or None,
        help="keep (and find) run journals in S3 in the target account, readable "
        "from any machine (default: $GAMEDAY_JOURNAL)",
    )


def no_janitor_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--no-janitor",
        action="store_true",
        default=os.environ.get(NO_JANITOR_ENV) == "1",
        help="schedule no janitor: nothing restores the run by itself if it "
        "dies, az-loss faults never expire (default: $GAMEDAY_NO_JANITOR=1)",
    )


def target_options(sub: argparse.ArgumentParser, *, region: bool = False) -> None:
    sub.add_argument("--sandbox", action="store_true", help="target the local sandbox")
    sub.add_argument("--profile", help="AWS profile")
    if region:
        sub.add_argument("--region", default=None, help="AWS region")
