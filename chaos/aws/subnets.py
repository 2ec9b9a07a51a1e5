"""EC2 subnets and their network ACL associations, as the AZ-loss fault sees them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from chaos.aws.clients import error_code
from chaos.aws.retry import EVENTUAL_CONSISTENCY_CODES, call_with_backoff
from chaos.errors import PreflightRefused

if TYPE_CHECKING:
    from chaos.aws.clients import AwsClients
    from chaos.az.mapping import AzMapping

#: A network ACL that does not exist. moto (the sandbox) answers a DescribeNetworkAcls of a
#: missing ID with InvalidRouteTableID.NotFound, and supports no `network-acl-id` filter.
_MISSING_ACL_CODES = ("InvalidNetworkAclID.NotFound", "InvalidRouteTableID.NotFound")


@dataclass(frozen=True)
class Subnet:
    subnet_id: str
    vpc_id: str
    az_id: str
    az_name: str
    name: str = ""
    tags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    def label(self) -> str:
        """`subnet-1 (orders-a) in use1-az1 (us-east-1b)`."""
        named = f" ({self.name})" if self.name else ""
        return f"{self.subnet_id}{named} in {self.az_id} ({self.az_name})"


@dataclass(frozen=True)
class AclAssociation:
    association_id: str
    network_acl_id: str
    tags: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


def describe_subnets(
    clients: AwsClients, subnet_ids: list[str], mapping: AzMapping
) -> dict[str, Subnet]:
    """The subnets by ID; PreflightRefused naming any that does not exist."""
    wanted = sorted(set(subnet_ids))
    if not wanted:
        return {}
    try:
        pages = clients.client("ec2").get_paginator("describe_subnets").paginate(SubnetIds=wanted)
        raw = [subnet for page in pages for subnet in page["Subnets"]]
    except ClientError as error:
        if error_code(error) == "InvalidSubnetID.NotFound":
            raise PreflightRefused(f"subnet lookup failed: {error_message(error)}") from error
        raise
    found = {item["SubnetId"]: subnet_from(item, mapping) for item in raw}
    missing = [subnet_id for subnet_id in wanted if subnet_id not in found]
    if missing:
        raise PreflightRefused(f"subnets do not exist: {', '.join(missing)}")
    return found


def find_subnets(
    clients: AwsClients, subnet_ids: list[str], mapping: AzMapping
) -> dict[str, Subnet]:
    """The subnets by ID that exist (a missing one is absent, never an error)."""
    found: dict[str, Subnet] = {}
    for subnet_id in sorted(set(subnet_ids)):  # one by one: a missing ID fails the whole call
        try:
            items = clients.client("ec2").describe_subnets(SubnetIds=[subnet_id])["Subnets"]
        except ClientError as error:
            if error_code(error) == "InvalidSubnetID.NotFound":
                continue
            raise
        found.update((item["SubnetId"], subnet_from(item, mapping)) for item in items)
    return found


def subnet_from(item: dict[str, Any], mapping: AzMapping) -> Subnet:
    tags = tags_of(item)
    az_name = str(item.get("AvailabilityZone", ""))
    az_id = str(item.get("AvailabilityZoneId") or mapping.id_of(az_name) or "")
    return Subnet(
        subnet_id=item["SubnetId"],
        vpc_id=item["VpcId"],
        az_id=az_id,
        az_name=az_name or (mapping.name_of(az_id) or ""),
        name=tags.get("Name", ""),
        tags=tags,
    )


def tags_of(item: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in item.get("Tags", []) or []}


def error_message(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Message", error))


# -- EC2 tags (subnets and network ACLs carry the lock tag) ---------------------------


def tag_resource(clients: AwsClients, resource_id: str, key: str, value: str) -> None:
    call_with_backoff(
        lambda: clients.client("ec2").create_tags(
            Resources=[resource_id], Tags=[{"Key": key, "Value": value}]
        )
    )


def tag_resource_with(clients: AwsClients, resource_ids: list[str], tags: dict[str, str]) -> None:
    """Set all of `tags` on every resource in one CreateTags call (all or none of them)."""
    call_with_backoff(
        lambda: clients.client("ec2").create_tags(
            Resources=list(resource_ids),
            Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
        )
    )


def untag_resource(
    clients: AwsClients, resource_id: str, keys: str | dict[str, str | None]
) -> None:
    """Delete tags: a key, or keys each with the value it must have (None: any value)."""
    wanted = {keys: None} if isinstance(keys, str) else keys
    tags = [
        {"Key": key} if value is None else {"Key": key, "Value": value}
        for key, value in wanted.items()
    ]
    call_with_backoff(lambda: clients.client("ec2").delete_tags(Resources=[resource_id], Tags=tags))


def subnet_tags(clients: AwsClients, subnet_id: str) -> dict[str, str] | None:
    """The subnet's tags, or None when the subnet no longer exists."""
    try:
        response = clients.client("ec2").describe_subnets(SubnetIds=[subnet_id])
    except ClientError as error:
        if error_code(error) == "InvalidSubnetID.NotFound":
            return None
        raise
    subnets = response["Subnets"]
    return tags_of(subnets[0]) if subnets else None


