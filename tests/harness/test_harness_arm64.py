"""The arm64 binary through a full Runtime API round trip, under QEMU user-mode emulation.

The layer's arm64 extension (and the wrapper's probe, the same binary) run through
qemu-aarch64-static on this x86_64 machine: the proxy registers, relays the event to the
real Python runtime client and injects an error fault. A machine without QEMU fails this
test (Debian package: qemu-user-static), it is not skipped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from harness_support import config_json, emf_lines

from chaos.faults.lambda_extension.layer import write_layer_zip

pytestmark = pytest.mark.timeout(180)
QEMU = "qemu-aarch64-static"


def _arm64_layer_under_qemu(tmp_path: Path) -> Path:
    qemu = shutil.which(QEMU)
    assert qemu, f"{QEMU} is not installed (Debian: apt-get install qemu-user-static)"
    layer = tmp_path / "layer"
    with zipfile.ZipFile(write_layer_zip(tmp_path / "zips", "arm64")) as archive:
        archive.extractall(layer)
    real = tmp_path / "arm64" / "gameday-chaos"  # the binary keeps its name: it registers by it
    real.parent.mkdir()
    shutil.move(layer / "extensions" / "gameday-chaos", real)
    real.chmod(0o755)
    described = subprocess.run(
        ["file", "-b", str(real)], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    assert "ARM aarch64" in described and "statically linked" in described, described
    launcher = layer / "extensions" / "gameday-chaos"
    launcher.write_text(f'#!/bin/sh\nexec {qemu} {real} "$@"\n')
    launcher.chmod(0o755)
    (layer / "gameday-chaos-wrapper").chmod(0o755)
    return layer


def test_the_arm64_extension_injects_a_fault_under_qemu(make_env, tmp_path: Path):
    layer = _arm64_layer_under_qemu(tmp_path)
    env = make_env(
        config_json(
            {"error": {"status_code": 418, "rate": 1.0}, "latency": {"ms": 20, "rate": 1.0}},
            run_id="r-arm64",
        ),
        layer=layer,
        timeout_s=10,
    )
    env.init_timeout_s = 60  # emulated start-up is slower
    report = env.start()
    assert set(report.extensions_ms) == {"gameday-chaos"}
    result = env.invoke(b'{"x": 1}')
    assert result.function_error is None
    response = result.json()
    assert response["statusCode"] == 418 and response["headers"]["X-Gameday-Chaos-Fault"] == "error"
    assert json.loads(response["body"])["run_id"] == "r-arm64"
    lines = emf_lines(env)
    assert sorted(line["FaultType"] for line in lines) == ["error", "latency"]
    assert any("runtime API proxy on" in line.text for line in env.logs("extension"))
    assert not any("FAIL OPEN" in line.text for line in env.logs())
