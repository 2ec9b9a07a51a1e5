"""`gameday sandbox down` leaves no process, port or temp directory behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from chaos.sandbox.process import control
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
        up = subprocess.run(
            [sys.executable, "-m", "chaos", "sandbox", "up"],
            cwd=REPO,
            env=dict(os.environ),
            capture_output=True,
            text=True,
            timeout=40,
        )
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
            down = subprocess.run(
                [sys.executable, "-m", "chaos", "sandbox", "down"],
                cwd=REPO,
                env=dict(os.environ),
                capture_output=True,
                text=True,
                timeout=40,
            )
        assert down.returncode == 0, down.stderr
        assert not running(state.pid)
        assert [pid for pid in processes if running(pid)] == []
        assert not work_dir.exists()
        assert not control.state_file().exists()
        assert not port_open(state.endpoint_url)
        assert state.http_front is not None and not port_open(state.http_front)


def test_run_sandbox_stops_what_it_started_and_leaves_nothing(tmp_path: Path) -> None:
    experiment = tmp_path / "short.yaml"
    experiment.write_text(
        "version: 1\nkind: experiment\nname: short\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        "phases: {baseline: 2s, fault: 3s, recovery: 2s}\nmax_duration: 2m\n"
        "faults:\n  - type: lambda-extension\n    functions: [orders]\n"
        "    latency: {ms: 20}\n"
        f"load: {{locustfile: {REPO / 'loadtests' / 'orders.py'}, users: 4, spawn_rate: 4}}\n"
    )
    env = dict(os.environ, GAMEDAY_HOME=str(tmp_path))
    process = subprocess.Popen(
        [sys.executable, "-m", "chaos", "run", "--sandbox", str(experiment), "--yes"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen: control.SandboxState | None = None
    processes: set[int] = set()
    with environ(GAMEDAY_HOME=str(tmp_path)):
        for _ in range(600):  # bounded: 60 s of polling
            if process.poll() is not None:
                break
            state = control.read_state()
            if state is not None:
                seen = state
                processes |= descendants(state.pid)
            time.sleep(0.1)
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stdout + stderr
        announced = [line for line in stderr.splitlines() if "no sandbox running" in line]
        assert len(announced) == 1 and "started one for this command" in announced[0], stderr
        assert seen is not None and seen.work_dir and seen.http_front
        assert processes, "the run's sandbox started function environments"
        assert not running(seen.pid)
        assert [pid for pid in processes if running(pid)] == []
        assert not Path(seen.work_dir).exists()
        assert not control.state_file().exists()
        assert not port_open(seen.endpoint_url) and not port_open(seen.http_front)
