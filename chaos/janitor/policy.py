"""The janitor's IAM: its execution role (least privilege) and the role Scheduler assumes.

The execution role may do what a restore of every fault kind does, and nothing a run does
besides: read and update functions (layers, environment, VPC placement, aliases, the
fault version), ECS services, Auto Scaling groups and load balancers back to their
journaled placement, put subnets back on their network ACL and delete the run's ACL,
remove lock tags; read and write the journals under one S3 location; delete the runs'
schedules and create its own follow-ups; write its logs. It cannot publish layers, create
ACLs or tag anything. The resources it restores are any run's, matched by pattern within
the account and Region - and it may change one only while it carries a run's lock tag
(`gameday:run-id`, any value: the janitor cannot know run ids in advance), remove gameday:*
tag keys only, and delete only a locked ACL and a version of a locked function. A journal
naming a resource no run locked gets nothing done there.

EventBridge Scheduler needs "permission to invoke its target API operation on your behalf"
through an execution role it assumes (Invoke a Lambda function on a schedule, https://
docs.aws.amazon.com/lambda/latest/dg/with-eventbridge-scheduler.html; Setting up
EventBridge Scheduler, "Set up the execution role", https://docs.aws.amazon.com/scheduler/
latest/UserGuide/setting-up.html): lambda:InvokeFunction on the janitor only, trusted by
scheduler.amazonaws.com for this account's schedules only (aws:SourceAccount).
"""

from __future__ import annotations

from typing import Any

from chaos.aws.partition import arn, partition_of_region, via_lambda
from chaos.faults.base import REMOVED_SUBNET_TAG_PREFIX
from chaos.janitor import FUNCTION_NAME, ROLE_NAME, SCHEDULER_ROLE_NAME
from chaos.janitor.timer import (
    NAME_PREFIX,
    dead_letter_arn,
    function_arn,
    schedule_arn,
    scheduler_role_arn,
)
from chaos.journal import JournalLocation
from chaos.journal.permissions import revision_statements, version_statements
from chaos.policy import PolicyStatement, locked, only_tag_keys, policy_document


