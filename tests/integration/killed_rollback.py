"""`gameday rollback` that dies by SIGKILL right before or right after its N-th mutating AWS
call: a real kill -9 at a real step (no exception, no `finally`, no journal write after it).

    python -m tests.integration.killed_rollback before|after N -- rollback --all --journal ...

Prints where it dies on stderr (`killed before|after <call> (call N)`), then kills itself.
Exits as `gameday` does when the call is never reached.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Literal, cast

from chaos.cli import main as gameday
from tests.integration.aws_call_hooks import AwsCallHooks, CrashAtIndex


def main(argv: list[str]) -> int:
    moment, index, separator, *arguments = argv
    if moment not in ("before", "after") or separator != "--":
        raise SystemExit(__doc__)
    hooks = AwsCallHooks()

    def die() -> None:
        print(f"killed {hooks.crashed_at}", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    hooks.on_crash = die
    crash = CrashAtIndex(cast(Literal["before", "after"], moment), int(index))
    with hooks.installed(), hooks.run(crash=crash):
        return gameday(arguments)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
