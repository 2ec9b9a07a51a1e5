"""How a command reaches AWS (or the sandbox) and the S3 journals: one way for all."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from chaos.errors import InputError

if TYPE_CHECKING:
    from chaos.aws import AwsClients
    from chaos.journal import S3JournalStore


@contextmanager
def journal_store(arguments: argparse.Namespace) -> Iterator[S3JournalStore | None]:
    """The S3 journal store of --journal / $GAMEDAY_JOURNAL, None without one."""
    with journal_target(arguments) as (store, _):
        yield store


@contextmanager
def journal_target(
    arguments: argparse.Namespace,
) -> Iterator[tuple[S3JournalStore | None, AwsClients | None]]:
    """The S3 journal store of --journal (in the caller's account: ExpectedBucketOwner) and
    the clients it reads with; (None, None) without one."""
    from chaos.journal import JournalLocation, S3JournalStore

    if not getattr(arguments, "journal", None):
        yield None, None
        return
    location = JournalLocation.parse(arguments.journal)
    region = (
        getattr(arguments, "region", None) or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    )
    with aws_clients(arguments, region) as clients:
        yield (
            S3JournalStore(
                clients.client("s3"), location, expected_owner=clients.caller_account_id()
            ),
            clients,
        )


@contextmanager
def aws_clients(arguments: argparse.Namespace, region: str | None) -> Iterator[AwsClients]:
    """The AWS a command talks to: the one way every command builds its clients.

    With --sandbox: the running sandbox, or one started for this command and stopped
    after it (as `gameday run --sandbox` does). Otherwise AWS in `region` with --profile.
    """
    from chaos.run.target import resolve_target

    sandbox = bool(getattr(arguments, "sandbox", False))
    if not sandbox and not region:
        raise InputError("--region is required (or --sandbox)")
    target = resolve_target(
        region or "us-east-1",
        None,
        None,
        sandbox=sandbox,
        profile=getattr(arguments, "profile", None),
        require_account=False,
    )
    try:
        yield target.clients
    finally:
        target.close()
