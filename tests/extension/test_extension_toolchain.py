"""chaos.faults.lambda_extension.toolchain: the pinned toolchain and a clean build environment.

The full rebuild (`gameday extension verify`, about a minute and a half) is its own CI step.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.faults.lambda_extension import toolchain as extension_build
from chaos.faults.lambda_extension.toolchain import (
    GO_VERSION,
    ToolchainError,
    go_environment,
    goroot,
    source_dir,
)


def test_the_pinned_toolchain_is_installed():
    root = goroot()
    assert (root / "VERSION").read_text().split()[0] == f"go{GO_VERSION}"
    assert (source_dir() / "go.mod").is_file()


def test_another_go_version_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    fake = tmp_path / "go"
    (fake / "bin").mkdir(parents=True)
    (fake / "bin" / "go").write_text("")
    (fake / "VERSION").write_text("go1.22.0\ntime 2024\n")

    class Spec:
        submodule_search_locations = [str(fake)]

    monkeypatch.setattr(extension_build.importlib.util, "find_spec", lambda name: Spec())
    with pytest.raises(ToolchainError, match=f"pinned to go{GO_VERSION}"):
        goroot()


def test_the_build_environment_ignores_the_callers_go_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("GOFLAGS", "-race")
    monkeypatch.setenv("GOEXPERIMENT", "something")
    monkeypatch.setenv("CGO_ENABLED", "1")
    env = go_environment(Path("/goroot"), "arm64", tmp_path)
    assert env["GOFLAGS"] == "" and "GOEXPERIMENT" not in env and env["CGO_ENABLED"] == "0"
    assert env["GOARCH"] == "arm64" and env["GOTOOLCHAIN"] == "local" and env["GOPROXY"] == "off"
    assert env["GOCACHE"] == str(tmp_path / "gocache")
