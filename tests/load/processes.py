"""Process checks for load tests: is a pid gone, wait (bounded) until pids are gone."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time

import psutil


def gone(pid: int) -> bool:
    """No such process, or a zombie (it runs nothing; reaping it is its new parent's job)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def still_running(pids: list[int], within_s: float) -> list[int]:
    """The pids not gone after waiting up to `within_s` for all of them."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if all(gone(pid) for pid in pids):
            return []
        time.sleep(0.1)
    return [pid for pid in pids if not gone(pid)]


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants now."""
    try:
        return [pid, *(child.pid for child in psutil.Process(pid).children(recursive=True))]
    except psutil.NoSuchProcess:
        return []


def kill_leftovers(pids: list[int]) -> None:
    """SIGKILL what a failed test left behind (only Python processes we started)."""
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            process = psutil.Process(pid)
            if not gone(pid) and "python" in " ".join(process.cmdline()):
                process.send_signal(signal.SIGKILL)


def stop(process: subprocess.Popen[bytes] | subprocess.Popen[str]) -> None:
    """Kill `process` if it still runs and reap it (bounded)."""
    if process.poll() is None:
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)