def janitor_statements(
    region: str, account_id: str, journal: JournalLocation
) -> list[PolicyStatement]:
    """The execution role's statements."""

    def ours(service: str, resource: str) -> str:
        return arn(service, region, account_id, resource)

    functions = (ours("lambda", "function:*"), ours("lambda", "function:*:*"))
    partition = functions[0].split(":")[1]
    subnets, acls = ours("ec2", "subnet/*"), ours("ec2", "network-acl/*")
    return [
        PolicyStatement(
            "ReadFunctions",
            (
                "lambda:GetFunction",
                "lambda:GetFunctionConfiguration",
                "lambda:ListTags",
                "lambda:GetAlias",
                "lambda:ListAliases",
                "lambda:ListVersionsByFunction",
            ),
            functions,
        ),
        # Changes only to a function some run locked: aws:ResourceTag is a condition key of
        # Lambda's function, function version and function alias resources ("Actions,
        # resources, and condition keys for AWS Lambda", https://docs.aws.amazon.com/
        # service-authorization/latest/reference/list_awslambda.html).
        PolicyStatement(
            "RestoreFunctions",
            ("lambda:UpdateFunctionConfiguration", "lambda:UpdateAlias"),
            functions,
            locked(),
        ),
        PolicyStatement(
            "UnlockFunctions", ("lambda:UntagResource",), functions[:1], locked() + only_tag_keys()
        ),
        # ...and its fault version deleted, by its number as Qualifier. Lambda authorizes
        # against FunctionName and Qualifier, and `function:NAME:*` "accepts any qualified
        # ARN but denies requests that reference the unqualified ARN" ("Fine-tuning the
        # Resources and Conditions sections of policies", https://docs.aws.amazon.com/
        # lambda/latest/dg/lambda-api-permissions-ref.html): a version, never a function.
        PolicyStatement(
            "RestoreFaultVersions", ("lambda:DeleteFunction",), functions[1:], locked()
        ),
        # UpdateFunctionConfiguration needs GetLayerVersion on every layer it sends (the
        # function's own layers, any account's), and the function's environment key.
        PolicyStatement(
            "RestoreFunctionLayers",
            ("lambda:GetLayerVersion",),
            (arn("lambda", region, "*", "layer:*:*"),),
        ),
        PolicyStatement(
            "RestoreFunctionEnvironmentKey",
            ("kms:Decrypt", "kms:Encrypt"),
            (ours("kms", "key/*"),),
            (("StringEquals", "kms:ViaService", via_lambda(region)),),
        ),
        # Describe calls of EC2, Auto Scaling and ELB support no resource-level permission;
        # placing a function back in its subnets also needs the caller to read the VPC.
        PolicyStatement(
            "RestoreDescribe",
            (
                "ec2:DescribeAvailabilityZones",
                "ec2:DescribeSubnets",
                "ec2:DescribeNetworkAcls",
                "ec2:DescribeSecurityGroups",
                "ec2:DescribeVpcs",
                "autoscaling:DescribeAutoScalingGroups",
                "elasticloadbalancing:DescribeLoadBalancers",
                "elasticloadbalancing:DescribeTags",
            ),
            ("*",),
        ),
        # aws:ResourceTag on ECS's service, Auto Scaling's autoScalingGroup, ELB's load
        # balancers, EC2's subnet and network-acl; aws:TagKeys on their tag removals
        # (Service Authorization Reference: list_amazonelasticcontainerservice.html,
        # list_amazonec2autoscaling.html, list_awselasticloadbalancing.html, list_amazonec2
        # .html).
        PolicyStatement("ReadEcsServices", ("ecs:DescribeServices",), (ours("ecs", "service/*"),)),
        PolicyStatement(
            "RestoreEcsServices", ("ecs:UpdateService",), (ours("ecs", "service/*"),), locked()
        ),
        PolicyStatement(
            "UnlockEcsServices",
            ("ecs:UntagResource",),
            (ours("ecs", "service/*"),),
            locked() + only_tag_keys(),
        ),
        # Where a service's tasks run, until its capacity is back.
        PolicyStatement(
            "RestoreEcsTaskList", ("ecs:ListTasks",), (ours("ecs", "container-instance/*"),)
        ),
        PolicyStatement("RestoreEcsTasks", ("ecs:DescribeTasks",), (ours("ecs", "task/*"),)),
        PolicyStatement(
            "RestoreAutoScalingGroups",
            ("autoscaling:UpdateAutoScalingGroup",),
            (ours("autoscaling", "autoScalingGroup:*:autoScalingGroupName/*"),),
            locked(),
        ),
        PolicyStatement(
            "UnlockAutoScalingGroups",
            ("autoscaling:DeleteTags",),
            (ours("autoscaling", "autoScalingGroup:*:autoScalingGroupName/*"),),
            locked() + only_tag_keys(),
        ),
        PolicyStatement(
            "RestoreLoadBalancers",
            ("elasticloadbalancing:SetSubnets",),
            (ours("elasticloadbalancing", "loadbalancer/*"),),
            locked(),
        ),
        PolicyStatement(
            "UnlockLoadBalancers",
            ("elasticloadbalancing:RemoveTags",),
            (ours("elasticloadbalancing", "loadbalancer/*"),),
            locked() + only_tag_keys(),
        ),
        # ReplaceNetworkAclAssociation is authorized against the subnet and the ACL: the
        # subnet must be locked; the ACL it goes back to is the subnet's own, not a run's
        # (the restore checks it against the subnet's record), so that side is open.
        PolicyStatement(
            "RestoreNetworkAcls", ("ec2:ReplaceNetworkAclAssociation",), (subnets,), locked()
        ),
        PolicyStatement(
            "RestoreNetworkAclsAclSide", ("ec2:ReplaceNetworkAclAssociation",), (acls,)
        ),
        PolicyStatement("DeleteRunAcls", ("ec2:DeleteNetworkAcl",), (acls,), locked()),
        PolicyStatement(
            "RestoreSubnetLocks", ("ec2:DeleteTags",), (subnets,), locked() + only_tag_keys()
        ),
        # A pin marks the subnets it removes (gameday:removed-by:RUN) instead of locking them.
        PolicyStatement(
            "RestoreSubnetMarks",
            ("ec2:DeleteTags",),
            (subnets,),
            (
                ("ForAllValues:StringLike", "aws:TagKeys", f"{REMOVED_SUBNET_TAG_PREFIX}*"),
                ("Null", "aws:TagKeys", "false"),
            ),
        ),
        *revision_statements(journal, partition),
        # The runs' schedules (deleted on restore) and its own follow-ups.
        PolicyStatement(
            "JanitorSchedules",
            ("scheduler:CreateSchedule", "scheduler:DeleteSchedule"),
            (schedule_arn(region, account_id, f"{NAME_PREFIX}*"),),
        ),
        PolicyStatement(
            "JanitorSchedulerRole",
            ("iam:PassRole",),
            (scheduler_role_arn(region, account_id),),
            (("StringEquals", "iam:PassedToService", "scheduler.amazonaws.com"),),
        ),
        PolicyStatement(
            "JanitorLogs",
            ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"),
            (ours("logs", f"log-group:/aws/lambda/{FUNCTION_NAME}:*"),),
        ),
    ]


def janitor_policy(
    region: str, account_id: str, journal: JournalLocation, dead_letter_arn: str | None = None
) -> dict[str, Any]:
    return policy_document(
        janitor_statements(region, account_id, journal)
        + durability_statements(region, journal, dead_letter_arn)
    )


