"""Integration fixtures: moto in-process (fake AWS), the real toolkit code."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chaos.aws.rate_limit import set_pace

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's account


@pytest.fixture(autouse=True, scope="session")
def unpaced_lambda_requests() -> Iterator[None]:
    """moto in this process has no request quota: Lambda requests go 100x faster than the
    account's documented rates (the sandbox and AWS keep the real pace)."""
    set_pace(100.0)
    yield
    set_pace(1.0)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, gameday_home: Any) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


def code_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {'statusCode': 200}\n")
    return buffer.getvalue()


def create_function(name: str, **overrides: Any) -> dict[str, Any]:
    iam = boto3.client("iam", region_name=REGION)
    try:
        role = iam.get_role(RoleName="fn-role")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    arguments: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": "python3.12",
        "Role": role,
        "Handler": "app.handler",
        "Code": {"ZipFile": code_zip()},
        "Environment": {"Variables": {"TABLE": "orders", "SECRET_TOKEN": "s3cr3t-value"}},
    }
    arguments.update(overrides)
    return dict(boto3.client("lambda", region_name=REGION).create_function(**arguments))


def experiment_yaml(functions: str = "[orders]", account_id: str | None = ACCOUNT_ID) -> str:
    account = f', account_id: "{account_id}"' if account_id else ""
    return (
        "version: 1\nkind: experiment\nname: refusal-check\n"
        f"target: {{region: {REGION}{account}}}\n"
        "phases: {baseline: 0s, fault: 100ms, recovery: 0s}\n"
        "max_duration: 1m\n"
        "faults:\n"
        "  - type: lambda-extension\n"
        f"    functions: {functions}\n"
        "    latency: {ms: 100}\n"
    )
