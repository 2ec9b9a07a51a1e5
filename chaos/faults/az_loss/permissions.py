"""The IAM statements an `az-loss` fault needs, per target kind and mode.

Every change is allowed only on a resource that carries a run's lock tag (`locked()`), and
the lock itself only on the fault's targets: named ones by ARN, tag-selected ones by their
selector's tags (`tagged()`), the lost AZ's subnets by `ec2:AvailabilityZoneId`; tagging
calls may touch gameday:* keys only (`only_tag_keys()`). Each condition key is one the
Service Authorization Reference lists for that action's resource type: aws:ResourceTag on
Lambda's function (https://docs.aws.amazon.com/service-authorization/latest/reference/
list_awslambda.html), ECS's service (list_amazonelasticcontainerservice.html), Auto
Scaling's autoScalingGroup (list_amazonec2autoscaling.html), ELB's loadbalancer/app|net
(list_awselasticloadbalancing.html), EC2's subnet and network-acl (list_amazonec2.html, also
for ec2:AvailabilityZoneId on subnet, ec2:CreateAction on CreateTags, aws:RequestTag on
CreateNetworkAcl's network-acl); aws:TagKeys on every tagging action of the five.

ARNs are in the target Region's partition (chaos.aws.partition); `gameday iam-policy
--partition` moves them to another.
"""

from __future__ import annotations

from typing import Any

from chaos.aws.partition import arn
from chaos.aws.workloads import split_ecs_ref
from chaos.faults.base import REMOVED_SUBNET_TAG_PREFIX
from chaos.policy import LOCK_TAG, PolicyStatement, locked, only_tag_keys, tagged

# The "...Side" statements are a second resource of a request another statement already
# limits: ReplaceNetworkAclAssociation is authorized against the subnet *and* the network ACL,
# CreateNetworkAcl against the new ACL *and* its VPC (Service Authorization Reference, Amazon
# EC2, list_amazonec2.html). The subnet / new ACL side carries the lock condition; the ACL
# restored to (the subnet's own, not ours) and the VPC cannot, and allow nothing on their own.


