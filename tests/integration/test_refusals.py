"""Every refusal: exit 2, one line naming the reason, and nothing changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from unittest.mock import patch

import boto3
import pytest
from botocore.exceptions import ClientError

from chaos.cli import main
from chaos.faults.lambda_extension.layer import build_layer_zip
from tests.integration.conftest import REGION, create_function, experiment_yaml


def snapshot(function_names: list[str]) -> str:
    lambda_ = boto3.client("lambda", region_name=REGION)
    state: dict[str, Any] = {}
    for name in function_names:
        config = lambda_.get_function_configuration(FunctionName=name)
        state[name] = {
            "Layers": config.get("Layers"),
            "Environment": config.get("Environment"),
            "Tags": lambda_.list_tags(Resource=config["FunctionArn"])["Tags"],
        }
    try:
        state["layers"] = lambda_.list_layer_versions(LayerName="gameday-chaos")["LayerVersions"]
    except lambda_.exceptions.ResourceNotFoundException:
        state["layers"] = []
    return json.dumps(state, sort_keys=True, default=str)


def run_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    yaml_text: str,
    functions: list[str],
    *extra: str,
) -> str:
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml_text)
    before = snapshot(functions)
    code = main(["run", str(path), *(extra or ("--yes",))])
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    assert snapshot(functions) == before, "a refused run must change nothing"
    return lines[0]


@pytest.mark.usefixtures("aws")
class TestRefusals:
    def test_wrong_account(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        create_function("orders")
        line = run_refused(tmp_path, capsys, experiment_yaml(account_id="210987654321"), ["orders"])
        assert "account 123456789012" in line and "210987654321" in line

    def test_missing_account_outside_sandbox(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        create_function("orders")
        line = run_refused(tmp_path, capsys, experiment_yaml(account_id=None), ["orders"])
        assert "account_id is required" in line

    def test_unknown_function(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        create_function("orders")
        line = run_refused(tmp_path, capsys, experiment_yaml("[orders, nope]"), ["orders"])
        assert "'nope' does not exist" in line

    def test_sixth_layer(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        lambda_ = boto3.client("lambda", region_name=REGION)
        arns = [
            lambda_.publish_layer_version(LayerName=f"other-{i}", Content={"ZipFile": b"x"})[
                "LayerVersionArn"
            ]
            for i in range(5)
        ]
        create_function("orders", Layers=arns)
        line = run_refused(tmp_path, capsys, experiment_yaml(), ["orders"])
        assert "orders: already has 5 layers" in line

    @pytest.mark.parametrize("runtime", ["provided.al2", "provided.al2023"])
    def test_os_only_runtime(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], runtime: str
    ) -> None:
        create_function("orders", Runtime=runtime, Handler="bootstrap")
        line = run_refused(tmp_path, capsys, experiment_yaml(), ["orders"])
        assert f"orders: runtime {runtime} is an OS-only runtime" in line
        assert "start the proxy from your own bootstrap" in line

    def test_container_image(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        create_function(
            "orders",
            PackageType="Image",
            Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/o:1"},
        )
        line = run_refused(tmp_path, capsys, experiment_yaml(), ["orders"])
        assert "orders: container-image function" in line
        assert "baked_in: true" in line

    def test_existing_exec_wrapper(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        create_function(
            "orders", Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/otel-instrument"}}
        )
        line = run_refused(tmp_path, capsys, experiment_yaml(), ["orders"])
        assert "AWS_LAMBDA_EXEC_WRAPPER" in line
        assert "otel" not in line, "values are never printed"

    def test_locked_by_another_run(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        create_function("orders", Tags={"gameday:run-id": "other-run-1"})
        line = run_refused(tmp_path, capsys, experiment_yaml(), ["orders"])
        assert "locked by run other-run-1" in line

    def test_leftover_layer_from_a_dead_run(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        lambda_ = boto3.client("lambda", region_name=REGION)
        ours = lambda_.publish_layer_version(
            LayerName="gameday-chaos", Content={"ZipFile": build_layer_zip()}
        )
        create_function("orders", Layers=[ours["LayerVersionArn"]])
        line = run_refused(tmp_path, capsys, experiment_yaml(), ["orders"])
        assert "already carries the gameday-chaos layer" in line

    def test_second_target_refused_means_first_untouched(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        create_function("orders")
        create_function("payments", Runtime="provided.al2023", Handler="bootstrap")
        line = run_refused(
            tmp_path, capsys, experiment_yaml("[orders, payments]"), ["orders", "payments"]
        )
        assert "payments: runtime provided.al2023" in line

    def test_unreadable_environment_kms(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """No kms:Decrypt: Lambda returns Environment.Error and no variables (moto cannot
        produce it: the response is edited on its way to the toolkit)."""
        create_function("orders", KMSKeyArn="arn:aws:kms:us-east-1:123456789012:key/k-1")

        def without_variables(parsed: dict[str, Any], **_: Any) -> None:
            parsed["Environment"] = {
                "Error": {
                    "ErrorCode": "AccessDeniedException",
                    "Message": "not authorized to kms:Decrypt",
                }
            }

        session = boto3.Session(region_name=REGION)
        session.events.register("after-call.lambda.GetFunctionConfiguration", without_variables)
        with patch("chaos.aws.clients.boto3.Session", return_value=session):
            line = run_refused(tmp_path, capsys, experiment_yaml(), ["orders"])
        assert "orders: its environment variables cannot be read" in line
        assert "kms:Decrypt on arn:aws:kms:us-east-1:123456789012:key/k-1" in line

    def test_environment_over_4_kb(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        create_function("orders", Environment={"Variables": {"BIG": "x" * 3900}})
        line = run_refused(tmp_path, capsys, experiment_yaml(), ["orders"])
        assert "over Lambda's 4096-byte limit" in line and "orders: its environment" in line

    def test_unreadable_existing_layer(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        missing = "arn:aws:lambda:us-east-1:999999999999:layer:someone-elses:3"
        create_function("orders")
        lambda_ = boto3.client("lambda", region_name=REGION)

        def with_their_layer(parsed: dict[str, Any], **_: Any) -> None:
            parsed["Layers"] = [{"Arn": missing, "CodeSize": 1}]

        session = boto3.Session(region_name=REGION)
        session.events.register("after-call.lambda.GetFunctionConfiguration", with_their_layer)
        assert not lambda_.get_function_configuration(FunctionName="orders").get("Layers")
        with patch("chaos.aws.clients.boto3.Session", return_value=session):
            line = run_refused(tmp_path, capsys, experiment_yaml(), ["orders"])
        assert f"its layer {missing} cannot be read" in line

    def test_endpoint_integrations_iam_does_not_let_us_read(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Without apigateway:GET nothing tells whether a route invokes a qualifier the fault
        would miss: refused, naming the permission (not a plan warning)."""
        create_function("orders")
        apigateway = boto3.client("apigateway", region_name=REGION)
        api_id = apigateway.create_rest_api(name="orders")["id"]
        endpoint = f"https://{api_id}.execute-api.{REGION}.amazonaws.com/prod"

        def denied(**_: Any) -> None:
            raise ClientError(
                {"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}},
                "GetRestApi",
            )

        session = boto3.Session(region_name=REGION)
        session.events.register("before-call.api-gateway.GetRestApi", denied)
        yaml_text = experiment_yaml().replace("target: {", f"target: {{endpoint: '{endpoint}', ")
        with patch("chaos.aws.clients.boto3.Session", return_value=session):
            line = run_refused(tmp_path, capsys, yaml_text, ["orders"])
        assert (
            f"grant apigateway:GET on arn:aws:apigateway:{REGION}::/restapis/{api_id} " in line
        ), line

    def test_lambda_at_edge_replica(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A replica carries MasterArn (moto cannot make one: the answer is edited)."""
        create_function("orders")
        main_arn = "arn:aws:lambda:us-east-1:123456789012:function:orders-edge"
        line = self.refused_with(
            tmp_path,
            capsys,
            "after-call.lambda.GetFunctionConfiguration",
            lambda parsed: parsed.update(MasterArn=main_arn),
        )
        assert f"orders: a Lambda@Edge replica of {main_arn}" in line, line

    def test_lambda_at_edge_function_associated_with_a_distribution(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """CloudFront associates a version of it (moto keeps no associations: the answer of
        ListDistributions is edited)."""
        create_function("orders")
        associated = f"arn:aws:lambda:{REGION}:123456789012:function:orders:3"

        def with_association(parsed: dict[str, Any]) -> None:
            parsed["DistributionList"] = {
                "Items": [
                    {
                        "Id": "E1OTHER",
                        "DefaultCacheBehavior": {
                            "LambdaFunctionAssociations": {
                                "Items": [{"LambdaFunctionARN": f"{associated[:-9]}:orders-x:1"}]
                            }
                        },
                    },
                    {
                        "Id": "E2ORDERS",
                        "DefaultCacheBehavior": {},
                        "CacheBehaviors": {
                            "Items": [
                                {
                                    "LambdaFunctionAssociations": {
                                        "Items": [
                                            {
                                                "LambdaFunctionARN": associated,
                                                "EventType": "viewer-request",
                                            }
                                        ]
                                    }
                                }
                            ]
                        },
                    },
                ]
            }

        line = self.refused_with(
            tmp_path, capsys, "after-call.cloudfront.ListDistributions", with_association
        )
        assert (
            "orders: a Lambda@Edge function (associated with CloudFront distribution(s) "
            "E2ORDERS)" in line
        ), line

    def test_lambda_at_edge_unknown_without_cloudfront_read(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        create_function("orders")

        def denied(**_: Any) -> None:
            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "no"}}, "ListDistributions"
            )

        session = boto3.Session(region_name=REGION)
        session.events.register("before-call.cloudfront.ListDistributions", denied)
        with patch("chaos.aws.clients.boto3.Session", return_value=session):
            line = run_refused(tmp_path, capsys, experiment_yaml(), ["orders"])
        assert "orders: cannot tell whether CloudFront replicates it" in line
        assert "AccessDenied on cloudfront:ListDistributions" in line

    def test_code_and_layers_over_250_mb(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Zipped sizes (all Lambda exposes) already over the unzipped limit: certain."""
        create_function("orders")
        line = self.refused_with(
            tmp_path,
            capsys,
            "after-call.lambda.GetFunctionConfiguration",
            lambda parsed: parsed.update(CodeSize=260 * 1_048_576),
        )
        assert "orders: its code and layers are 260.0 MB zipped (more unzipped)" in line, line
        assert "over Lambda's 250 MB unzipped limit" in line

    @staticmethod
    def refused_with(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], event: str, edit: Any
    ) -> str:
        def edited(parsed: dict[str, Any], **_: Any) -> None:
            edit(parsed)

        session = boto3.Session(region_name=REGION)
        session.events.register(event, edited)
        with patch("chaos.aws.clients.boto3.Session", return_value=session):
            return run_refused(tmp_path, capsys, experiment_yaml(), ["orders"])

    def test_no_confirmation_without_a_terminal(
        self,
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.delenv("GAMEDAY_ASSUME_YES", raising=False)
        create_function("orders")
        line = run_refused(
            tmp_path,
            capsys,
            experiment_yaml(),
            ["orders"],
            "--report-dir",
            str(tmp_path / "reports"),
        )
        assert "--yes" in line


@pytest.mark.usefixtures("aws")
def test_plan_changes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    create_function("orders")
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment_yaml())
    before = snapshot(["orders"])
    assert main(["plan", str(path)]) == 0
    output = capsys.readouterr().out
    assert "lambda-extension on orders" in output
    assert "GAMEDAY_CHAOS_CONFIG" in output and "s3cr3t-value" not in output
    assert snapshot(["orders"]) == before


@pytest.mark.usefixtures("aws")
def test_plan_says_what_of_the_code_size_is_estimated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Under the limit when zipped: the unzipped size is unknown, said plainly; a warning once
    the zipped size alone is a quarter of the limit."""
    create_function("orders")
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment_yaml())
    assert main(["plan", str(path)]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if "code size:" in line]
    assert "MB zipped (their unzipped size is not exposed by Lambda)" in line
    assert "may exceed" not in line

    session = boto3.Session(region_name=REGION)
    session.events.register(
        "after-call.lambda.GetFunctionConfiguration",
        lambda parsed, **_: parsed.update(CodeSize=100 * 1_048_576),
    )
    with patch("chaos.aws.clients.boto3.Session", return_value=session):
        assert main(["plan", str(path)]) == 0
    [line] = [line for line in capsys.readouterr().out.splitlines() if "code size:" in line]
    assert "100.0 MB zipped" in line and "may exceed it" in line, line


@pytest.mark.usefixtures("aws")
def test_full_run_in_moto_restores_and_reuses_the_layer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_function("orders")
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment_yaml())
    before = snapshot(["orders"])
    assert main(["run", str(path), "--yes"]) == 0
    assert main(["run", str(path), "--yes"]) == 0
    output = capsys.readouterr().out
    assert output.count(": restored") == 2
    lambda_ = boto3.client("lambda", region_name=REGION)
    versions = lambda_.list_layer_versions(LayerName="gameday-chaos")["LayerVersions"]
    assert len(versions) == 1, "the second run must reuse the layer with the same hash"
    after = json.loads(snapshot(["orders"]))
    assert json.dumps(after["orders"], sort_keys=True) == json.dumps(
        json.loads(before)["orders"], sort_keys=True
    )


@pytest.mark.usefixtures("aws")
def test_an_az_name_is_refused_with_this_accounts_mapping(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_function("orders")
    path = tmp_path / "experiment.yaml"
    path.write_text(
        experiment_yaml()
        + ("  - type: az-loss\n    az_id: us-east-1b\n    targets: {lambda: [orders]}\n")
    )
    assert main(["run", str(path), "--yes"]) == 2
    line = capsys.readouterr().err.strip()
    assert "\n" not in line
    # moto's fixed mapping: us-east-1b is use1-az1 in this account.
    assert "in this account us-east-1b is use1-az1 (az_id: use1-az1)" in line
    assert "us-east-1a=use1-az6" in line
