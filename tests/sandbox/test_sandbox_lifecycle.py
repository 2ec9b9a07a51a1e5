"""`gameday sandbox down` leaves no process, port or temp directory behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from chaos.sandbox import control
from tests.sandbox.support import call, environ

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(60)


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def port_open(url: str) -> bool:
    parts = urlsplit(url)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((parts.hostname or "127.0.0.1", parts.port or 80)) == 0


def test_up_serves_then_down_leaves_nothing_behind(tmp_path: Path) -> None:
    with environ(GAMEDAY_HOME=str(tmp_path)):
        up = subprocess.run([sys.executable, "-m", "chaos", "sandbox", "up"], cwd=REPO,
                            env=dict(os.environ), capture_output=True, text=True, timeout=40)
        assert up.returncode == 0, up.stderr
        state = control.read_state()
        assert state is not None and state.api_endpoint and state.work_dir
        try:
            assert call(state.api_endpoint + "/health").status == 200  # starts an environment
            processes = descendants(state.pid)
            assert processes, "the function's environment runs as child processes"
            work_dir = Path(state.work_dir)
            assert work_dir.is_dir() and any(work_dir.iterdir())
        finally:
            down = subprocess.run([sys.executable, "-m", "chaos", "sandbox", "down"], cwd=REPO,
                                  env=dict(os.environ), capture_output=True, text=True,
                                  timeout=40)
        assert down.returncode == 0, down.stderr
        assert not running(state.pid)
        assert [pid for pid in processes if running(pid)] == []
        assert not work_dir.exists()
        assert not control.state_file().exists()
        assert not port_open(state.endpoint_url)
        assert state.http_front is not None and not port_open(state.http_front)
