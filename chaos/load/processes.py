"""Child processes that die with the process that started them, however it dies.

On Linux the child asks the kernel for SIGKILL when its parent dies
(``prctl(PR_SET_PDEATHSIG)``), in a small launcher that then execs the real command:
``python -m chaos.load.processes PARENT_PID COMMAND...``. The launcher, not a
``preexec_fn``, because code run between fork and exec is unsafe in a process with
threads, which the orchestrator has. The kernel ties the signal to the *thread* that
forked the child, so `TiedProcesses` forks every child from one thread that lives as long
as they may. Elsewhere the launcher only execs; the Locust plugin's watchdog (it stops its
process once the orchestrator's pid is gone) is the portable backstop.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import IO

from chaos.outcome import EXIT_ORCHESTRATOR_GONE

PR_SET_PDEATHSIG = 1
FORK_TIMEOUT_S = 30.0


class TiedProcesses:
    """Starts commands that are killed when this process dies; `close()` when they ended."""

    def __init__(self) -> None:
        # One worker thread that stays until close(): every child's parent thread.
        self._forker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tied-processes")

    def start(
        self,
        command: list[str],
        *,
        env: dict[str, str],
        output: IO[bytes] | int | None,
        new_session: bool = True,
    ) -> subprocess.Popen[bytes]:
        """Start `command`: stdin closed, stdout and stderr into `output` (None: ours)."""
        launcher = [sys.executable, "-m", __name__, str(os.getpid()), *command]
        started = self._forker.submit(
            subprocess.Popen,
            launcher,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=new_session,
        )
        return started.result(timeout=FORK_TIMEOUT_S)

    def close(self) -> None:
        self._forker.shutdown(wait=True)


def ask_to_die_with_parent() -> bool:
    """SIGKILL this process when its parent (thread) dies; False where Linux can't do it."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return int(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)) == 0


def _launch(arguments: list[str]) -> None:
    parent_pid, command = int(arguments[0]), arguments[1:]
    ask_to_die_with_parent()
    if os.getppid() != parent_pid:  # it died before the kernel was asked: nothing to serve
        os._exit(EXIT_ORCHESTRATOR_GONE)
    os.execv(command[0], command)


if __name__ == "__main__":
    _launch(sys.argv[1:])
