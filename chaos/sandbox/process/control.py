"""`gameday sandbox up|down|status|env`: start, find and stop the background sandbox."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.aws import AwsClients
from chaos.errors import ConfigurationError
from chaos.host import process_alive
from chaos.journal import gameday_home
from chaos.sandbox.demo.seed import JOURNAL_PREFIX, NODE_FUNCTION_NAME, NODE_ROUTE
from chaos.sandbox.functions.local.node_ric import cache_root, cached_node_ric
from chaos.sandbox.process.pointer import (
    SandboxPointer,
    read_pointer,
    remove_pointer,
    write_pointer,
)
from chaos.sandbox.process.pointer import pointer_file as pointer_file  # for the CLI
from chaos.sandbox.realism import Realism

START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
# The Node.js runtime client's first build (1-2 min on 2 cores) plus the first cold start.
NODE_READY_TIMEOUT_S = 600.0
NODE_HEALTH_PATH = f"/{NODE_ROUTE}/health"


@dataclass
class SandboxState:
    pid: int
    endpoint_url: str
    region: str
    started_at: str
    http_front: str | None
    service: dict[str, Any]
    work_dir: str | None = None  # the data plane's files (environments' code, layers)
    realism: str = "fast"
    cloudwatch_lag_s: dict[str, float] | None = None  # {"standard": s, "emf": s}
    # The state file it was read from: this directory's, or the one the pointer names.
    source: Path | None = field(default=None, init=False, compare=False)

    def clients(self) -> AwsClients:
        """boto3 clients of the sandbox's local AWS API."""
        return AwsClients(region=self.region, endpoint_url=self.endpoint_url)

    @property
    def api_endpoint(self) -> str | None:
        return f"{self.http_front}/prod" if self.http_front else None


def state_file() -> Path:
    """This directory's (or $GAMEDAY_HOME's) sandbox state file."""
    return gameday_home() / "sandbox.json"


def read_state() -> SandboxState | None:
    """The running sandbox, or None: this directory's (or $GAMEDAY_HOME's), else the live
    one the pointer under the user's home names (see :mod:`.pointer`). A stale state file
    of a dead process is removed, and so is a pointer to anything but a live sandbox."""
    return _read_state_file(state_file()) or _follow_pointer()


def _read_state_file(path: Path) -> SandboxState | None:
    try:
        state = SandboxState(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    if not process_alive(state.pid):
        path.unlink(missing_ok=True)
        return None
    state.source = path
    return state


def _follow_pointer() -> SandboxState | None:
    found = read_pointer()
    if found is None:
        return None
    state = _read_state_file(Path(found.state_file)) if found.names_live_sandbox() else None
    if state is None or (state.pid, state.endpoint_url) != (found.pid, found.endpoint_url):
        remove_pointer(found.pid)
        return None
    return state


def advertise(state: SandboxState) -> Path | None:
    """Point the user's other directories at `state`'s sandbox, unless the pointer already
    names another live one (the first sandbox keeps serving them). The pointer file, or
    None when it was not written."""
    if state.source is None:
        return None
    current = read_pointer()
    if current is not None and current.pid != state.pid and current.names_live_sandbox():
        return None
    return write_pointer(SandboxPointer(str(state.source), state.pid, state.endpoint_url))


def up(realism: Realism | None = None) -> tuple[SandboxState, bool]:
    """The running sandbox, starting one if needed; the flag says whether we started it.

    `realism` defaults to the environment (GAMEDAY_SANDBOX_REALISM, ...); a running sandbox
    of another realism is refused rather than silently reused. The running sandbox is this
    directory's or the one the pointer under the user's home names (:func:`read_state`), so
    `gameday sandbox up` in a second directory reuses the first's, as a second `up` in one
    directory always did. A sandbox started here writes its state file here; only
    :func:`advertise` points other directories at it.
    """
    realism = realism or Realism.from_env(os.environ)
    existing = read_state()
    if existing:
        if existing.realism != realism.mode:
            raise ConfigurationError(
                f"a sandbox with realism {existing.realism} is already running (pid "
                f"{existing.pid}, state {existing.source}); stop it first (gameday sandbox "
                f"down) to start one with realism {realism.mode}"
            )
        return existing, False
    home = gameday_home()
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "sandbox.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "chaos.sandbox.process.server",
                "--state-file",
                str(state_file()),
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ, **realism.to_env()},
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigurationError(
                f"the sandbox exited with code {process.returncode}; see {log_path}"
            )
        state = read_state()
        if state and state.pid == process.pid:
            state.clients().caller_account_id()
            return state, True
        time.sleep(0.1)
    process.kill()
    raise ConfigurationError(
        f"the sandbox did not start within {START_TIMEOUT_S:.0f}s; see {log_path}"
    )


