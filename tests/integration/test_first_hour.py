"""A first hour without walls: refusals that name what to do, and nothing changed (issue 22)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.cli import main
from chaos.errors import EXIT_INVALID
from chaos.journal import Journal, runs_dir


def test_an_unknown_run_id_is_refused_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GAMEDAY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GAMEDAY_JOURNAL", raising=False)

    code = main(["rollback", "--run-id", "no-such-run"])

    err = capsys.readouterr().err.strip().splitlines()
    assert code == EXIT_INVALID
    assert err == [
        "gameday: no journal of run 'no-such-run' here (a run kept in S3 needs --journal)"
    ], err


def test_a_finished_run_has_nothing_to_roll_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GAMEDAY_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("GAMEDAY_JOURNAL", raising=False)
    Journal.create(
        runs_dir() / "done-run",
        run_id="done-run",
        experiment_name="x",
        experiment_path="x.yaml",
        region="us-east-1",
        endpoint_url=None,
        profile=None,
        account_id="123456789012",
    ).finish("finished")

    assert main(["rollback", "--run-id", "done-run"]) == 0
    assert capsys.readouterr().out.strip() == "nothing to roll back"


@pytest.mark.usefixtures("aws")
def test_a_report_dir_that_cannot_be_created_refuses_the_run_before_any_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.integration.conftest import create_function, experiment_yaml
    from tests.integration.test_refusals import run_refused

    create_function("orders")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")

    line = run_refused(
        tmp_path,
        capsys,
        experiment_yaml(),
        ["orders"],
        "--yes",
        "--report-dir",
        str(blocker / "reports"),
    )

    assert f"--report-dir {blocker / 'reports'} cannot be written" in line, line
    assert not runs_dir().exists() or not any(runs_dir().iterdir()), "no run journal"


@pytest.mark.usefixtures("aws")
def test_iam_policy_without_an_account_id_is_the_callers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from tests.integration.conftest import ACCOUNT_ID, create_function, experiment_yaml

    create_function("orders")
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment_yaml(account_id=None))

    assert main(["iam-policy", str(path)]) == 0
    policy = json.loads(capsys.readouterr().out)
    assert f":{ACCOUNT_ID}:" in json.dumps(policy)


@pytest.mark.usefixtures("aws")
def test_az_audit_takes_the_region_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    code = main(["az-audit"])

    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "--region is required" not in captured.err