def az_loss_statements(
    spec: Any, *, region: str, account_id: str, index: int
) -> list[PolicyStatement]:
    targets = spec.targets
    selector = dict(targets.tags or {})
    # pin changes the workloads (and locks them); blackhole only reads them and changes
    # (and locks) the lost AZ's subnets.
    pin = spec.mode == "pin"

    def ours(service: str, resource: str) -> str:
        return arn(service, region, account_id, resource)

    statements = [
        # Describe calls of EC2 support no resource-level permission.
        PolicyStatement(
            "AzLossDescribe", ("ec2:DescribeAvailabilityZones", "ec2:DescribeSubnets"), ("*",)
        ),
    ]
    if targets.lambda_ or selector:
        function_arns = tuple(
            name if name.startswith("arn:") else ours("lambda", f"function:{name}")
            for name in targets.lambda_
        )
        statements += workload_statements(
            f"AzLossLambda{index}",
            pin,
            function_arns,
            ours("lambda", "function:*"),
            selector,
            reads=("lambda:GetFunctionConfiguration", "lambda:ListTags")
            + (("lambda:GetFunction",) if pin else ()),  # the update waiter polls it
            change=("lambda:UpdateFunctionConfiguration",),
            lock=("lambda:TagResource", "lambda:UntagResource"),
        )
        if pin:
            # Placing a function in a VPC also needs the caller to read these.
            statements.append(
                PolicyStatement(
                    "AzLossLambdaVpc", ("ec2:DescribeSecurityGroups", "ec2:DescribeVpcs"), ("*",)
                )
            )
        if selector:
            statements.append(
                PolicyStatement("FindFunctionsByTag", ("lambda:ListFunctions",), ("*",))
            )
    if targets.ecs_services or selector:
        service_arns = tuple(
            ours("ecs", "service/{}/{}".format(*split_ecs_ref(ref))) for ref in targets.ecs_services
        )
        statements += workload_statements(
            f"AzLossEcs{index}",
            pin,
            service_arns,
            ours("ecs", "service/*"),
            selector,
            reads=("ecs:DescribeServices", "ecs:ListTagsForResource"),
            change=("ecs:UpdateService",),
            lock=("ecs:TagResource", "ecs:UntagResource"),
        )
        if pin:
            # Where the service's tasks run, until they have converged (apply and restore).
            statements += [
                PolicyStatement(
                    "AzLossEcsTaskList", ("ecs:ListTasks",), (ours("ecs", "container-instance/*"),)
                ),
                PolicyStatement("AzLossEcsTasks", ("ecs:DescribeTasks",), (ours("ecs", "task/*"),)),
            ]
        # The network mode of a service without subnets, named when it is refused (no
        # resource-level permission).
        statements.append(
            PolicyStatement("AzLossEcsTaskDefinitions", ("ecs:DescribeTaskDefinition",), ("*",))
        )
        if selector:
            statements.append(
                PolicyStatement("AzLossEcsList", ("ecs:ListClusters", "ecs:ListServices"), ("*",))
            )
    if targets.autoscaling_groups or selector:
        # A pin refuses a group with a warm pool: it reads whether it has one.
        reads = ("autoscaling:DescribeAutoScalingGroups",) + (
            ("autoscaling:DescribeWarmPool",) if pin else ()
        )
        statements.append(PolicyStatement("AzLossAsgDescribe", reads, ("*",)))
    if (targets.autoscaling_groups or selector) and pin:
        group_arns = tuple(
            ours("autoscaling", f"autoScalingGroup:*:autoScalingGroupName/{name}")
            for name in targets.autoscaling_groups
        )
        statements += workload_statements(
            f"AzLossAsg{index}",
            pin,
            group_arns,
            ours("autoscaling", "autoScalingGroup:*:autoScalingGroupName/*"),
            selector,
            reads=(),
            change=("autoscaling:UpdateAutoScalingGroup",),
            lock=("autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags"),
        )
    if targets.load_balancers or selector:
        statements.append(
            PolicyStatement(
                "AzLossElbDescribe",
                ("elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeTags"),
                ("*",),
            )
        )
    if (targets.load_balancers or selector) and pin:
        # A load balancer's ARN ends in its type and an ID the experiment does not know:
        # loadbalancer/app|net/NAME/ID (a gateway load balancer is refused).
        balancer_arns = tuple(
            name
            if name.startswith("arn:")
            else ours("elasticloadbalancing", f"loadbalancer/*/{name}/*")
            for name in targets.load_balancers
        )
        statements.append(
            # Whether a Network Load Balancer serves a PrivateLink endpoint service with
            # connected endpoints (its subnets cannot be removed then): the run refuses it.
            PolicyStatement(
                "AzLossNlbEndpointServices",
                (
                    "ec2:DescribeVpcEndpointServiceConfigurations",
                    "ec2:DescribeVpcEndpointConnections",
                ),
                ("*",),
            )
        )
        statements += workload_statements(
            f"AzLossElb{index}",
            pin,
            balancer_arns,
            ours("elasticloadbalancing", "loadbalancer/*"),
            selector,
            reads=(),
            change=("elasticloadbalancing:SetSubnets",),
            lock=("elasticloadbalancing:AddTags", "elasticloadbalancing:RemoveTags"),
        )
    if pin:
        statements += pin_subnet_statements(
            spec.az_id, region=region, account_id=account_id, index=index
        )
    else:
        statements += blackhole_statements(
            spec.az_id, region=region, account_id=account_id, index=index
        )
    return statements