def node_function_readiness(
    state: SandboxState,
    timeout_s: float = NODE_READY_TIMEOUT_S,
    announce: Callable[[str], None] | None = None,
) -> tuple[bool, str]:
    """Wait until orders-node answers its health route: (True, where the Node.js client is
    cached), or (False, the one-line reason it cannot run here). ``announce`` hears, before
    the wait, that the client is built now (its first need on this machine)."""
    if not state.api_endpoint or not state.http_front:
        return False, f"{NODE_FUNCTION_NAME} is unavailable: the sandbox has no HTTP front"
    if announce is not None and shutil.which("node") and cached_node_ric() is None:
        announce(
            f"building the Node.js runtime client for {NODE_FUNCTION_NAME} (first need "
            f"on this machine, 1-2 min; then cached in {cache_root() / 'node-ric'})"
        )
    deadline = time.monotonic() + timeout_s
    answer = ""
    while time.monotonic() < deadline:
        status, answer = _get(state.api_endpoint + NODE_HEALTH_PATH, timeout_s=35.0)
        node = _node_runtime_state(state.http_front)
        if status == 200:
            return True, (
                f"{NODE_FUNCTION_NAME} answers (Node.js runtime interface client "
                f"cached in {node.get('cache_dir') or 'the gameday cache'})"
            )
        if node.get("state") == "unavailable":
            return False, (
                f"{NODE_FUNCTION_NAME} is unavailable ({node.get('reason')}); the "
                "Python service runs"
            )
        time.sleep(0.5)
    return False, (
        f"{NODE_FUNCTION_NAME} did not answer within {timeout_s:.0f}s (last: "
        f"{answer[:200]}); the Python service runs"
    )


def _get(url: str, timeout_s: float) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode("utf-8", "replace")
    except OSError as error:
        return 0, str(error)


def _node_runtime_state(http_front: str) -> dict[str, Any]:
    status, body = _get(http_front + "/_sandbox/status", timeout_s=10.0)
    try:
        document = json.loads(body) if status == 200 else {}
        return dict(document.get("runtimes", {}).get("nodejs", {}))
    except (ValueError, AttributeError, TypeError):
        return {}


def down(state: SandboxState | None = None) -> bool:
    """Stop `state`'s sandbox (by default the running one :func:`read_state` finds) and
    remove its state file and the pointer to it; False if it was not running."""
    state = state or read_state()
    if not state or not process_alive(state.pid):
        return False
    os.kill(state.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while process_alive(state.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if process_alive(state.pid):
        os.kill(state.pid, signal.SIGKILL)
    (state.source or state_file()).unlink(missing_ok=True)
    remove_pointer(state.pid)
    return True


def env_lines(state: SandboxState) -> list[str]:
    lines = [
        f"export AWS_ENDPOINT_URL={state.endpoint_url}",
        "export AWS_ACCESS_KEY_ID=testing",
        "export AWS_SECRET_ACCESS_KEY=testing",
        f"export AWS_DEFAULT_REGION={state.region}",
    ]
    if state.api_endpoint:
        lines.append(f"export GAMEDAY_SANDBOX_ENDPOINT={state.api_endpoint}")
    bucket = state.service.get("journal_bucket")
    if bucket:
        lines.append(f"export GAMEDAY_JOURNAL=s3://{bucket}/{JOURNAL_PREFIX}")
    return lines