def durability_statements(
    region: str, journal: JournalLocation, dead_letter_arn: str | None
) -> list[PolicyStatement]:
    """What makes the janitor durable and its journal checked (issue 20), apart from the
    restore statements: reading each revision as first written on a versioned bucket (an
    overwrite is then seen, and undone), and the on-failure destination of its own failed
    invocations, which Lambda sends with the function's execution role ("Adding a
    destination", https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-
    records.html)."""
    statements = version_statements(journal, partition_of_region(region))
    if dead_letter_arn:
        statements.append(
            PolicyStatement("JanitorFailures", ("sqs:SendMessage",), (dead_letter_arn,))
        )
    return statements


def deployer_statements(
    region: str, account_id: str, journal: JournalLocation
) -> list[PolicyStatement]:
    """What `gameday janitor deploy` calls (chaos.janitor.deploy), on its own resources only:
    the dead-letter queue, the two roles and their inline policies, the function and its
    asynchronous invocation settings; and, to say what the journal bucket enforces, the
    bucket's versioning and policy (read, never changed). Creating the function, or changing
    its role, passes the execution role to Lambda. sts:GetCallerIdentity needs no
    permission. Resource types: "Amazon SQS API permissions: Actions and resource reference"
    (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/
    sqs-api-permissions-reference.html), "Actions, resources, and condition keys for AWS
    Lambda" / "... for AWS Identity and Access Management (IAM)" / "... for Amazon S3"
    (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awslambda.html,
    list_awsidentityandaccessmanagementiam.html, list_amazons3.html)."""
    partition = partition_of_region(region)
    roles = tuple(
        f"arn:{partition}:iam::{account_id}:role/{name}"
        for name in (ROLE_NAME, SCHEDULER_ROLE_NAME)
    )
    return [
        PolicyStatement(
            "DeployDeadLetterQueue",
            (
                "sqs:GetQueueUrl",
                "sqs:CreateQueue",
                "sqs:GetQueueAttributes",
                "sqs:SetQueueAttributes",
            ),
            (dead_letter_arn(region, account_id),),
        ),
        PolicyStatement(
            "DeployRoles",
            (
                "iam:GetRole",
                "iam:CreateRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:GetRolePolicy",
                "iam:PutRolePolicy",
            ),
            roles,
        ),
        PolicyStatement(
            "DeployPassExecutionRole",
            ("iam:PassRole",),
            roles[:1],
            (("StringEquals", "iam:PassedToService", "lambda.amazonaws.com"),),
        ),
        PolicyStatement(
            "DeployFunction",
            (
                "lambda:GetFunction",
                "lambda:GetFunctionConfiguration",
                "lambda:CreateFunction",
                "lambda:UpdateFunctionCode",
                "lambda:UpdateFunctionConfiguration",
                "lambda:GetFunctionEventInvokeConfig",
                "lambda:PutFunctionEventInvokeConfig",
            ),
            (function_arn(region, account_id),),
        ),
        PolicyStatement(
            "DeployJournalBucketReport",
            ("s3:GetBucketVersioning", "s3:GetBucketPolicy"),
            (f"arn:{partition}:s3:::{journal.bucket}",),
        ),
    ]


def deployer_policy(region: str, account_id: str, journal: JournalLocation) -> dict[str, Any]:
    """`gameday janitor iam-policy`: the least-privilege policy of whoever deploys it."""
    return policy_document(deployer_statements(region, account_id, journal))


def scheduler_policy(function_arn: str, dead_letter_arn: str | None = None) -> dict[str, Any]:
    """What EventBridge Scheduler may do with the role: invoke the janitor and, when it
    cannot, put the event in the janitor's dead-letter queue ("To deliver dead-letter events
    to Amazon SQS, your schedule's execution role needs" sqs:SendMessage, Configuring a
    schedule's dead-letter queue, https://docs.aws.amazon.com/scheduler/latest/UserGuide/
    configuring-schedule-dlq.html); nothing else."""
    statements = [
        PolicyStatement(
            "InvokeJanitor", ("lambda:InvokeFunction",), (function_arn, f"{function_arn}:*")
        )
    ]
    if dead_letter_arn:
        statements.append(
            PolicyStatement("DeliverDeadLetters", ("sqs:SendMessage",), (dead_letter_arn,))
        )
    return policy_document(statements)


def lambda_trust_policy() -> dict[str, Any]:
    return trust_policy("lambda.amazonaws.com")


def scheduler_trust_policy(account_id: str) -> dict[str, Any]:
    return trust_policy(
        "scheduler.amazonaws.com", {"StringEquals": {"aws:SourceAccount": account_id}}
    )


def trust_policy(service: str, condition: dict[str, Any] | None = None) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if condition:
        statement["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [statement]}
