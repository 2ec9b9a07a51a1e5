"""The orchestrator's memory does not grow with the run's length (issue "Long and large
game days", acceptance 1): a sandbox run with 62 WAF identities for 150 s."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.conftest import gameday

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
GROWTH_LIMIT_MB = 15
PEAK_LIMIT_MB = 300


def status_mb(pid: int, field: str) -> float | None:
    """VmRSS / VmHWM of a live process, in MB (None once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


@pytest.mark.timeout(400)
def test_rss_is_flat_over_a_long_run_with_many_waf_identities(
    sandbox_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(
        "version: 1\nkind: experiment\nname: long-memory\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        "phases: {baseline: 60s, fault: 60s, recovery: 35s}\n"
        "max_duration: 5m\nfaults: []\n"
        "load:\n"
        f"  locustfile: {REPO / 'loadtests' / 'orders.py'}\n"
        "  users: 8\n  spawn_rate: 8\n  workers: 2\n"
        "  waf: {rule: orders-rate-limit, abusive_clients: 2, legit_clients: 60}\n"
    )
    process = gameday(
        sandbox_home,
        "run",
        "--sandbox",
        str(path),
        "--yes",
        "--report-dir",
        str(tmp_path / "reports"),
    )
    started = time.monotonic()
    samples: dict[int, float] = {}
    peak = 0.0
    for _ in range(8000):  # bounded: 50 ms apart, the run takes about 160 s
        if process.poll() is not None:
            break
        elapsed = int(time.monotonic() - started)
        rss, hwm = status_mb(process.pid, "VmRSS"), status_mb(process.pid, "VmHWM")
        if rss is not None:
            samples.setdefault(elapsed, rss)
        peak = max(peak, hwm or 0.0)
        time.sleep(0.05)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stdout + stderr
    at_50 = next(samples[second] for second in range(50, 60) if second in samples)
    at_150 = next(samples[second] for second in range(150, 140, -1) if second in samples)
    print(f"rss at 50 s {at_50:.0f} MB, at 150 s {at_150:.0f} MB, peak {peak:.0f} MB")
    assert at_150 - at_50 <= GROWTH_LIMIT_MB
    assert peak <= PEAK_LIMIT_MB
    assert (tmp_path / "reports" / "result.json").exists()
