"""`gameday extension build`: same bytes and sha256 every build."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path


def build(out: Path) -> tuple[Path, str]:
    result = subprocess.run([sys.executable, "-m", "chaos", "extension", "build", "--out",
                             str(out)], capture_output=True, text=True, timeout=60, check=True)
    path_line, sha_line = result.stdout.strip().splitlines()
    return Path(path_line), sha_line.removeprefix("sha256 ")


def test_two_builds_have_the_same_sha256(tmp_path: Path) -> None:
    first, first_sha = build(tmp_path / "a")
    second, second_sha = build(tmp_path / "b")
    assert first_sha == second_sha == hashlib.sha256(first.read_bytes()).hexdigest()
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        modes = {info.filename: (info.external_attr >> 16) & 0o777 for info in archive.infolist()}
    assert modes["extensions/gameday-chaos"] == 0o755
    assert modes["gameday-chaos-wrapper"] == 0o755
    assert any(name.startswith("gameday_chaos/") and name.endswith(".py") for name in modes)
