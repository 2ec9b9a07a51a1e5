"""This machine: free loopback ports, live processes, loopback HTTP servers, zip extraction."""

from __future__ import annotations

import os
import socket
import zipfile
from http.server import ThreadingHTTPServer
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def process_alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie child of ours is reaped and counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        return finished == 0
    except ChildProcessError:
        return True  # not our child: kill(0) answered, so it runs


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server for 127.0.0.1 that never waits on its handler threads."""

    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True


def extract_zip(archive: zipfile.ZipFile, target: Path) -> list[str]:
    """Extract `archive` under `target` keeping Unix modes; returns the entries left out
    because they would land outside `target` (the caller decides how bad that is)."""
    root = target.resolve()
    escaping = []
    for info in archive.infolist():
        destination = (target / info.filename).resolve()
        if not destination.is_relative_to(root):
            escaping.append(info.filename)
            continue
        if info.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(archive.read(info))
        mode = (info.external_attr >> 16) & 0o777
        destination.chmod(mode or 0o644)
    return escaping
