"""The IAM statements an `az-loss` fault needs, per target kind and mode."""

from __future__ import annotations

from typing import Any

from chaos.policy import PolicyStatement


def az_loss_statements(
    spec: Any, *, region: str, account_id: str, index: int
) -> list[PolicyStatement]:
    targets = spec.targets
    by_tags = bool(targets.tags)
    # pin changes the workloads (and locks them); blackhole only reads them and changes
    # (and locks) the lost AZ's subnets.
    pin = spec.mode == "pin"
    ec2 = f"arn:aws:ec2:{region}:{account_id}"
    statements = [
        # Describe calls of EC2 support no resource-level permission.
        PolicyStatement("AzLossDescribe", ("ec2:DescribeAvailabilityZones",
                                           "ec2:DescribeSubnets"), ("*",)),
    ]
    if targets.lambda_ or by_tags:
        lambda_prefix = f"arn:aws:lambda:{region}:{account_id}:function"
        arns = tuple(
            name if name.startswith("arn:") else f"{lambda_prefix}:{name}"
            for name in targets.lambda_
        ) if not by_tags else (f"{lambda_prefix}:*",)
        statements.append(PolicyStatement(
            f"AzLossLambda{index}",
            ("lambda:GetFunctionConfiguration", "lambda:ListTags") + (
                ("lambda:UpdateFunctionConfiguration", "lambda:TagResource",
                 "lambda:UntagResource") if pin else ()),
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
            (f"arn:aws:ecs:{region}:{account_id}:service/*",),
        ))
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
                tuple(f"arn:aws:autoscaling:{region}:{account_id}:autoScalingGroup:*:"
                      f"autoScalingGroupName/{name}"
                      for name in (targets.autoscaling_groups or ["*"])),
            ),
        ]
    if targets.load_balancers or by_tags:
        statements.append(PolicyStatement(
            "AzLossElbDescribe", ("elasticloadbalancing:DescribeLoadBalancers",
                                  "elasticloadbalancing:DescribeTags"), ("*",)))
    if (targets.load_balancers or by_tags) and pin:
        statements += [
            PolicyStatement(
                f"AzLossElb{index}",
                ("elasticloadbalancing:SetSubnets", "elasticloadbalancing:AddTags",
                 "elasticloadbalancing:RemoveTags"),
                (f"arn:aws:elasticloadbalancing:{region}:{account_id}:loadbalancer/*",),
            ),
        ]
    if not pin:
        statements += [
            # The lock tag on each subnet of the lost AZ that gets the deny-all ACL.
            PolicyStatement("AzLossSubnetLock", ("ec2:CreateTags", "ec2:DeleteTags"),
                            (f"{ec2}:subnet/*",)),
            PolicyStatement("AzLossBlackholeDescribe", ("ec2:DescribeNetworkAcls",), ("*",)),
            PolicyStatement(
                "AzLossBlackhole",
                ("ec2:CreateNetworkAcl", "ec2:CreateNetworkAclEntry",
                 "ec2:ReplaceNetworkAclAssociation", "ec2:DeleteNetworkAcl", "ec2:CreateTags"),
                (f"{ec2}:network-acl/*", f"{ec2}:vpc/*"),
            ),
        ]
    return statements
