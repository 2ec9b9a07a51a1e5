"""`gameday`: the command line. Errors the user can cause print as one line, exit 2.

The edge: `main` parses, runs the command's handler and maps what escapes it to one line
on stderr and an exit code (tracebacks only with --debug).

Start-up stays fast by design: `gameday --help` (and every command) imports the parser
and all command modules, so those import only the standard library and the light
vocabulary (chaos.errors, chaos.outcome). Each handler imports what it needs (boto3,
pydantic, the run, the sandbox ...) inside its function, when it runs; these
function-local imports dodge no cycle. The run's orchestrator never imports Locust or
gevent either way (they run in their own processes).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from botocore.exceptions import ClientError

from chaos.cli.parser import build_parser
from chaos.errors import GamedayError, redact_aws_message
from chaos.outcome import EXIT_INTERRUPTED, EXIT_INVALID

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if arguments.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not hasattr(arguments, "handler"):
        parser.print_help()
        return EXIT_INVALID
    try:
        result: int = arguments.handler(arguments)
        return result
    except GamedayError as error:
        if arguments.debug:
            raise
        print(f"gameday: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("gameday: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ClientError as error:
        if arguments.debug:
            raise
        details = error.response.get("Error", {})
        print(
            f"gameday: AWS refused {error.operation_name}: {details.get('Code', '?')}: "
            f"{redact_aws_message(str(details.get('Message', '')))}",
            file=sys.stderr,
        )
        return EXIT_INVALID
    except Exception as error:  # noqa: BLE001 - the CLI edge: one line, traceback with --debug
        if arguments.debug:
            raise
        print(
            f"gameday: unexpected error: {type(error).__name__}: {error} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return EXIT_INVALID
