"""The pointer under the user's home: another directory finds a live sandbox through it,
and a pointer to a dead or silent one is ignored and removed (no sandbox is started: a
listening socket of this process stands in for a live one)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaos.cli import main

POINTER = Path(".local") / "state" / "gameday" / "sandbox-pointer.json"


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's home, and a current directory of theirs with no sandbox of its own."""
    home = tmp_path / "home"
    elsewhere = tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.delenv("GAMEDAY_HOME", raising=False)
    monkeypatch.chdir(elsewhere)
    return home


@pytest.fixture
def listening() -> Iterator[str]:
    """An endpoint that accepts connections on 127.0.0.1, as a live sandbox's API does."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def sandbox_started_in(project: Path, pid: int, endpoint_url: str) -> Path:
    """The state file `gameday sandbox up` leaves in `project` (as its process writes it)."""
    state_file = project / ".gameday" / "sandbox.json"
    state_file.parent.mkdir(parents=True)
    state = {
        "pid": pid,
        "endpoint_url": endpoint_url,
        "region": "us-east-1",
        "started_at": "2025-01-01T00:00:00Z",
        "http_front": None,
        "service": {},
    }
    state_file.write_text(json.dumps(state))
    return state_file


def point_at(home: Path, state_file: Path, pid: int, endpoint_url: str) -> Path:
    pointer = home / POINTER
    pointer.parent.mkdir(parents=True)
    pointer.write_text(
        json.dumps({"state_file": str(state_file), "pid": pid, "endpoint_url": endpoint_url})
    )
    return pointer


def test_another_directory_finds_the_live_sandbox_through_the_pointer(
    user_home: Path, listening: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pid = os.getpid()
    state_file = sandbox_started_in(tmp_path / "project", pid, listening)
    point_at(user_home, state_file, pid, listening)

    assert main(["sandbox", "status"]) == 0
    out = capsys.readouterr().out
    assert f"running: pid {pid}, AWS API {listening}" in out
    assert str(state_file) in out  # says whose sandbox it is
    assert main(["sandbox", "env"]) == 0
    assert f"export AWS_ENDPOINT_URL={listening}" in capsys.readouterr().out


def test_a_pointer_to_a_dead_sandbox_is_ignored_and_removed(
    user_home: Path, listening: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pid = dead_pid()
    state_file = sandbox_started_in(tmp_path / "project", pid, listening)
    pointer = point_at(user_home, state_file, pid, listening)

    assert main(["sandbox", "status"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "no sandbox running\n" and captured.err == ""
    assert not pointer.exists()


def test_a_pointer_to_a_sandbox_whose_api_is_closed_is_ignored(
    user_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nothing listens on any more
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    pid = os.getpid()  # alive, as a reused pid would be
    state_file = sandbox_started_in(tmp_path / "project", pid, closed)
    pointer = point_at(user_home, state_file, pid, closed)

    assert main(["sandbox", "status"]) == 1
    assert capsys.readouterr().out == "no sandbox running\n"
    assert not pointer.exists()
    assert state_file.exists()  # not ours to judge: its own directory's commands decide
