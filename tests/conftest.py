from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

E2E = Path(__file__).parent / "e2e"


#: The niceness of an xdist worker while it runs a test that is not end-to-end.
BESIDE_E2E_NICENESS = 10


def is_e2e(item: pytest.Item) -> bool:
    return E2E in item.path.parents


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end tests run one after another on one xdist worker (`--dist loadgroup`):
    each drives a sandbox, Locust and the CLI, and several at once on a small CI machine
    would measure each other. The other tests share the remaining workers."""
    for item in items:
        if is_e2e(item):
            item.add_marker(pytest.mark.xdist_group("e2e"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Beside the end-to-end tests, the others (and what they start) yield the CPU.

    End-to-end runs measure latency and rates against a sandbox on the same cores: a
    cold start slowed by a CPU-bound property test beside it would breach a demo's SLO.
    Where lowering the niceness again is not allowed (not root), it stays raised.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, 0 if is_e2e(item) else BESIDE_E2E_NICENESS)


@pytest.fixture(autouse=True)
def runs_without_janitor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs in tests schedule no janitor (GAMEDAY_NO_JANITOR=1, inherited by the CLI in
    subprocesses): a run that changes something needs one deployed otherwise. The janitor's
    own tests remove the variable."""
    monkeypatch.setenv("GAMEDAY_NO_JANITOR", "1")


@pytest.fixture
def gameday_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated GAMEDAY_HOME (runs, journals, sandbox state) for one test."""
    home = tmp_path / "gameday-home"
    home.mkdir()
    monkeypatch.setenv("GAMEDAY_HOME", str(home))
    return home


@pytest.fixture
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and no endpoint/profile override: for moto's in-process mock."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
