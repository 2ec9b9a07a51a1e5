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