def workload_statements(
    sid: str,
    pin: bool,
    named: tuple[str, ...],
    any_of_kind: str,
    selector: dict[str, str],
    *,
    reads: tuple[str, ...],
    change: tuple[str, ...],
    lock: tuple[str, ...],
) -> list[PolicyStatement]:
    """Reads, the change (only while locked) and the lock (only gameday:* keys) on the named
    targets, and on the selector's: any resource of the kind that carries its tags."""
    statements = []
    scopes: list[tuple[str, tuple[str, ...], tuple[tuple[str, str, str], ...]]] = []
    if named:
        scopes.append(("", named, ()))
    if selector:
        scopes.append(("ByTag", (any_of_kind,), tagged(selector)))
    for suffix, resources, scope in scopes:
        if reads:  # unscoped: a tag selector reads the tags of every resource of the kind
            statements.append(PolicyStatement(f"{sid}{suffix}Read", reads, resources))
        if pin:
            statements += [
                PolicyStatement(f"{sid}{suffix}Change", change, resources, scope + locked()),
                PolicyStatement(f"{sid}{suffix}Lock", lock, resources, scope + only_tag_keys()),
            ]
    return statements


def pin_subnet_statements(
    az_id: str, *, region: str, account_id: str, index: int
) -> list[PolicyStatement]:
    """A pin marks each subnet it removes (`gameday:removed-by:RUN`, so that several runs may
    pin workloads out of one shared subnet), on subnets of the lost AZ ID only; the restore
    re-adds only marked subnets and removes its mark."""
    lost_az = (("StringEquals", "ec2:AvailabilityZoneId", az_id),)
    removed_by = (
        ("ForAllValues:StringLike", "aws:TagKeys", f"{REMOVED_SUBNET_TAG_PREFIX}*"),
        ("Null", "aws:TagKeys", "false"),
    )
    subnets = (arn("ec2", region, account_id, "subnet/*"),)
    return [
        PolicyStatement(
            f"AzLossSubnetMark{index}", ("ec2:CreateTags",), subnets, lost_az + removed_by
        ),
        PolicyStatement(
            f"AzLossSubnetUnmark{index}", ("ec2:DeleteTags",), subnets, lost_az + removed_by
        ),
    ]


def blackhole_statements(
    az_id: str, *, region: str, account_id: str, index: int
) -> list[PolicyStatement]:
    """The run's deny-all ACL (created with the lock tag) on the lost AZ ID's subnets (locked
    first), put back and deleted on restore."""

    def ours(resource: str) -> str:
        return arn("ec2", region, account_id, resource)

    lost_az = (("StringEquals", "ec2:AvailabilityZoneId", az_id),)
    return [
        PolicyStatement("AzLossBlackholeDescribe", ("ec2:DescribeNetworkAcls",), ("*",)),
        # The lock (and the restore's own tags) on a subnet of the lost AZ ID only.
        PolicyStatement(
            f"AzLossSubnetLock{index}",
            ("ec2:CreateTags",),
            (ours("subnet/*"),),
            lost_az + only_tag_keys(),
        ),
        PolicyStatement(
            "AzLossSubnetUnlock",
            ("ec2:DeleteTags",),
            (ours("subnet/*"),),
            locked() + only_tag_keys(),
        ),
        # No CreateNetworkAclEntry: a new network ACL already denies all traffic. It is
        # created carrying the lock tag (tag-on-create: CreateTags with ec2:CreateAction).
        PolicyStatement(
            "AzLossAclCreate",
            ("ec2:CreateNetworkAcl",),
            (ours("network-acl/*"),),
            (("Null", f"aws:RequestTag/{LOCK_TAG}", "false"),),
        ),
        PolicyStatement("AzLossAclVpcSide", ("ec2:CreateNetworkAcl",), (ours("vpc/*"),)),
        PolicyStatement(
            "AzLossAclTagOnCreate",
            ("ec2:CreateTags",),
            (ours("network-acl/*"),),
            (("StringEquals", "ec2:CreateAction", "CreateNetworkAcl"),) + only_tag_keys(),
        ),
        PolicyStatement(
            "AzLossAclAssociate",
            ("ec2:ReplaceNetworkAclAssociation",),
            (ours("subnet/*"),),
            locked(),
        ),
        PolicyStatement(
            "AzLossAclSide", ("ec2:ReplaceNetworkAclAssociation",), (ours("network-acl/*"),)
        ),
        PolicyStatement(
            "AzLossAclDelete", ("ec2:DeleteNetworkAcl",), (ours("network-acl/*"),), locked()
        ),
    ]
