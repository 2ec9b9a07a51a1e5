from __future__ import annotations

from pathlib import Path

import pytest

E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end tests run one after another on one xdist worker (`--dist loadgroup`):
    each drives a sandbox, Locust and the CLI, and several at once on a small CI machine
    would measure each other. The other tests share the remaining workers."""
    for item in items:
        if E2E in item.path.parents:
            item.add_marker(pytest.mark.xdist_group("e2e"))


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
