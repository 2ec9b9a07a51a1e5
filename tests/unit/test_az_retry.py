"""Retries of the AWS errors az-loss meets while a resource is busy or was just created.

botocore Stubber: each queued error is what the service answers; a call that retries
too little, too much or at all when it must not leaves responses pending or runs out.
"""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from chaos.aws import AwsClients
from chaos.aws import subnets as ec2_subnets
from chaos.aws.retry import call_with_backoff
from chaos.aws.workloads import Workload, placement_for

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def no_backoff_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("chaos.aws.retry.random.uniform", lambda low, high: 0.0)


@pytest.fixture
def stubbed() -> Iterator[tuple[AwsClients, dict[str, Stubber]]]:
    clients = AwsClients(region=REGION)
    stubbers = {}
    for service in ("autoscaling", "ec2"):
        client = boto3.client(
            service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
        )
        clients._cache[service] = client
        stubbers[service] = Stubber(client)
        stubbers[service].activate()
    yield clients, stubbers
    for stubber in stubbers.values():
        stubber.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["ScalingActivityInProgress", "ResourceContention"])
def test_auto_scaling_update_is_retried_while_the_group_is_busy(
    stubbed: tuple[AwsClients, dict[str, Stubber]], code: str
) -> None:
    clients, stubbers = stubbed
    expected = {"AutoScalingGroupName": "web", "VPCZoneIdentifier": "subnet-2,subnet-3"}
    stubbers["autoscaling"].add_client_error(
        "update_auto_scaling_group", code, expected_params=expected
    )
    stubbers["autoscaling"].add_client_error(
        "update_auto_scaling_group", code, expected_params=expected
    )
    stubbers["autoscaling"].add_response("update_auto_scaling_group", {}, expected)
    group = Workload(
        kind="asg",
        ref="web",
        name="web",
        arn="web",
        subnet_ids=["subnet-1", "subnet-2", "subnet-3"],
    )
    placement_for("asg").set_subnets(clients, group, ["subnet-2", "subnet-3"])


@pytest.mark.parametrize("code", ["InvalidAssociationID.NotFound", "InvalidNetworkAclID.NotFound"])
def test_acl_association_right_after_create_is_retried_until_ec2_knows_the_ids(
    stubbed: tuple[AwsClients, dict[str, Stubber]], code: str
) -> None:
    clients, stubbers = stubbed
    expected = {"AssociationId": "aclassoc-1", "NetworkAclId": "acl-new"}
    stubbers["ec2"].add_client_error(
        "replace_network_acl_association", code, expected_params=expected
    )
    stubbers["ec2"].add_response(
        "replace_network_acl_association", {"NewAssociationId": "aclassoc-2"}, expected
    )
    assert ec2_subnets.replace_acl(clients, "aclassoc-1", "acl-new") == "aclassoc-2"


def test_a_deleted_acl_is_gone_at_once_not_retried(
    stubbed: tuple[AwsClients, dict[str, Stubber]],
) -> None:
    clients, stubbers = stubbed
    stubbers["ec2"].add_client_error(
        "delete_network_acl",
        "InvalidNetworkAclID.NotFound",
        expected_params={"NetworkAclId": "acl-gone"},
    )
    assert ec2_subnets.delete_acl(clients, "acl-gone") is False


def test_a_new_acl_gets_no_entries_and_its_id_at_once(
    stubbed: tuple[AwsClients, dict[str, Stubber]],
) -> None:
    clients, stubbers = stubbed
    stubbers["ec2"].add_response(
        "create_network_acl",
        {"NetworkAcl": {"NetworkAclId": "acl-new", "VpcId": "vpc-1", "Entries": []}},
        {
            "VpcId": "vpc-1",
            "TagSpecifications": [
                {
                    "ResourceType": "network-acl",
                    "Tags": [{"Key": "gameday:run-id", "Value": "run-1"}],
                }
            ],
        },
    )
    # No create_network_acl_entry is queued: one would fail the stubber.
    assert ec2_subnets.create_acl(clients, "vpc-1", {"gameday:run-id": "run-1"}) == "acl-new"


def test_eventual_consistency_codes_are_retried_only_where_asked() -> None:
    calls = []

    def not_found() -> None:
        calls.append(1)
        raise ClientError(
            {"Error": {"Code": "InvalidNetworkAclID.NotFound"}}, "DescribeNetworkAcls"
        )

    with pytest.raises(ClientError):
        call_with_backoff(not_found)
    assert len(calls) == 1
    with pytest.raises(ClientError):
        call_with_backoff(not_found, attempts=3, also_retry={"InvalidNetworkAclID.NotFound"})
    assert len(calls) == 1 + 3
