"""`gameday extension build --out DIR`: one zip per architecture in DIR, same bytes every build."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

from chaos.faults.lambda_extension.layer import ARCHITECTURES, layer_zip_name


def build(out: Path) -> dict[str, tuple[Path, str]]:
    result = subprocess.run(
        [sys.executable, "-m", "chaos", "extension", "build", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    built = {}
    for line in result.stdout.strip().splitlines():
        path, _, sha = line.partition(" sha256 ")
        built[Path(path).name] = (Path(path), sha)
    return built


def test_two_builds_have_the_same_sha256(tmp_path: Path) -> None:
    first, second = build(tmp_path / "a"), build(tmp_path / "b")
    names = sorted(layer_zip_name(architecture) for architecture in ARCHITECTURES)
    assert sorted(first) == sorted(second) == names
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == names  # directly in DIR
    for name in names:
        (path_a, sha_a), (path_b, sha_b) = first[name], second[name]
        assert sha_a == sha_b == hashlib.sha256(path_a.read_bytes()).hexdigest()
        assert path_a.read_bytes() == path_b.read_bytes()
        with zipfile.ZipFile(path_a) as archive:
            modes = {
                info.filename: (info.external_attr >> 16) & 0o777 for info in archive.infolist()
            }
        assert modes == {"extensions/gameday-chaos": 0o755, "gameday-chaos-wrapper": 0o755}
