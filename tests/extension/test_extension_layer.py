"""The layer zip (chaos.layer): layout, modes, reproducibility."""

from __future__ import annotations

import base64
import hashlib
import io
import zipfile
from pathlib import Path

from chaos.layer import (
    LAYER_ZIP_NAME,
    build_layer_zip,
    lambda_code_sha256,
    sha256_hex,
    write_layer_zip,
)


def test_building_twice_gives_the_same_bytes(tmp_path: Path):
    first, second = build_layer_zip(), build_layer_zip()
    assert first == second
    assert sha256_hex(first) == sha256_hex(second) == hashlib.sha256(first).hexdigest()
    path = write_layer_zip(tmp_path / "out")
    assert path == tmp_path / "out" / LAYER_ZIP_NAME
    assert sha256_hex(path.read_bytes()) == sha256_hex(first)
    assert sorted(p.name for p in path.parent.iterdir()) == [LAYER_ZIP_NAME]


def test_lambda_code_sha256_is_base64_of_the_digest():
    data = b"abc"
    assert lambda_code_sha256(data) == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert lambda_code_sha256(data) == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="


def test_layout_modes_and_fixed_metadata():
    archive = zipfile.ZipFile(io.BytesIO(build_layer_zip()))
    infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert "extensions/gameday-chaos" in names
    assert "gameday-chaos-wrapper" in names
    for module in ("__init__", "config", "engine", "proxy", "extension", "__main__"):
        assert f"gameday_chaos/{module}.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert not any(n.startswith("gameday_chaos/layer") for n in names)
    for info in infos:
        mode = info.external_attr >> 16
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.create_system == 3
        executable = info.filename in ("extensions/gameday-chaos", "gameday-chaos-wrapper")
        assert mode == (0o100755 if executable else 0o100644), info.filename
    launcher = archive.read("extensions/gameday-chaos")
    assert launcher.startswith(b"#!/bin/sh\n")
