"""Which Lambda functions the lambda-extension fault accepts (issue 23): every managed
runtime that honours AWS_LAMBDA_EXEC_WRAPPER, on either architecture; what `gameday plan`
says about each mode; the layer version chosen per architecture."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.cli import main
from tests.integration.conftest import create_function, experiment_yaml
from tests.integration.test_refusals import snapshot

MANAGED_RUNTIMES = ["nodejs20.x", "nodejs22.x", "python3.12", "java21", "dotnet8", "ruby3.3"]


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("runtime", MANAGED_RUNTIMES)
def test_every_managed_runtime_is_planned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], runtime: str
) -> None:
    create_function("orders", Runtime=runtime, Handler="index.handler")
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment_yaml())
    before = snapshot(["orders"])
    code = main(["plan", str(path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "lambda-extension on orders" in captured.out
    assert snapshot(["orders"]) == before
