"""End-to-end fixtures: a real sandbox process and the real CLI in subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from chaos.aws import AwsClients
from chaos.sandbox.process import control

REPO = Path(__file__).resolve().parents[2]


#: `--realism aws` for tests: AWS's delays at a tenth of their length (documented in
#: chaos/sandbox/realism.py), seeded so that every draw repeats.
AWS_REALISM = {
    "GAMEDAY_SANDBOX_REALISM": "aws",
    "GAMEDAY_SANDBOX_TIME_SCALE": "0.1",
    "GAMEDAY_SANDBOX_SEED": "7",
}
REALISMS = {"fast": {"GAMEDAY_SANDBOX_REALISM": "fast"}, "aws": AWS_REALISM}


@contextmanager
def running_sandbox(home: Path, settings: dict[str, str]) -> Iterator[Path]:
    """A sandbox started with `settings` in the environment, in its own GAMEDAY_HOME."""
    settings = {"GAMEDAY_HOME": str(home), **settings}
    previous = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        control.up()
        yield home
    finally:
        control.down()
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def sandbox_home(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Path]:
    """A running sandbox (one per test module) in its own GAMEDAY_HOME.

    Parametrize it indirectly with "fast" or "aws" to pick its realism (default fast).
    """
    realism = getattr(request, "param", "fast")
    home = tmp_path_factory.mktemp(f"sandbox-home-{realism}")
    with running_sandbox(home, REALISMS[realism]):
        yield home


@pytest.fixture
def sandbox_clients(sandbox_home: Path) -> AwsClients:
    state = control.read_state()
    assert state is not None, "sandbox is not running"
    return state.clients()


def gameday(home: Path, *args: str, **popen: Any) -> subprocess.Popen[str]:
    """Start the real CLI (`python -m chaos ...`) as a subprocess."""
    env = dict(os.environ, GAMEDAY_HOME=str(home), PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "chaos", *args],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        **popen,
    )


def gameday_ok(home: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    process = gameday(home, *args)
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def write_experiment(
    directory: Path, name: str, *, fault: str, extra: str = "", fault_block: str | None = None
) -> Path:
    faults = fault_block or (
        "  - type: lambda-extension\n"
        "    functions: [orders]\n"
        "    latency: {ms: 200, rate: 1.0}\n"
        "    error: {status_code: 503, rate: 0.1}\n"
    )
    path = directory / f"{name}.yaml"
    path.write_text(
        "version: 1\n"
        "kind: experiment\n"
        f"name: {name}\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        f"phases: {{baseline: 0s, fault: {fault}, recovery: 0s}}\n"
        "max_duration: 30m\n"
        f"faults:\n{faults}{extra}"
    )
    return path


def wait_for(
    predicate: Callable[[], Any],
    timeout: float = 60,
    what: str = "condition",
    process: subprocess.Popen[str] | None = None,
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            stdout, stderr = process.communicate()
            raise AssertionError(
                f"gameday exited {process.returncode} while waiting for {what}:\n{stdout}\n{stderr}"
            )
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def applied_journal(home: Path) -> dict[str, Any] | None:
    """The journal of a run whose fault is applied, if any."""
    for path in (home / "runs").glob("*/journal.json"):
        journal = json.loads(path.read_text())
        if journal["entries"] and all(e["status"] == "applied" for e in journal["entries"]):
            return dict(journal)
    return None


def wait_until_applied(home: Path, process: subprocess.Popen[str]) -> dict[str, Any]:
    journal: dict[str, Any] = wait_for(
        lambda: applied_journal(home), what="the fault to be applied", process=process
    )
    return journal


def function_state(clients: AwsClients, name: str = "orders") -> str:
    """Layers and Environment of a function, serialized exactly as AWS returns them."""
    config = clients.lambda_.get_function_configuration(FunctionName=name)
    return json.dumps(
        {"Layers": config.get("Layers"), "Environment": config.get("Environment")}, sort_keys=True
    )
