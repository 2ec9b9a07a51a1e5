"""Lambda updates as slow as AWS makes them (`aws` realism, delays x0.5: InProgress 1-2.5 s).

One sandbox for the module, without control-plane throttling (test_sandbox_throttling.py
has it) so that calls made during an update reach Lambda at once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError

from chaos.aws.lambda_functions import wait_until_updated, wait_until_version_active
from tests.sandbox.lambda_support import add_route, create_function, function_arn, handler_zip
from tests.sandbox.support import Reply, Sandbox, live_sandbox

pytestmark = pytest.mark.timeout(120)
TIME_SCALE = 0.5


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with live_sandbox(
        tmp_path_factory.mktemp("sandbox-lambda-realism"),
        GAMEDAY_SANDBOX_REALISM="aws",
        GAMEDAY_SANDBOX_TIME_SCALE=str(TIME_SCALE),
        GAMEDAY_SANDBOX_SEED="21",
        GAMEDAY_SANDBOX_THROTTLE_RATE="0",
    ) as sandbox:
        assert sandbox.state.realism == "aws"
        yield sandbox


def env_marker(sandbox: Sandbox, path: str = "/slow") -> str:
    reply = sandbox.request(path)
    assert reply.status == 200, (reply.status, reply.body)
    return str(reply.json()["env"])


def test_an_update_is_in_progress_for_seconds_and_invocations_keep_the_old_configuration(
    sandbox: Sandbox,
) -> None:
    lambda_ = sandbox.clients.lambda_
    create_function(sandbox.clients, "slow", "one", {"MARKER": "old"})
    add_route(sandbox.clients, sandbox.rest_api_id, "slow", "slow")
    assert env_marker(sandbox) == "old"
    in_flight: list[Reply] = []
    holder = threading.Thread(target=lambda: in_flight.append(sandbox.request("/slow?sleep=3")))
    holder.start()  # an invocation that outlives the update

    updated = lambda_.update_function_configuration(
        FunctionName="slow", Environment={"Variables": {"MARKER": "new"}}
    )
    assert updated["LastUpdateStatus"] == "InProgress"
    config = lambda_.get_function_configuration(FunctionName="slow")
    assert (config["LastUpdateStatus"], config["LastUpdateStatusReasonCode"]) == (
        "InProgress",
        "Creating",
    )
    assert (
        lambda_.get_function(FunctionName="slow")["Configuration"]["LastUpdateStatus"]
        == "InProgress"
    )
    assert env_marker(sandbox) == "old", "new invocations keep the old configuration"
    for call in (
        lambda: lambda_.update_function_configuration(FunctionName="slow", Timeout=20),
        lambda: lambda_.publish_version(FunctionName="slow"),
    ):
        with pytest.raises(ClientError) as conflict:
            call()
        error = conflict.value.response
        assert error["Error"]["Code"] == "ResourceConflictException"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 409
        assert error["Error"]["Message"] == (
            "The operation cannot be performed at this time. An update is in progress for "
            f"resource: {function_arn('slow')}"
        )

    wait_until_updated(sandbox.clients, function_arn("slow"))  # the toolkit's waiter
    config = lambda_.get_function_configuration(FunctionName="slow")
    assert config["LastUpdateStatus"] == "Successful"
    assert "LastUpdateStatusReasonCode" not in config
    assert env_marker(sandbox) == "new", "the update applies when it completes"
    holder.join(timeout=30)
    assert in_flight and in_flight[0].status == 200
    assert in_flight[0].json()["env"] == "old", "in-flight invocations finish on the old one"
    assert config["Timeout"] == 10, "the refused update changed nothing"


def test_code_updates_are_in_progress_too(sandbox: Sandbox) -> None:
    lambda_ = sandbox.clients.lambda_
    create_function(sandbox.clients, "slow-code", "one")
    updated = lambda_.update_function_code(FunctionName="slow-code", ZipFile=handler_zip("two"))
    assert updated["LastUpdateStatus"] == "InProgress"
    with pytest.raises(ClientError) as conflict:
        lambda_.update_function_code(FunctionName="slow-code", ZipFile=handler_zip("three"))
    assert conflict.value.response["Error"]["Code"] == "ResourceConflictException"
    lambda_.get_waiter("function_updated_v2").wait(
        FunctionName="slow-code", WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    assert (
        lambda_.get_function_configuration(FunctionName="slow-code")["CodeSha256"]
        == updated["CodeSha256"]
    )


def test_a_published_version_is_pending_for_seconds_then_active(sandbox: Sandbox) -> None:
    lambda_ = sandbox.clients.lambda_
    create_function(sandbox.clients, "published", "one")
    lambda_.get_waiter("function_updated_v2").wait(
        FunctionName="published", WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    pending = {
        "State": "Pending",
        "StateReason": "The function is being created.",
        "StateReasonCode": "Creating",
        "LastUpdateStatus": "InProgress",
        "LastUpdateStatusReason": "The function is being created.",
        "LastUpdateStatusReasonCode": "Creating",
    }

    published = lambda_.publish_version(FunctionName="published")
    version = published["Version"]
    assert {key: published.get(key) for key in pending} == pending
    config = lambda_.get_function_configuration(FunctionName="published", Qualifier=version)
    assert {key: config.get(key) for key in pending} == pending
    latest = lambda_.get_function_configuration(FunctionName="published")
    assert (latest["State"], latest["LastUpdateStatus"]) == ("Active", "Successful")

    wait_until_version_active(sandbox.clients, "published", version)  # the toolkit's waiter
    config = lambda_.get_function_configuration(FunctionName="published", Qualifier=version)
    assert (config["State"], config["LastUpdateStatus"]) == ("Active", "Successful")
    assert "StateReasonCode" not in config and "LastUpdateStatusReasonCode" not in config


def test_an_alias_on_a_pending_version_answers_500_until_it_is_active(sandbox: Sandbox) -> None:
    """Lambda invokes no Pending function (ResourceConflictException); API Gateway answers
    such a rejected invocation 500: a tool that moved an alias too early would see it."""
    lambda_ = sandbox.clients.lambda_
    create_function(sandbox.clients, "moving", "one", {"MARKER": "v1"})
    first = lambda_.publish_version(FunctionName="moving")["Version"]
    wait_until_version_active(sandbox.clients, "moving", first)
    lambda_.create_alias(FunctionName="moving", Name="live", FunctionVersion=first)
    add_route(sandbox.clients, sandbox.rest_api_id, "moving", "moving:live")
    assert env_marker(sandbox, "/moving") == "v1"

    lambda_.update_function_configuration(
        FunctionName="moving", Environment={"Variables": {"MARKER": "v2"}}
    )
    wait_until_updated(sandbox.clients, "moving")
    second = lambda_.publish_version(FunctionName="moving")["Version"]
    lambda_.update_alias(FunctionName="moving", Name="live", FunctionVersion=second)
    refused = sandbox.request("/moving")
    assert (refused.status, refused.json()) == (500, {"message": "Internal server error"})

    wait_until_version_active(sandbox.clients, "moving", second)
    assert env_marker(sandbox, "/moving") == "v2"
