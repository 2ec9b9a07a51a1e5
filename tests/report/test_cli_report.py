from __future__ import annotations

import json
from pathlib import Path

import pytest

from chaos.cli import main
from chaos.report import write_result
from tests.report.synthetic import synthetic_result


def test_report_rerenders_each_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result_path = write_result(tmp_path, synthetic_result())
    assert (
        main(
            [
                "report",
                str(result_path),
                "--format",
                "md",
                "--format",
                "junit",
                "--out",
                str(tmp_path / "out"),
            ]
        )
        == 0
    )
    written = capsys.readouterr().out.split()
    assert written == [str(tmp_path / "out" / "report.md"), str(tmp_path / "out" / "junit.xml")]
    assert "FAILED" in (tmp_path / "out" / "report.md").read_text()
    assert not (tmp_path / "out" / "report.html").exists()
    assert main(["report", str(result_path)]) == 0
    assert {p.name for p in tmp_path.iterdir()} >= {
        "result.json",
        "report.html",
        "report.md",
        "junit.xml",
    }


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("{not json", "result.json:1:2: not valid JSON"),
        (json.dumps([1, 2]), "not a gameday result.json"),
    ],
)
def test_report_input_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "result.json"
    if content is not None:
        path.write_text(content)
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
