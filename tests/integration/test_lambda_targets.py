"""Which Lambda functions the lambda-extension fault accepts (issue 23): every managed
runtime that honours AWS_LAMBDA_EXEC_WRAPPER, on either architecture; what `gameday plan`
says about each mode; the layer version chosen per architecture."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

import boto3
import pytest

from chaos.cli import main
from chaos.faults.lambda_extension.layer import code_sha256
from tests.integration.conftest import REGION, create_function, experiment_yaml
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


@pytest.mark.usefixtures("aws")
def test_each_architecture_gets_its_own_layer_version(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An arm64 function gets the arm64 build, an x86_64 one the x86_64 build: one layer
    version each, recognised by CodeSha256 and reused by the next run."""
    create_function("orders")
    create_function("orders-arm", Architectures=["arm64"])
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment_yaml("[orders, orders-arm]"))
    assert main(["plan", str(path)]) == 0
    output = capsys.readouterr().out
    assert "for x86_64 (x86_64 build;" in output and "for arm64 (arm64 build;" in output

    lambda_ = boto3.client("lambda", region_name=REGION)
    attached: dict[str, str] = {}

    def record_layers(parsed: dict[str, object], **_: object) -> None:
        layers = parsed.get("Layers") or []
        if layers:
            attached[str(parsed["FunctionName"])] = str(layers[-1]["Arn"])  # type: ignore[index]

    session = boto3.Session(region_name=REGION)
    session.events.register("after-call.lambda.UpdateFunctionConfiguration", record_layers)
    with patch("chaos.aws.clients.boto3.Session", return_value=session):
        code = main(["run", str(path), "--yes", "--report-dir", str(tmp_path / "reports")])
    assert code == 0, capsys.readouterr().err
    versions = {
        arn: lambda_.get_layer_version(
            LayerName="gameday-chaos", VersionNumber=int(arn.rpartition(":")[2])
        )
        for arn in attached.values()
    }
    assert set(attached) == {"orders", "orders-arm"}
    assert attached["orders"] != attached["orders-arm"]
    assert versions[attached["orders"]]["Content"]["CodeSha256"] == code_sha256("x86_64")
    assert versions[attached["orders-arm"]]["Content"]["CodeSha256"] == code_sha256("arm64")
    assert versions[attached["orders-arm"]]["CompatibleArchitectures"] == ["arm64"]
    listed = lambda_.list_layer_versions(LayerName="gameday-chaos")["LayerVersions"]
    assert len(listed) == 2


IMAGE = {
    "PackageType": "Image",
    "Code": {"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/orders:1"},
}


@pytest.mark.usefixtures("aws")
def test_a_baked_in_image_changes_only_its_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`functions: [{name: orders-img, baked_in: true}]` beside a plain name: the image gets
    the exec wrapper and config only (no layer, none published for it) and is restored."""
    create_function("orders-img", **IMAGE)
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment_yaml("[{name: orders-img, baked_in: true}]"))
    before = snapshot(["orders-img"])
    assert main(["plan", str(path)]) == 0
    output = capsys.readouterr().out
    assert "no layer: the extension is baked into the image (baked_in: true)" in output
    assert "attach layer" not in output

    during: list[dict[str, object]] = []
    session = boto3.Session(region_name=REGION)
    session.events.register(
        "provide-client-params.lambda.UpdateFunctionConfiguration",
        lambda params, **_: during.append(dict(params)),
    )
    with patch("chaos.aws.clients.boto3.Session", return_value=session):
        code = main(["run", str(path), "--yes", "--report-dir", str(tmp_path / "reports")])
    assert code == 0, capsys.readouterr().err
    assert during and all("Layers" not in call for call in during), during
    variables = during[0]["Environment"]["Variables"]  # type: ignore[index]
    assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/gameday-chaos-wrapper"
    assert "GAMEDAY_CHAOS_CONFIG" in variables
    assert snapshot(["orders-img"]) == before  # restored, and no layer was published


@pytest.mark.usefixtures("aws")
def test_baked_in_on_a_zip_function_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_function("orders")
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment_yaml("[{name: orders, baked_in: true}]"))
    assert main(["plan", str(path)]) == 2
    assert "orders: declared baked_in but it is a zip function" in capsys.readouterr().err


@pytest.mark.usefixtures("aws")
def test_a_streaming_function_url_is_a_plan_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_function("orders")
    boto3.client("lambda", region_name=REGION).create_function_url_config(
        FunctionName="orders", AuthType="NONE", InvokeMode="RESPONSE_STREAM"
    )
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment_yaml())
    assert main(["plan", str(path)]) == 0
    output = capsys.readouterr().out
    assert "orders's Function URL streams responses (InvokeMode RESPONSE_STREAM)" in output
    assert "passes streamed invocations through untouched" in output
