"""Control-plane throttling (`aws` realism): each service's own throttling error, at the
configured rate, never on STS, S3 or Lambda's Invoke; boto3's standard retries get through."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import HeadersDict
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from botocore.retries.standard import ThrottledRetryableChecker

from chaos.aws import AwsClients
from chaos.aws.lambda_functions import wait_until_updated
from chaos.sandbox.process.throttling import THROTTLE_ANSWERS, ControlPlaneThrottling
from tests.sandbox.lambda_support import function_arn
from tests.sandbox.support import Sandbox, live_sandbox

RATE = 0.1
# signing name -> (botocore service, an operation of it)
OPERATIONS = {
    "lambda": ("lambda", "ListFunctions"),
    "apigateway": ("apigateway", "GetRestApis"),
    "ec2": ("ec2", "DescribeVpcs"),
    "ecs": ("ecs", "ListClusters"),
    "wafv2": ("wafv2", "ListWebACLs"),
    "autoscaling": ("autoscaling", "DescribeAutoScalingGroups"),
    "elasticloadbalancing": ("elbv2", "DescribeLoadBalancers"),
}


def signed(service: str, path: str = "/") -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "HTTP_AUTHORIZATION": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/"
        f"{service}/aws4_request, SignedHeaders=host, Signature=x",
    }


def served(app: Callable[..., Any], environ_: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"], answer["headers"] = int(status.split()[0]), dict(headers)

    body = b"".join(app(environ_, start_response))
    return answer["status"], answer["headers"], body


def always_throttling() -> ControlPlaneThrottling:
    throttling = ControlPlaneThrottling(1.0, random.Random(1))
    throttling.enabled = True
    return throttling


def moto(environ_: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b"{}"]


def test_every_throttled_service_is_checked_here() -> None:
    assert set(OPERATIONS) == set(THROTTLE_ANSWERS)


@pytest.mark.parametrize("signing_name", sorted(OPERATIONS))
def test_each_service_gets_its_own_throttling_error_which_botocore_retries(
    signing_name: str,
) -> None:
    status, headers, body = served(always_throttling().wrap(moto), signed(signing_name))
    service, operation = OPERATIONS[signing_name]
    model = botocore.session.get_session().get_service_model(service)
    parsed = create_parser(model.metadata["protocol"]).parse(
        {"status_code": status, "headers": HeadersDict(headers), "body": body},
        model.operation_model(operation).output_shape,
    )
    code = parsed["Error"]["Code"]
    assert code in ThrottledRetryableChecker._THROTTLED_ERROR_CODES
    expected = {
        "lambda": ("TooManyRequestsException", 429),
        "apigateway": ("TooManyRequestsException", 429),
        "ec2": ("RequestLimitExceeded", 503),
    }.get(
        signing_name,
        ("ThrottlingException" if signing_name in ("ecs", "wafv2") else "Throttling", 400),
    )
    assert (code, status) == expected


@pytest.mark.parametrize(
    "environ_",
    [
        signed("sts"),
        signed("s3"),
        signed("monitoring"),
        signed("dynamodb"),
        signed("lambda", "/2015-03-31/functions/orders/invocations"),  # Invoke is data plane
        {"REQUEST_METHOD": "GET", "PATH_INFO": "/moto-api/"},  # unsigned
    ],
)
def test_other_calls_are_never_throttled(environ_: dict[str, Any]) -> None:
    assert served(always_throttling().wrap(moto), environ_)[0] == 200


def test_nothing_is_throttled_before_the_sandbox_opens_to_clients() -> None:
    throttling = ControlPlaneThrottling(1.0, random.Random(1))
    assert served(throttling.wrap(moto), signed("lambda"))[0] == 200


# -- live -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with live_sandbox(
        tmp_path_factory.mktemp("sandbox-throttling"),
        GAMEDAY_SANDBOX_REALISM="aws",
        GAMEDAY_SANDBOX_TIME_SCALE="0.2",
        GAMEDAY_SANDBOX_SEED="5",
        GAMEDAY_SANDBOX_THROTTLE_RATE=str(RATE),
    ) as sandbox:
        yield sandbox


def without_retries(sandbox: Sandbox, service: str) -> Any:
    return AwsClients(region="us-east-1", endpoint_url=sandbox.state.endpoint_url).session.client(
        service,
        region_name="us-east-1",
        endpoint_url=sandbox.state.endpoint_url,
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )


def outcomes(call: Callable[[], Any], count: int) -> Counter[str]:
    seen: Counter[str] = Counter()
    for _ in range(count):
        try:
            call()
            seen["ok"] += 1
        except ClientError as error:
            seen[str(error.response["Error"]["Code"])] += 1
    return seen


@pytest.mark.timeout(180)
def test_a_share_of_control_plane_calls_is_throttled_and_retries_get_through(
    sandbox: Sandbox,
) -> None:
    lambda_ = without_retries(sandbox, "lambda")
    calls = 300
    seen = outcomes(lambda: lambda_.list_functions(), calls)
    assert set(seen) <= {"ok", "TooManyRequestsException"}
    # binomial(300, 0.1): mean 30, standard deviation 5.2; within 4 of them
    assert (
        abs(seen["TooManyRequestsException"] - calls * RATE)
        <= 4 * (calls * RATE * (1 - RATE)) ** 0.5
    )
    ec2 = without_retries(sandbox, "ec2")
    assert set(outcomes(lambda: ec2.describe_vpcs(), 60)) == {"ok", "RequestLimitExceeded"}
    for service, call in (("sts", "get_caller_identity"), ("s3", "list_buckets")):
        client = without_retries(sandbox, service)
        assert outcomes(getattr(client, call), 60) == Counter({"ok": 60})

    retrying = sandbox.clients.lambda_  # the toolkit's clients: standard mode, 8 attempts
    assert all(retrying.get_function(FunctionName="orders") for _ in range(60))
    retrying.update_function_configuration(FunctionName="orders", Description="throttled")
    wait_until_updated(sandbox.clients, function_arn("orders"))
    assert retrying.get_function_configuration(FunctionName="orders")["Description"] == "throttled"