# -- network ACLs ---------------------------------------------------------------------


def acl_association(clients: AwsClients, subnet_id: str) -> AclAssociation | None:
    """The subnet's current network ACL association (every subnet has exactly one)."""
    response = clients.client("ec2").describe_network_acls(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}]
    )
    for acl in response["NetworkAcls"]:
        for association in acl.get("Associations", []):
            if association.get("SubnetId") == subnet_id:
                return AclAssociation(
                    association["NetworkAclAssociationId"], acl["NetworkAclId"], tags_of(acl)
                )
    return None


def create_acl(clients: AwsClients, vpc_id: str, tags: dict[str, str]) -> str:
    """A new network ACL, tagged at creation (so a crash can find it); it denies everything.

    "Each custom network ACL ... denies all inbound and outbound traffic until you add rules"
    (its only rules are the `*` denies of every network ACL: "Control traffic to subnets
    using network ACLs", https://docs.aws.amazon.com/vpc/latest/userguide/vpc-network-acls.html,
    and "Default network ACL for a VPC", .../default-network-acl.html): no entry is added,
    so the ID is known, and journaled, as soon as the ACL exists. Its TagSpecifications are
    "The tags to assign to the network ACL" in the create call itself (CreateNetworkAcl,
    https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateNetworkAcl.html): it
    never exists without the run's lock.
    """
    ec2 = clients.client("ec2")
    return str(
        call_with_backoff(
            lambda: ec2.create_network_acl(
                VpcId=vpc_id,
                TagSpecifications=[
                    {
                        "ResourceType": "network-acl",
                        "Tags": [{"Key": key, "Value": value} for key, value in tags.items()],
                    }
                ],
            )
        )["NetworkAcl"]["NetworkAclId"]
    )


def acls_tagged(clients: AwsClients, vpc_id: str, key: str, value: str) -> list[str]:
    response = clients.client("ec2").describe_network_acls(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": f"tag:{key}", "Values": [value]},
        ]
    )
    return sorted(acl["NetworkAclId"] for acl in response["NetworkAcls"])


def acl_exists(clients: AwsClients, acl_id: str) -> bool:
    return acl_vpc(clients, acl_id) is not None


def acl_vpc(clients: AwsClients, acl_id: str) -> str | None:
    """The VPC of a network ACL; None when it does not exist."""
    try:
        response = clients.client("ec2").describe_network_acls(NetworkAclIds=[acl_id])
    except ClientError as error:
        if error_code(error) in _MISSING_ACL_CODES:
            return None
        raise
    acls = response["NetworkAcls"]
    return str(acls[0]["VpcId"]) if acls else None


def default_acl(clients: AwsClients, vpc_id: str) -> str | None:
    response = clients.client("ec2").describe_network_acls(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "default", "Values": ["true"]},
        ]
    )
    acls = response["NetworkAcls"]
    return str(acls[0]["NetworkAclId"]) if acls else None


def replace_acl(clients: AwsClients, association_id: str, acl_id: str) -> str:
    """Associate the subnet behind `association_id` with `acl_id`; the new association ID."""
    # The ACL may have been created, and the association read, an instant ago.
    response = call_with_backoff(
        lambda: clients.client("ec2").replace_network_acl_association(
            AssociationId=association_id, NetworkAclId=acl_id
        ),
        also_retry=EVENTUAL_CONSISTENCY_CODES,
    )
    return str(response["NewAssociationId"])


def delete_acl(clients: AwsClients, acl_id: str) -> bool:
    """Delete the ACL; False when it was already gone."""
    try:
        call_with_backoff(lambda: clients.client("ec2").delete_network_acl(NetworkAclId=acl_id))
    except ClientError as error:
        if error_code(error) in _MISSING_ACL_CODES:
            return False
        raise
    return True
