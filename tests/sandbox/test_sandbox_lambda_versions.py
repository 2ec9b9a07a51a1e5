"""Lambda as AWS keeps it, in any realism: versions, aliases, qualified and custom integrations,
the 4 KB environment limit, RevisionId. One sandbox (fast realism) for the module."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from tests.sandbox.lambda_support import add_route, create_function, handler_zip
from tests.sandbox.support import Sandbox, live_sandbox, wait_for

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with live_sandbox(
        tmp_path_factory.mktemp("sandbox-versions"),
        GAMEDAY_SANDBOX_REALISM="fast",
        GAMEDAY_SANDBOX_SEED="13",
    ) as sandbox:
        yield sandbox


def answer(sandbox: Sandbox, path: str) -> dict[str, str]:
    reply = sandbox.request(path)
    assert reply.status == 200, (reply.status, reply.body)
    return dict(reply.json())


def error_code(error: ClientError) -> str:
    return str(error.response["Error"]["Code"])


def test_a_qualified_integration_invokes_that_version_and_versions_never_change(
    sandbox: Sandbox,
) -> None:
    lambda_ = sandbox.clients.lambda_
    create_function(sandbox.clients, "versioned", "one", {"MARKER": "first"})
    published = lambda_.publish_version(FunctionName="versioned")
    v1 = published["Version"]
    assert published["State"] == "Active", "fast realism: a new version is Active at once"
    before = lambda_.get_function_configuration(FunctionName="versioned", Qualifier=v1)
    lambda_.update_function_code(FunctionName="versioned", ZipFile=handler_zip("two"))
    lambda_.update_function_configuration(
        FunctionName="versioned", Environment={"Variables": {"MARKER": "second"}}
    )
    add_route(sandbox.clients, sandbox.rest_api_id, "v1", f"versioned:{v1}")
    add_route(sandbox.clients, sandbox.rest_api_id, "latest", "versioned")

    after = lambda_.get_function_configuration(FunctionName="versioned", Qualifier=v1)
    assert (after["CodeSha256"], after["Environment"]) == (
        before["CodeSha256"],
        before["Environment"],
    )
    assert answer(sandbox, "/v1") == {"marker": "one", "env": "first", "version": v1}
    assert answer(sandbox, "/latest") == {"marker": "two", "env": "second", "version": "$LATEST"}
    with pytest.raises(ClientError) as refused:
        lambda_.update_function_configuration(
            FunctionName=f"versioned:{v1}", Environment={"Variables": {"MARKER": "x"}}
        )
    assert error_code(refused.value) == "InvalidParameterValueException"
    assert answer(sandbox, "/v1")["env"] == "first"


def test_deleting_a_version_drops_its_environments_and_its_number_is_never_reused(
    sandbox: Sandbox,
) -> None:
    lambda_ = sandbox.clients.lambda_
    create_function(sandbox.clients, "numbered", "one")
    v1 = lambda_.publish_version(FunctionName="numbered")["Version"]
    lambda_.update_function_code(FunctionName="numbered", ZipFile=handler_zip("two"))
    v2 = lambda_.publish_version(FunctionName="numbered")["Version"]
    add_route(sandbox.clients, sandbox.rest_api_id, "numbered-v1", f"numbered:{v1}")
    assert answer(sandbox, "/numbered-v1")["marker"] == "one"
    assert ("numbered", v1) in pool_versions(sandbox)

    lambda_.delete_function(FunctionName="numbered", Qualifier=v1)
    assert ("numbered", v1) not in pool_versions(sandbox)
    gone = sandbox.request("/numbered-v1")
    assert gone.status == 500 and gone.json() == {"message": "Internal server error"}
    lambda_.update_function_code(FunctionName="numbered", ZipFile=handler_zip("three"))
    v3 = lambda_.publish_version(FunctionName="numbered")["Version"]
    versions = [
        v["Version"] for v in lambda_.list_versions_by_function(FunctionName="numbered")["Versions"]
    ]
    assert int(v3) > int(v2) > int(v1)
    assert sorted(versions) == sorted(["$LATEST", v2, v3])


def pool_versions(sandbox: Sandbox) -> set[tuple[str, str]]:
    return {(pool["function"], pool["version"]) for pool in sandbox.status()["functions"]}


def test_an_alias_routes_by_its_weights_and_follows_updates_at_once(sandbox: Sandbox) -> None:
    lambda_ = sandbox.clients.lambda_
    create_function(sandbox.clients, "weighted", "one")
    v1 = lambda_.publish_version(FunctionName="weighted")["Version"]
    lambda_.update_function_code(FunctionName="weighted", ZipFile=handler_zip("two"))
    v2 = lambda_.publish_version(FunctionName="weighted")["Version"]
    weight, draws = 0.3, 200
    lambda_.create_alias(
        FunctionName="weighted",
        Name="live",
        FunctionVersion=v1,
        RoutingConfig={"AdditionalVersionWeights": {v2: weight}},
    )
    add_route(sandbox.clients, sandbox.rest_api_id, "weighted", "weighted:live")

    counts = Counter(answer(sandbox, "/weighted")["version"] for _ in range(draws))
    assert set(counts) == {v1, v2}
    # binomial(200, 0.3): mean 60, standard deviation 6.5; within 5 of them
    assert abs(counts[v2] - draws * weight) <= 5 * (draws * weight * (1 - weight)) ** 0.5

    lambda_.update_alias(
        FunctionName="weighted",
        Name="live",
        FunctionVersion=v2,
        RoutingConfig={"AdditionalVersionWeights": {}},
    )
    assert {answer(sandbox, "/weighted")["version"] for _ in range(20)} == {v2}


def test_a_custom_integration_passes_an_injected_error_through_as_a_200(sandbox: Sandbox) -> None:
    create_function(sandbox.clients, "custom", "one")
    add_route(
        sandbox.clients,
        sandbox.rest_api_id,
        "custom",
        "custom",
        integration_type="AWS",
        integration_responses=[
            {"statusCode": "200"},
            {"statusCode": "400", "selectionPattern": r".*\[BadRequest\].*"},
        ],
    )
    injected = sandbox.request(
        "/custom",
        method="POST",
        body=b'{"proxy_error": true}',
        headers={"Content-Type": "application/json"},
    )
    assert injected.status == 200
    assert injected.json()["statusCode"] == 503  # the function's result is the body, as is
    plain = sandbox.request("/custom", method="POST", body=b"{}")
    assert plain.status == 200 and json.loads(plain.json()["body"])["marker"] == "one"
    refused = sandbox.request("/custom", method="POST", body=b'{"raise": "[BadRequest] no items"}')
    assert refused.status == 400
    assert refused.json()["errorMessage"] == "[BadRequest] no items"


def test_an_api_change_serves_only_once_deployed(sandbox: Sandbox) -> None:
    apigateway = sandbox.clients.client("apigateway")
    create_function(sandbox.clients, "undeployed", "one")
    resources = apigateway.get_resources(restApiId=sandbox.rest_api_id)["items"]
    root = next(item["id"] for item in resources if item["path"] == "/")
    resource = apigateway.create_resource(
        restApiId=sandbox.rest_api_id, parentId=root, pathPart="undeployed"
    )["id"]
    apigateway.put_method(
        restApiId=sandbox.rest_api_id,
        resourceId=resource,
        httpMethod="GET",
        authorizationType="NONE",
    )
    apigateway.put_integration(
        restApiId=sandbox.rest_api_id,
        resourceId=resource,
        httpMethod="GET",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri="arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/"
        "arn:aws:lambda:us-east-1:123456789012:function:undeployed/invocations",
    )
    # not deployed: the stage's {proxy+} (the orders function) still answers /undeployed
    assert sandbox.request("/undeployed").json()["error"].startswith("no route")
    apigateway.create_deployment(restApiId=sandbox.rest_api_id, stageName="prod")
    assert answer(sandbox, "/undeployed")["marker"] == "one"


def test_the_environment_is_limited_to_4_kb(sandbox: Sandbox) -> None:
    lambda_ = sandbox.clients.lambda_
    create_function(sandbox.clients, "envlimit", "one")
    # {"K":"vvv..."} is 8 bytes of JSON around the value
    fits = {"K": "v" * (4096 - 8)}
    lambda_.update_function_configuration(FunctionName="envlimit", Environment={"Variables": fits})
    for call in (
        lambda: lambda_.update_function_configuration(
            FunctionName="envlimit", Environment={"Variables": {"K": "v" * (4096 - 7)}}
        ),
        lambda: create_function(
            sandbox.clients, "envlimit-new", "one", {"A": "é" * 2100}
        ),  # 2 bytes each in UTF-8
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert error_code(refused.value) == "InvalidParameterValueException"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert refused.value.response["Error"]["Message"].startswith(
            "Lambda was unable to configure your environment variables because the "
            "environment variables you have provided exceeded the 4KB limit. String measured: "
        )
    config = lambda_.get_function_configuration(FunctionName="envlimit")
    assert config["Environment"]["Variables"] == fits


def test_a_stale_revision_id_is_refused(sandbox: Sandbox) -> None:
    lambda_ = sandbox.clients.lambda_
    created = create_function(sandbox.clients, "revised", "one")
    first = created["RevisionId"]
    updated = lambda_.update_function_configuration(
        FunctionName="revised", RevisionId=first, Description="one"
    )
    assert updated["RevisionId"] != first
    assert (
        lambda_.get_function(FunctionName="revised")["Configuration"]["RevisionId"]
        == updated["RevisionId"]
    )
    for call in (
        lambda: lambda_.update_function_configuration(
            FunctionName="revised", RevisionId=first, Description="two"
        ),
        lambda: lambda_.publish_version(FunctionName="revised", RevisionId=first),
    ):
        with pytest.raises(ClientError) as refused:
            call()
        assert error_code(refused.value) == "PreconditionFailedException"
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert lambda_.get_function_configuration(FunctionName="revised")["Description"] == "one"
    wait_for(
        lambda: lambda_.publish_version(FunctionName="revised", RevisionId=updated["RevisionId"])[
            "Version"
        ],
        timeout=5,
        what="a publish with the latest RevisionId",
    )


def test_a_stale_alias_revision_id_is_refused(sandbox: Sandbox) -> None:
    lambda_ = sandbox.clients.lambda_
    create_function(sandbox.clients, "aliased", "one")
    v1 = lambda_.publish_version(FunctionName="aliased")["Version"]
    first = lambda_.create_alias(FunctionName="aliased", Name="live", FunctionVersion=v1)[
        "RevisionId"
    ]
    second = lambda_.update_alias(
        FunctionName="aliased", Name="live", RevisionId=first, Description="moved"
    )["RevisionId"]
    assert second != first
    with pytest.raises(ClientError) as refused:
        lambda_.update_alias(
            FunctionName="aliased", Name="live", RevisionId=first, Description="clobbered"
        )
    assert error_code(refused.value) == "PreconditionFailedException"
    assert lambda_.get_alias(FunctionName="aliased", Name="live")["Description"] == "moved"
