"""Outcomes of a run and every exit code of the toolkit's processes: defined once, here.

Exit codes of `gameday run` (and what a pytest item means): 0 all SLOs met, 1 an SLO
breached, 2 invalid input or preflight refused (nothing changed), 3 aborted by a stop
condition or signal (rollback complete), 4 rollback incomplete (journal kept). `gameday`
interrupted by Ctrl-C exits 130 (the shell's 128 + SIGINT). The Locust processes of a run
exit 75 when the process that drove them (the orchestrator, the launcher's parent) is gone
and 76 when a worker's master is.

Imports nothing of chaos: every other module, the Locust processes included, may use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, get_args

__all__ = [
    "EXIT_ABORTED",
    "EXIT_INTERRUPTED",
    "EXIT_INVALID",
    "EXIT_MASTER_GONE",
    "EXIT_ORCHESTRATOR_GONE",
    "EXIT_PASSED",
    "EXIT_ROLLBACK_INCOMPLETE",
    "EXIT_SLO_BREACHED",
    "OUTCOMES",
    "TERMINAL_OUTCOMES",
    "Outcome",
    "exit_for",
    "label_of_exit",
    "worst_exit",
]

EXIT_PASSED = 0
EXIT_SLO_BREACHED = 1
EXIT_INVALID = 2
EXIT_ABORTED = 3
EXIT_ROLLBACK_INCOMPLETE = 4
EXIT_ORCHESTRATOR_GONE = 75  # EX_TEMPFAIL: what drove the process is gone, nothing to do
EXIT_MASTER_GONE = 76
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a process ended by Ctrl-C

Outcome = Literal["passed", "failed", "aborted", "error"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
#: Outcomes of a run that did not run to its end: no SLO check can change them.
TERMINAL_OUTCOMES: tuple[Outcome, ...] = ("aborted", "error")

_EXIT_OF_OUTCOME: dict[str, int] = {
    "passed": EXIT_PASSED,
    "failed": EXIT_SLO_BREACHED,
    "aborted": EXIT_ABORTED,
    "error": EXIT_ABORTED,  # the run failed, but everything it changed was restored
}
_LABEL_OF_EXIT = {
    EXIT_PASSED: "passed",
    EXIT_SLO_BREACHED: "failed",
    EXIT_INVALID: "invalid",
    EXIT_ABORTED: "aborted",
    EXIT_ROLLBACK_INCOMPLETE: "rollback_incomplete",
}


def exit_for(outcome: str, rollback_complete: bool = True) -> int:
    """The exit code of a run that ended with `outcome`."""
    if not rollback_complete:
        return EXIT_ROLLBACK_INCOMPLETE
    return _EXIT_OF_OUTCOME.get(outcome, EXIT_ABORTED)


def label_of_exit(code: int) -> str:
    """How a report names an exit code (passed, failed, invalid, aborted, ...)."""
    return _LABEL_OF_EXIT.get(code, "error")


def worst_exit(codes: Iterable[int]) -> int:
    """The exit code of several runs: the worst of them (0 for none)."""
    return max(codes, default=EXIT_PASSED)
