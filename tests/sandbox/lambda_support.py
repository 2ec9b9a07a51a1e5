"""Helpers of the live Lambda tests: small functions, API routes to them, versions by marker."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from chaos.aws import AwsClients

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STAGE = "prod"

# Answers with the marker baked into its code, its version, its environment's MARKER; a
# `sleep` query parameter holds the invocation that long first; as a custom (non-proxy)
# integration's function it may raise or return a proxy-shaped error (the fault extension's).
HANDLER = """
import json
import os
import time

MARKER = {marker!r}


def handler(event, context):
    query = event.get("queryStringParameters") or {{}}
    if "sleep" in query:
        time.sleep(float(query["sleep"]))
    if event.get("raise"):
        raise Exception(event["raise"])
    if event.get("proxy_error"):
        return {{"statusCode": 503, "headers": {{"x-gameday-chaos-fault": "error"}},
                 "body": json.dumps({{"message": "injected"}})}}
    return {{"statusCode": 200, "headers": {{"Content-Type": "application/json"}},
            "body": json.dumps({{"marker": MARKER, "env": os.environ.get("MARKER"),
                                "version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")}})}}
"""


def handler_zip(marker: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", HANDLER.format(marker=marker))
    return buffer.getvalue()


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"


def create_function(
    clients: AwsClients, name: str, marker: str, environment: dict[str, str] | None = None
) -> dict[str, Any]:
    iam = clients.client("iam")
    try:
        role = iam.get_role(RoleName="tests-function")["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        role = iam.create_role(
            RoleName="tests-function",
            AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
            '"Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}',
        )["Role"]["Arn"]
    return dict(
        clients.lambda_.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": handler_zip(marker)},
            Timeout=10,
            Environment={"Variables": environment or {}},
        )
    )


def add_route(
    clients: AwsClients,
    rest_api_id: str,
    path_part: str,
    function_ref: str,
    *,
    integration_type: str = "AWS_PROXY",
    integration_responses: list[dict[str, Any]] | None = None,
) -> None:
    """``ANY /<path_part>`` invoking ``function_ref`` (name[:qualifier]), then a deployment."""
    apigateway = clients.client("apigateway")
    resources = apigateway.get_resources(restApiId=rest_api_id)["items"]
    root = next(item["id"] for item in resources if item["path"] == "/")
    resource = apigateway.create_resource(restApiId=rest_api_id, parentId=root, pathPart=path_part)[
        "id"
    ]
    apigateway.put_method(
        restApiId=rest_api_id, resourceId=resource, httpMethod="ANY", authorizationType="NONE"
    )
    name, _, qualifier = function_ref.partition(":")
    arn = function_arn(name) + (f":{qualifier}" if qualifier else "")
    apigateway.put_integration(
        restApiId=rest_api_id,
        resourceId=resource,
        httpMethod="ANY",
        type=integration_type,
        integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations",
    )
    for response in integration_responses or []:
        apigateway.put_method_response(
            restApiId=rest_api_id,
            resourceId=resource,
            httpMethod="ANY",
            statusCode=response["statusCode"],
        )
        apigateway.put_integration_response(
            restApiId=rest_api_id, resourceId=resource, httpMethod="ANY", **response
        )
    apigateway.create_deployment(restApiId=rest_api_id, stageName=STAGE)
