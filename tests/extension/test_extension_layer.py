"""The layer zips (chaos.faults.lambda_extension.layer): one per architecture, layout, modes,
reproducibility, and
the packaged binaries (static ELF executables of the right machine)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess
import zipfile
from pathlib import Path

import pytest

from chaos.faults.lambda_extension.layer import (
    ARCHITECTURES,
    binary_path,
    build_layer_zip,
    code_sha256,
    lambda_code_sha256,
    layer_zip_name,
    package_dir,
    sha256_hex,
    write_layer_zips,
)

# e_machine of the ELF header: x86-64 is 62, AArch64 is 183
ELF_MACHINE = {"x86_64": 62, "arm64": 183}
PT_INTERP = 3
PT_DYNAMIC = 2


def test_building_twice_gives_the_same_bytes(tmp_path: Path):
    for architecture in ARCHITECTURES:
        first, second = build_layer_zip(architecture), build_layer_zip(architecture)
        assert first == second
        assert code_sha256(architecture) == lambda_code_sha256(first)
    assert build_layer_zip("x86_64") != build_layer_zip("arm64")
    paths = write_layer_zips(tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        layer_zip_name(architecture) for architecture in ARCHITECTURES
    )
    for architecture, path in paths.items():
        assert sha256_hex(path.read_bytes()) == sha256_hex(build_layer_zip(architecture))


def test_lambda_code_sha256_is_base64_of_the_digest():
    data = b"abc"
    assert lambda_code_sha256(data) == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert lambda_code_sha256(data) == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_layout_modes_and_fixed_metadata(architecture: str):
    archive = zipfile.ZipFile(io.BytesIO(build_layer_zip(architecture)))
    infos = archive.infolist()
    assert [info.filename for info in infos] == [
        "extensions/gameday-chaos",
        "gameday-chaos-wrapper",
    ]
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert info.create_system == 3
        assert info.compress_type == zipfile.ZIP_STORED
        assert info.external_attr >> 16 == 0o100755, info.filename
    assert archive.read("extensions/gameday-chaos") == binary_path(architecture).read_bytes()
    assert archive.read("gameday-chaos-wrapper").startswith(b"#!/bin/sh\n")


def _program_headers(data: bytes) -> list[int]:
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1  # 64-bit little-endian
    phoff = int.from_bytes(data[32:40], "little")
    phentsize = int.from_bytes(data[54:56], "little")
    phnum = int.from_bytes(data[56:58], "little")
    return [
        int.from_bytes(data[phoff + i * phentsize : phoff + i * phentsize + 4], "little")
        for i in range(phnum)
    ]


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_packaged_binaries_are_static_executables(architecture: str):
    data = binary_path(architecture).read_bytes()
    assert int.from_bytes(data[16:18], "little") == 2  # ET_EXEC: not a PIE needing a loader
    assert int.from_bytes(data[18:20], "little") == ELF_MACHINE[architecture]
    segments = _program_headers(data)
    assert PT_INTERP not in segments and PT_DYNAMIC not in segments  # no libc, no loader
    assert os.access(binary_path(architecture), os.X_OK)
    described = subprocess.run(
        ["file", "-b", str(binary_path(architecture))],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "statically linked" in described, described


def test_the_wrapper_redirects_only_a_configured_enabled_extension(tmp_path: Path):
    """The script's own shortcuts: no config or disabled -> the runtime runs unchanged."""
    wrapper = package_dir() / "layer" / "common" / "gameday-chaos-wrapper"
    env = {"PATH": os.environ["PATH"], "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}
    for extra in (
        {},
        {"GAMEDAY_CHAOS_CONFIG": "{}", "GAMEDAY_CHAOS_DISABLE": "TrUe"},
        {"GAMEDAY_CHAOS_CONFIG": "{}", "GAMEDAY_CHAOS_DISABLE": "1"},
    ):
        done = subprocess.run(
            [str(wrapper), "sh", "-c", 'printf %s "$AWS_LAMBDA_RUNTIME_API"'],
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        assert done.stdout == "127.0.0.1:9001" and done.stderr == ""


def test_the_wrapper_fails_open_when_the_binary_cannot_run(tmp_path: Path):
    (tmp_path / "extensions").mkdir()
    broken = tmp_path / "extensions" / "gameday-chaos"
    broken.write_bytes(b"\x7fELF not really")
    broken.chmod(0o755)
    wrapper = tmp_path / "gameday-chaos-wrapper"
    wrapper.write_bytes((package_dir() / "layer" / "common" / "gameday-chaos-wrapper").read_bytes())
    wrapper.chmod(0o755)
    env = {
        "PATH": os.environ["PATH"],
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
        "GAMEDAY_CHAOS_CONFIG": "{}",
        "AWS_LAMBDA_FUNCTION_NAME": "orders",
    }
    done = subprocess.run(
        [str(wrapper), "printf", "%s|", "a b", "", "$x"],
        env=env,
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    assert done.stdout == "a b||$x|"  # the runtime's arguments arrive exactly
    assert "FAIL OPEN" in done.stderr
    emf = [line for line in done.stderr.splitlines() if line.startswith("{")]
    assert len(emf) == 1 and '"ExtensionFailOpen":1' in emf[0]
    assert '"FunctionName":"orders"' in emf[0]
