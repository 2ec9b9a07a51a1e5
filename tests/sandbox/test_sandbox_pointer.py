"""The sandbox `gameday sandbox up` started in one directory serves every other: through the
pointer under the user's home, with no second sandbox, and with each directory's runs kept
in that directory. One sandbox for the module, started by the real CLI as a user would."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chaos.sandbox.functions.local.node_ric import cache_root

REPO = Path(__file__).resolve().parents[2]
POINTER = Path(".local") / "state" / "gameday" / "sandbox-pointer.json"

pytestmark = pytest.mark.timeout(240)


@dataclass
class Places:
    home: Path  # the user's home: HOME
    project: Path  # where `gameday sandbox up` ran
    elsewhere: Path  # another directory of theirs, with no .gameday

    @property
    def pointer(self) -> Path:
        return self.home / POINTER

    @property
    def state_file(self) -> Path:
        return self.project / ".gameday" / "sandbox.json"


def user_env(home: Path) -> dict[str, str]:
    """The user's shell: their HOME, no GAMEDAY_HOME; this checkout's code, the built
    Node.js runtime client reused."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("GAMEDAY_HOME", "XDG_STATE_HOME")
    }
    return {
        **env,
        "HOME": str(home),
        "GAMEDAY_CACHE_DIR": str(cache_root()),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    }


def gameday(
    places: Places, cwd: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaos", *args],
        cwd=cwd,
        env=user_env(places.home),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Places]:
    root = tmp_path_factory.mktemp("pointer")
    found = Places(root / "home", root / "project", root / "elsewhere")
    for folder in (found.home, found.project, found.elsewhere):
        folder.mkdir()
    up = gameday(found, found.project, "sandbox", "up", timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    try:
        yield found
    finally:
        gameday(found, found.project, "sandbox", "down")


def experiment(folder: Path) -> Path:
    path = folder / "short.yaml"
    path.write_text(
        "version: 1\nkind: experiment\nname: pointer\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        "phases: {baseline: 1s, fault: 1s, recovery: 1s}\nmax_duration: 2m\n"
        "faults:\n  - type: lambda-extension\n    functions: [orders]\n"
        "    latency: {ms: 20}\n"
    )
    return path


def started_here(folder: Path) -> bool:
    """Whether a sandbox was started with `folder` as its GAMEDAY_HOME (it logs there)."""
    return (folder / ".gameday" / "sandbox.log").exists()


def test_sandbox_up_leaves_a_private_pointer_to_its_state_under_home(places: Places) -> None:
    assert places.state_file.exists()
    assert stat.S_IMODE(places.pointer.stat().st_mode) == 0o600
    assert str(places.state_file) in places.pointer.read_text()


def test_plan_from_another_directory_uses_the_running_sandbox(places: Places) -> None:
    plan = gameday(places, places.elsewhere, "plan", "--sandbox", str(experiment(places.elsewhere)))
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "-> sandbox" in plan.stdout
    assert not started_here(places.elsewhere), plan.stderr
    assert "started" not in plan.stderr


def test_a_run_from_another_directory_keeps_its_journal_there(places: Places) -> None:
    run = gameday(
        places, places.elsewhere, "run", "--sandbox", str(experiment(places.elsewhere)), "--yes"
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert not started_here(places.elsewhere), run.stderr
    assert list((places.elsewhere / ".gameday" / "runs").glob("*/journal.json"))
    assert not (places.project / ".gameday" / "runs").exists()


def test_sandbox_up_in_another_directory_names_the_running_one(places: Places) -> None:
    up = gameday(places, places.elsewhere, "sandbox", "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert "already running" in up.stdout and str(places.state_file) in up.stdout
    assert not started_here(places.elsewhere)


def test_sandbox_down_from_another_directory_stops_it_and_removes_the_pointer(
    places: Places,
) -> None:
    down = gameday(places, places.elsewhere, "sandbox", "down")
    assert down.returncode == 0, down.stdout + down.stderr
    assert "sandbox stopped" in down.stdout
    assert not places.pointer.exists()
    assert not places.state_file.exists()
    status = gameday(places, places.project, "sandbox", "status")
    assert status.stdout == "no sandbox running\n"
