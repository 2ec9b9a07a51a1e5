"""The benchmarks fail (exit 1) when a stated target is missed, after printing their line."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def bench(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_orchestrator_memory_targets() -> None:
    memory = bench("orchestrator_memory")
    met = {"peak_rss_mb": 180.0, "rss_growth_mb_per_hour": 12.5, "assemble_s": 2.1}
    assert memory.missed_targets(met) == []
    assert memory.missed_targets({**met, "peak_rss_mb": 300.0}) == []  # at the limit: met
    assert memory.missed_targets({**met, "peak_rss_mb": 301.0}) == ["peak_rss_mb=301.00 > 300 MB"]
    assert memory.missed_targets({**met, "rss_growth_mb_per_hour": 50.5, "assemble_s": 10.2}) == [
        "rss_growth_mb_per_hour=50.50 > 50 MB per hour",
        "assemble_s=10.20 > 10 s",
    ]
    assert memory.missed_targets({"peak_rss_mb": 10.0, "assemble_s": 1.0}) == [
        "rss_growth_mb_per_hour not measured (target <= 50 MB per hour)"
    ]


def test_orchestrator_memory_exits_1_after_printing_when_a_target_is_missed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    memory = bench("orchestrator_memory")
    monkeypatch.setattr(
        sys, "argv", ["orchestrator_memory.py", "--seconds", "20", "--rows-per-second", "20"]
    )
    monkeypatch.setattr(memory, "peak_rss_mb", lambda: 4096.0)  # as if it had grown
    assert memory.main() == 1
    captured = capsys.readouterr()
    assert "peak_rss_mb=4096 rss_growth_mb_per_hour=" in captured.out
    assert "target missed: peak_rss_mb=4096.00 > 300 MB" in captured.err
    monkeypatch.setattr(memory, "peak_rss_mb", lambda: 100.0)
    monkeypatch.setattr(memory, "rss_mb", lambda: 100.0)  # no growth
    assert memory.main() == 0


def test_load_efficiency_target() -> None:
    efficiency = bench("load_efficiency")
    assert efficiency.missed_target(0.991) is None
    assert efficiency.missed_target(0.98) is None
    assert efficiency.missed_target(0.962) == "ratio_per_cpu=0.962 < 0.98"
    assert efficiency.missed_target(None) == (
        "ratio_per_cpu not measured (plain Locust served nothing)"
    )
