"""Which functions, API stage and WAF rule the server-side metrics are read for."""

from __future__ import annotations

from typing import Any

from chaos.metrics.server_side import ApiStage, api_stage_of, server_side_targets

ARN = "arn:aws:lambda:us-east-1:123456789012:function:"


def test_functions_are_named_by_function_name_without_qualifier_or_duplicates() -> None:
    targets = server_side_targets(
        region="us-east-1",
        function_arns=[ARN + "orders", ARN + "payments", ARN + "orders:live"],
        api=ApiStage("orders-api", "prod"),
        rule=None,
    )
    assert targets.function_names == ("orders", "payments")
    assert (targets.api_name, targets.stage) == ("orders-api", "prod")
    assert targets.web_acl is None and targets.rules == ()


class FakeApiGateway:
    def __init__(self) -> None:
        self.asked: list[str] = []

    def get_rest_api(self, restApiId: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.asked.append(restApiId)
        return {"name": f"name-of-{restApiId}"}


def test_api_name_comes_from_the_execute_api_host_or_a_known_id() -> None:
    apigateway = FakeApiGateway()
    url = "https://abc123.execute-api.us-east-1.amazonaws.com/prod/orders"
    assert api_stage_of(apigateway, url) == ApiStage("name-of-abc123", "prod")
    assert api_stage_of(apigateway, "http://127.0.0.1:9/prod", "xyz") == ApiStage(
        "name-of-xyz", "prod"
    )
    assert api_stage_of(apigateway, "https://example.com/v1") == ApiStage(None, "v1")
    assert apigateway.asked == ["abc123", "xyz"]
