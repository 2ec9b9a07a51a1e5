"""The pointer to the sandbox `gameday sandbox up` left running, under the user's home.

`gameday sandbox up` writes the sandbox's state file where it ran (``.gameday/sandbox.json``
under the current directory, or ``$GAMEDAY_HOME``) and this pointer to it:
``$XDG_STATE_HOME/gameday/sandbox-pointer.json`` (by default
``~/.local/state/gameday/sandbox-pointer.json``, the XDG Base Directory place for state
that outlives a command). A command run in a directory with no sandbox of its own follows
the pointer, but only to a sandbox that is alive: its process runs and its AWS API accepts
connections on the loopback interface. A pointer to anything else is stale and removed.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from chaos.files import write_atomically
from chaos.host import process_alive

POINTER_NAME = "sandbox-pointer.json"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
#: A live sandbox accepts a connection at once; a closed port refuses at once too.
CONNECT_TIMEOUT_S = 1.0


@dataclass(frozen=True)
class SandboxPointer:
    """Which state file holds the running sandbox, and the process and API it names."""

    state_file: str
    pid: int
    endpoint_url: str

    def names_live_sandbox(self) -> bool:
        """Its process runs and its AWS API answers on 127.0.0.1 (a reused pid does not)."""
        return process_alive(self.pid) and _loopback_port_open(self.endpoint_url)


def pointer_file() -> Path | None:
    """Where the pointer lives; None when the user has no home directory to hold it."""
    state_home = os.environ.get("XDG_STATE_HOME")
    if state_home and Path(state_home).is_absolute():  # the XDG spec ignores relative ones
        return Path(state_home) / "gameday" / POINTER_NAME
    try:
        return Path.home() / ".local" / "state" / "gameday" / POINTER_NAME
    except RuntimeError:
        return None


def read_pointer() -> SandboxPointer | None:
    """The pointer as written, None when there is none (or it is not one of ours)."""
    path = pointer_file()
    if path is None:
        return None
    try:
        raw = json.loads(path.read_text())
        pointer = SandboxPointer(
            state_file=str(raw["state_file"]),
            pid=int(raw["pid"]),
            endpoint_url=str(raw["endpoint_url"]),
        )
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return pointer


def write_pointer(pointer: SandboxPointer) -> Path | None:
    """Point at `pointer`'s sandbox (atomically, owner-only); the file, or None when it
    cannot be written (the sandbox then serves its own directory only)."""
    path = pointer_file()
    if path is None:
        return None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomically(path, json.dumps(asdict(pointer), indent=2))
    except OSError:
        return None
    return path


def remove_pointer(pid: int) -> None:
    """Remove the pointer if it still names the sandbox of `pid` (another may have replaced
    it since)."""
    pointer = read_pointer()
    path = pointer_file()
    if pointer is not None and pointer.pid == pid and path is not None:
        path.unlink(missing_ok=True)


def _loopback_port_open(url: str) -> bool:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.hostname not in LOOPBACK_HOSTS or port is None:
        return False  # the sandbox only ever listens on the loopback interface
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False
