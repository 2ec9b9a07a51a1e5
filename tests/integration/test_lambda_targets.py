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


def fault_yaml(modes: str, functions: str = "[orders]") -> str:
    return experiment_yaml(functions).replace("    latency: {ms: 100}\n", modes)


@pytest.mark.usefixtures("aws")
def test_plan_shows_every_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    create_function("orders")
    path = tmp_path / "experiment.yaml"
    path.write_text(
        fault_yaml(
            "    latency: {ms: 300, jitter_ms: 50, rate: 0.5}\n"
            "    error:\n      status_code: 503\n      rate: 0.3\n      prevent_execution: true\n"
            "      match: [{path: httpMethod, equals: POST}, {path: path, prefix: /orders}]\n"
            "    exception: {rate: 0.1}\n"
            "    timeout: {rate: 0.1}\n"
            "    corruption: {rate: 0.2, mode: replace, body: 'nope'}\n"
            "    disk: {mb: 64}\n"
        )
    )
    assert main(["plan", str(path)]) == 0
    output = capsys.readouterr().out
    assert (
        "fault latency: +300 ms +0..50 ms jitter before the handler on 50% of invocations" in output
    )
    assert (
        "fault error: HTTP 503 response (format auto) on 30% of invocations; the handler "
        "does NOT run (prevent_execution) where httpMethod equals 'POST' and path prefix "
        "'/orders'"
    ) in output
    assert (
        "fault exception: a function error on 10% of invocations; after the handler ran" in output
    )
    assert "fault timeout: the invocation hangs until the function's timeout" in output
    assert "fault corruption: the handler's response body replaced by a fixed one" in output
    assert "fault disk: /tmp filled by 64 MB on 100% of invocations" in output


@pytest.mark.usefixtures("aws")
def test_disk_larger_than_ephemeral_storage_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_function("orders", EphemeralStorage={"Size": 1024})
    path = tmp_path / "experiment.yaml"
    path.write_text(fault_yaml("    disk: {mb: 1025}\n"))
    before = snapshot(["orders"])
    assert main(["run", str(path), "--yes"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert (
        lines == [lines[0]]
        and "orders: disk.mb is 1025 MB, more than the function's /tmp (1024 MB, EphemeralStorage)"
        in lines[0]
    ), lines
    assert snapshot(["orders"]) == before
    path.write_text(fault_yaml("    disk: {mb: 1024}\n"))
    assert main(["plan", str(path)]) == 0
