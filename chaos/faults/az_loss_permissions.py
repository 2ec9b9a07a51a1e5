"""The IAM statements an `az-loss` fault needs, per target kind and mode.

ARNs are in the target Region's partition (chaos.aws.partition); `gameday iam-policy
--partition` moves them to another.
"""

from __future__ import annotations

from typing import Any

from chaos.aws.partition import arn
from chaos.policy import PolicyStatement


def az_loss_statements(
    spec: Any, *, region: str, account_id: str, index: int
) -> list[PolicyStatement]:
    targets = spec.targets
    by_tags = bool(targets.tags)
    # pin changes the workloads (and locks them); blackhole only reads them and changes
    # (and locks) the lost AZ's subnets.
    pin = spec.mode == "pin"
    statements = [
        # Describe calls of EC2 support no resource-level permission.
        PolicyStatement("AzLossDescribe", ("ec2:DescribeAvailabilityZones",
                                           "ec2:DescribeSubnets"), ("*",)),
    ]
    if targets.lambda_ or by_tags:
        lambda_prefix = arn("lambda", region, account_id, "function")
        arns = tuple(
            name if name.startswith("arn:") else f"{lambda_prefix}:{name}"
            for name in targets.lambda_
        ) if not by_tags else (f"{lambda_prefix}:*",)
        statements.append(PolicyStatement(
            f"AzLossLambda{index}",
            ("lambda:GetFunctionConfiguration", "lambda:ListTags") + (
                ("lambda:UpdateFunctionConfiguration", "lambda:TagResource",
                 "lambda:UntagResource",
                 "lambda:GetFunction") if pin else ()),  # the update waiter polls it
            arns,
        ))
        if pin:
            # Placing a function in a VPC also needs the caller to read these.
            statements.append(PolicyStatement(
                "AzLossLambdaVpc", ("ec2:DescribeSecurityGroups", "ec2:DescribeVpcs"), ("*",)))
        if by_tags:
            statements.append(PolicyStatement("FindFunctionsByTag", ("lambda:ListFunctions",),
                                              ("*",)))
    if targets.ecs_services or by_tags:
        statements.append(PolicyStatement(
            f"AzLossEcs{index}",
            ("ecs:DescribeServices", "ecs:ListTagsForResource") + (
                ("ecs:UpdateService", "ecs:TagResource", "ecs:UntagResource") if pin else ()),
            (arn("ecs", region, account_id, "service/*"),),
        ))
        if pin:
            # Where the service's tasks run, until they have converged (apply and restore).
            statements += [
                PolicyStatement("AzLossEcsTaskList", ("ecs:ListTasks",),
                                (arn("ecs", region, account_id, "container-instance/*"),)),
                PolicyStatement("AzLossEcsTasks", ("ecs:DescribeTasks",),
                                (arn("ecs", region, account_id, "task/*"),)),
            ]
        if by_tags:
            statements.append(PolicyStatement("AzLossEcsList", ("ecs:ListClusters",
                                                                "ecs:ListServices"), ("*",)))
    if targets.autoscaling_groups or by_tags:
        statements.append(PolicyStatement(
            "AzLossAsgDescribe", ("autoscaling:DescribeAutoScalingGroups",), ("*",)))
    if (targets.autoscaling_groups or by_tags) and pin:
        statements += [
            PolicyStatement(
                f"AzLossAsg{index}",
                ("autoscaling:UpdateAutoScalingGroup", "autoscaling:CreateOrUpdateTags",
                 "autoscaling:DeleteTags"),
                tuple(arn("autoscaling", region, account_id,
                          f"autoScalingGroup:*:autoScalingGroupName/{name}")
                      for name in (targets.autoscaling_groups or ["*"])),
            ),
        ]
    if targets.load_balancers or by_tags:
        statements.append(PolicyStatement(
            "AzLossElbDescribe", ("elasticloadbalancing:DescribeLoadBalancers",
                                  "elasticloadbalancing:DescribeTags"), ("*",)))
    if (targets.load_balancers or by_tags) and pin:
        statements += [
            # Whether a Network Load Balancer serves a PrivateLink endpoint service with
            # connected endpoints (its subnets cannot be removed then): the run refuses it.
            PolicyStatement(
                "AzLossNlbEndpointServices", ("ec2:DescribeVpcEndpointServiceConfigurations",
                                              "ec2:DescribeVpcEndpointConnections"), ("*",)),
            PolicyStatement(
                f"AzLossElb{index}",
                ("elasticloadbalancing:SetSubnets", "elasticloadbalancing:AddTags",
                 "elasticloadbalancing:RemoveTags"),
                (arn("elasticloadbalancing", region, account_id, "loadbalancer/*"),),
            ),
        ]
    # The lock tag on each subnet of the lost AZ that a pin removes, or that gets the run's
    # network ACL (with the ACL it had).
    statements.append(PolicyStatement("AzLossSubnetLock", ("ec2:CreateTags", "ec2:DeleteTags"),
                                      (arn("ec2", region, account_id, "subnet/*"),)))
    if not pin:
        statements += [
            PolicyStatement("AzLossBlackholeDescribe", ("ec2:DescribeNetworkAcls",), ("*",)),
            PolicyStatement(
                "AzLossBlackhole",
                # No CreateNetworkAclEntry: a new network ACL already denies all traffic.
                ("ec2:CreateNetworkAcl", "ec2:ReplaceNetworkAclAssociation",
                 "ec2:DeleteNetworkAcl", "ec2:CreateTags"),
                (arn("ec2", region, account_id, "network-acl/*"),
                 arn("ec2", region, account_id, "vpc/*")),
            ),
        ]
    return statements
