"""`gameday validate` through the real CLI process: exit 2, one `file:line:col:` line each."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "unit" / "fixtures"
BROKEN = sorted((FIXTURES / "broken").glob("*"))
LOCATED_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): \S")


def gameday(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaos", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_there_are_broken_fixtures_for_every_required_case() -> None:
    names = " ".join(path.name for path in BROKEN)
    for case in ("indent", "unknown", "type", "duration", "missing", "empty", "binary"):
        assert case in names, f"no broken fixture for {case}"


def test_each_broken_file_gives_one_located_line_and_exit_2() -> None:
    result = gameday("validate", *map(str, BROKEN))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(BROKEN), result.stderr
    for path, line in zip(BROKEN, lines, strict=True):
        match = LOCATED_LINE.match(line)
        assert match, line
        assert match["file"] == str(path)


@pytest.mark.parametrize("kind", ["directory", "missing-file"])
def test_a_directory_or_missing_path_is_one_line(tmp_path: Path, kind: str) -> None:
    target = tmp_path / ("empty-dir" if kind == "directory" else "nope.yaml")
    if kind == "directory":
        target.mkdir()
    result = gameday("validate", str(target))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{target}:1:1: "), result.stderr
    assert "Traceback" not in result.stderr


def test_valid_examples_pass() -> None:
    examples = Path(__file__).resolve().parents[2] / "experiments"
    result = gameday("validate", str(examples))
    assert result.returncode == 0, result.stderr


def test_schema_is_json_schema_for_both_kinds() -> None:
    import json

    result = gameday("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"].endswith("2020-12/schema")
    text = json.dumps(schema)
    assert "experiment" in text and "gameday" in text


def waf_experiment(folder: Path, phases: str, abusive_clients: int = 2) -> Path:
    path = folder / "waf.yaml"
    path.write_text(
        "version: 1\nkind: experiment\nname: waf\n"
        "target: {region: us-east-1, endpoint: sandbox}\n"
        f"phases: {phases}\nmax_duration: 3m\nfaults: []\n"
        "load:\n  locustfile: orders.py\n  users: 4\n  spawn_rate: 4\n"
        f"  waf: {{rule: orders-rate-limit, abusive_clients: {abusive_clients}}}\n"
    )
    return path


def test_a_waf_load_too_short_for_any_rule_to_block_is_warned(tmp_path: Path) -> None:
    """20s + 10s + 10s: less than the shortest evaluation window's crossing (60s / 3) plus
    AWS's documented detection delay (30 s), whatever the rule."""
    path = waf_experiment(tmp_path, "{baseline: 20s, fault: 10s, recovery: 10s}")
    result = gameday("validate", str(path))
    assert result.returncode == 0, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"{path}:5:") and "warning: the phases last 40s" in line, line
    assert "AWS WAF may take up to 30s more" in line
    assert "make the phases at least 50s" in line


@pytest.mark.parametrize(
    ("phases", "abusive_clients"),
    [
        ("{baseline: 20s, fault: 20s, recovery: 10s}", 2),
        ("{baseline: 5s, fault: 5s, recovery: 5s}", 0),
    ],
)
def test_a_waf_load_that_some_rule_can_block_in_is_not_warned(
    tmp_path: Path, phases: str, abusive_clients: int
) -> None:
    """50s can be enough (a 60 s window: only `gameday plan`, which reads the rule, knows);
    with no abusive client there is no block to wait for."""
    result = gameday("validate", str(waf_experiment(tmp_path, phases, abusive_clients)))
    assert result.returncode == 0 and result.stderr == "", result.stderr
