from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def gameday_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated GAMEDAY_HOME (runs, journals, sandbox state) for one test."""
    home = tmp_path / "gameday-home"
    home.mkdir()
    monkeypatch.setenv("GAMEDAY_HOME", str(home))
    return home
