"""`gameday janitor deploy` is idempotent, the janitor's role is least privilege, and so is
the policy of whoever deploys it (`gameday janitor iam-policy`).

The policy is enforced per call as in test_iam_policy (moto's IAM enforcement rejects
Lambda's REST calls): a botocore hook on every client the toolkit creates checks each
call's IAM action and resource ARN against the janitor's policy with IAM's wildcard
matching, and denies it as AWS would. A dead run with every fault kind applied (lambda-
extension on an alias, a function target's layer, az-loss pin of a function, an ECS
service, an Auto Scaling group and a load balancer, az-loss blackhole) is restored by the
janitor under that policy; every action of the policy is called, and without any one of
them the janitor cannot finish. The deployer's policy is enforced the same way on a first
deploy and on a deploy over drift (every resource there, each differing): every action is
called, and without any one of them the deploy fails or cannot say what the journal bucket
enforces.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chaos.aws import rate_limit
from chaos.aws.clients import AwsClients
from chaos.cli import main
from chaos.janitor import DEAD_LETTER_QUEUE, ROLE_NAME
from chaos.janitor.deploy import deploy_janitor
from chaos.janitor.handler import sweep
from chaos.janitor.package import JanitorPackage, build_janitor_package
from chaos.janitor.policy import deployer_policy, janitor_policy, lambda_trust_policy
from chaos.janitor.timer import dead_letter_arn, function_arn
from chaos.journal import JournalLocation
from tests.integration.conftest import ACCOUNT_ID, REGION, create_function
from tests.integration.iam_conditions import condition_holds, context_for
from tests.integration.janitor_support import (
    JOURNAL_URI,
    STALE_S,
    DeadRun,
    az_loss,
    die,
    janitor_environment,
    journal_store,
    lambda_extension,
    rewrite_history,
    start_run,
)
from tests.integration.test_az_loss import capacity_follows_subnets
from tests.integration.test_iam_policy import association_subnet

JANITOR_ARN = function_arn(REGION, ACCOUNT_ID)
DEAD_LETTERS = dead_letter_arn(REGION, ACCOUNT_ID)
LOCATION = JournalLocation.parse(JOURNAL_URI)
#: Called by Lambda on the function's behalf, not by its code: logs (the runtime writes
#: them) and the environment's KMS key (Lambda decrypts with the caller's grant).
ALLOW_ALL: dict[str, Any] = {"Statement": [{"Action": "*", "Resource": "*"}]}
NOT_CALLED_BY_THE_CODE = {
    "logs:createloggroup",
    "logs:createlogstream",
    "logs:putlogevents",
    "kms:decrypt",
    "kms:encrypt",
    # the on-failure destination: Lambda sends the record itself
    "sqs:sendmessage",
}
#: Read to check the journal, not to restore (GetObjectVersion only once a revision was
#: overwritten): without them the janitor restores from the current objects, only blind to
#: an overwritten revision (tests/integration/test_janitor_trust.py shows what they catch).
INTEGRITY_ONLY = {"s3:listbucketversions", "s3:getobjectversion"}


# -- deploy ---------------------------------------------------------------------------


def deploy(capsys: pytest.CaptureFixture[str], journal: str = JOURNAL_URI) -> list[str]:
    code = main(["janitor", "deploy", "--journal", journal, "--region", REGION])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out.splitlines()


@pytest.mark.usefixtures("aws")
def test_deploy_creates_then_reuses_everything(capsys: pytest.CaptureFixture[str]) -> None:
    journal_store()  # the bucket, unversioned
    package = build_janitor_package()
    first = deploy(capsys)
    assert (
        f"janitor package: {len(package.files)} files, {len(package.zip_bytes)} bytes, "
        f"CodeSha256 {package.code_sha256}" in first
    )
    assert "role gameday-janitor: created (arn:aws:iam::123456789012:role/gameday-janitor)" in first
    assert "role policy gameday-janitor: created" in first
    assert "role policy gameday-janitor-scheduler: created" in first
    assert f"function gameday-janitor: created (CodeSha256 {package.code_sha256})" in first
    assert f"dead-letter queue gameday-janitor-dead-letters: created ({DEAD_LETTERS})" in first
    assert (
        "function gameday-janitor: asynchronous invocation created (2 retries, then "
        "gameday-janitor-dead-letters)" in first
    )
    assert (
        "journal bucket gameday-journal: versioning not enabled: an overwritten revision "
        "is lost (enable it: aws s3api put-bucket-versioning)" in first
    )
    assert any(
        line.startswith(
            "journal bucket gameday-journal: no bucket policy requires conditional writes"
        )
        for line in first
    )

    second = deploy(capsys)
    assert [line for line in second if "created" in line or "updated" in line] == []
    assert "role gameday-janitor: reused (arn:aws:iam::123456789012:role/gameday-janitor)" in second
    assert "role policy gameday-janitor-scheduler: reused" in second
    assert (
        f"function gameday-janitor: code reused (same CodeSha256 {package.code_sha256})" in second
    )
    assert "function gameday-janitor: configuration reused" in second
    assert f"dead-letter queue gameday-janitor-dead-letters: reused ({DEAD_LETTERS})" in second
    assert (
        "function gameday-janitor: asynchronous invocation reused (2 retries, then "
        "gameday-janitor-dead-letters)" in second
    )

    lambda_ = boto3.client("lambda", region_name=REGION)
    config = lambda_.get_function_configuration(FunctionName="gameday-janitor")
    assert config["CodeSha256"] == package.code_sha256
    assert (config["Handler"], config["Runtime"], config["Timeout"]) == (
        "chaos.janitor.handler.handler",
        "python3.12",
        900,
    )
    document = boto3.client("iam").get_role_policy(
        RoleName="gameday-janitor", PolicyName="gameday-janitor"
    )
    assert document["PolicyDocument"] == janitor_policy(REGION, ACCOUNT_ID, LOCATION, DEAD_LETTERS)
    assert config["Environment"]["Variables"]["GAMEDAY_JANITOR_DEAD_LETTER_ARN"] == DEAD_LETTERS
    failures = lambda_.get_function_event_invoke_config(FunctionName="gameday-janitor")
    assert failures["DestinationConfig"]["OnFailure"]["Destination"] == DEAD_LETTERS
    trust = boto3.client("iam").get_role(RoleName="gameday-janitor-scheduler")["Role"]
    assert trust["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "scheduler.amazonaws.com"
    }


@pytest.mark.usefixtures("aws")
def test_redeploy_changes_only_what_differs(capsys: pytest.CaptureFixture[str]) -> None:
    deploy(capsys)
    moved = deploy(capsys, "s3://gameday-journal/elsewhere/")
    assert "role policy gameday-janitor: updated" in moved
    assert "function gameday-janitor: configuration updated (Environment)" in moved
    assert "role policy gameday-janitor-scheduler: reused" in moved

    from chaos.janitor.deploy import deploy_janitor
    from chaos.janitor.package import JanitorPackage

    package = build_janitor_package()
    changed = JanitorPackage(package.zip_bytes + b"\0", package.files)
    lines: list[str] = []
    deploy_janitor(
        AwsClients(region=REGION), ACCOUNT_ID, LOCATION, say=lines.append, package=changed
    )
    assert (
        f"function gameday-janitor: code updated (CodeSha256 {package.code_sha256} -> "
        f"{changed.code_sha256})" in lines
    )


@pytest.mark.usefixtures("aws")
def test_deploy_says_what_the_journal_bucket_enforces(capsys: pytest.CaptureFixture[str]) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="gameday-journal")
    s3.put_bucket_versioning(
        Bucket="gameday-journal", VersioningConfiguration={"Status": "Enabled"}
    )
    deny = {
        "Sid": "GamedayJournalRevisionsAreNeverOverwritten",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::gameday-journal/runs/*",
        "Condition": {"Null": {"s3:if-none-match": "true"}},
    }
    for resource, enforced in (
        ("arn:aws:s3:::gameday-journal/other/*", False),
        ("arn:aws:s3:::gameday-journal/runs/*", True),
        ("arn:aws:s3:::gameday-journal/*", True),
    ):
        s3.put_bucket_policy(
            Bucket="gameday-journal",
            Policy=json.dumps(
                {"Version": "2012-10-17", "Statement": [{**deny, "Resource": resource}]}
            ),
        )
        lines = deploy(capsys)
        assert (
            "journal bucket gameday-journal: versioning enabled (an overwritten or deleted "
            "revision stays readable)" in lines
        )
        said = (
            "journal bucket gameday-journal: its policy denies writes without "
            "If-None-Match under runs/: a revision cannot be overwritten"
        )
        assert (said in lines) is enforced, (resource, lines)


def test_deploy_needs_a_journal_location(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GAMEDAY_JOURNAL", raising=False)
    assert main(["janitor", "deploy", "--region", REGION]) == 2
    assert "--journal s3://BUCKET/PREFIX is required" in capsys.readouterr().err


# -- least privilege ------------------------------------------------------------------


def allowed(
    policy: dict[str, Any],
    action: str,
    resource: str,
    context: Callable[[str], Any] = lambda key: None,
) -> bool:
    for statement in policy["Statement"]:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        resources = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        if (
            any(fnmatch.fnmatchcase(action.lower(), item.lower()) for item in actions)
            and any(fnmatch.fnmatchcase(resource, item) for item in resources)
            and condition_holds(statement.get("Condition") or {}, context)
        ):
            return True
    return False


def arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{resource}"


def ec2_arn(resource_id: str) -> str:
    kinds = {"acl-": "network-acl", "subnet-": "subnet", "vpc-": "vpc", "sg-": "security-group"}
    kind = next(kind for prefix, kind in kinds.items() if resource_id.startswith(prefix))
    return arn("ec2", f"{kind}/{resource_id}")


def lambda_resource(operation: str, params: dict[str, Any]) -> str:
    if "Resource" in params:
        return str(params["Resource"])
    if "FunctionName" in params:
        name = str(params["FunctionName"])
        function = name if name.startswith("arn:") else arn("lambda", f"function:{name}")
        # Lambda authorizes against FunctionName and Qualifier ("Fine-tuning the Resources
        # and Conditions sections of policies", https://docs.aws.amazon.com/lambda/latest/
        # dg/lambda-api-permissions-ref.html).
        return f"{function}:{params['Qualifier']}" if params.get("Qualifier") else function
    if operation == "GetLayerVersion":
        return arn("lambda", f"layer:{params['LayerName']}:{params['VersionNumber']}")
    return "*"


def checks_of(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The (IAM action, resource ARN) pairs AWS authorizes for one API call."""
    action = f"{service}:{operation}"
    if service == "lambda":
        checks = [(action, lambda_resource(operation, params))]
        if "Role" in params:  # CreateFunction, UpdateFunctionConfiguration pass the role
            checks.append(("iam:PassRole", str(params["Role"])))
        if operation == "UpdateFunctionConfiguration":
            checks += [("lambda:GetLayerVersion", layer) for layer in params.get("Layers", [])]
            if "VpcConfig" in params:
                checks += [
                    (f"ec2:{name}", "*")
                    for name in ("DescribeSecurityGroups", "DescribeSubnets", "DescribeVpcs")
                ]
        return checks
    if service == "ec2":
        if operation.startswith("Describe"):
            return [(action, "*")]
        if operation in ("CreateTags", "DeleteTags"):
            return [(action, ec2_arn(item)) for item in params["Resources"]]
        if operation == "ReplaceNetworkAclAssociation":  # the ACL and the subnet
            return [
                (action, ec2_arn(params["NetworkAclId"])),
                (action, ec2_arn(association_subnet(params["AssociationId"]))),
            ]
        if "NetworkAclId" in params:  # DeleteNetworkAcl
            return [(action, ec2_arn(params["NetworkAclId"]))]
        return [(action, "*")]
    if service == "ecs":
        cluster = str(params.get("cluster", "default")).split("/")[-1]
        if "resourceArn" in params:  # the tag calls
            return [(action, str(params["resourceArn"]))]
        if operation == "ListTasks":
            return [(action, arn("ecs", f"container-instance/{cluster}/*"))]
        if operation == "DescribeTasks":
            return [(action, task) for task in params["tasks"]]
        services = params.get("services") or ([params["service"]] if "service" in params else [])
        return [
            (
                action,
                item if str(item).startswith("arn:") else arn("ecs", f"service/{cluster}/{item}"),
            )
            for item in services
        ] or [(action, "*")]
    if service == "autoscaling":
        names = (
            [tag["ResourceId"] for tag in params["Tags"]]
            if "Tags" in params
            else [params["AutoScalingGroupName"]]
            if "AutoScalingGroupName" in params
            else []
        )
        if operation.startswith("Describe") or not names:
            return [(action, "*")]
        return [
            (action, arn("autoscaling", f"autoScalingGroup:0:autoScalingGroupName/{name}"))
            for name in names
        ]
    if service == "elasticloadbalancing":
        balancers = params.get("ResourceArns") or (
            [params["LoadBalancerArn"]] if "LoadBalancerArn" in params else []
        )
        if operation.startswith("Describe") or not balancers:
            return [(action, "*")]
        return [(action, str(item)) for item in balancers]
    if service == "s3":
        if operation == "ListObjectsV2":
            return [("s3:ListBucket", f"arn:aws:s3:::{params['Bucket']}")]
        if operation == "ListObjectVersions":
            return [("s3:ListBucketVersions", f"arn:aws:s3:::{params['Bucket']}")]
        if operation == "GetObject" and params.get("VersionId"):
            return [("s3:GetObjectVersion", f"arn:aws:s3:::{params['Bucket']}/{params['Key']}")]
        if "Key" in params:
            return [(action, f"arn:aws:s3:::{params['Bucket']}/{params['Key']}")]
        return [(action, f"arn:aws:s3:::{params.get('Bucket', '*')}")]
    if service == "iam":
        return [(action, f"arn:aws:iam::{ACCOUNT_ID}:role/{params['RoleName']}")]
    if service == "sqs":  # the queue, by name or URL (https://sqs.R.amazonaws.com/ACCOUNT/NAME)
        name = params.get("QueueName") or str(params["QueueUrl"]).rstrip("/").split("/")[-1]
        return [(action, arn("sqs", str(name)))]
    if service == "scheduler":
        schedule = arn(
            "scheduler", f"schedule/{params.get('GroupName', 'default')}/{params['Name']}"
        )
        checks = [(action, schedule)]
        if "Target" in params:  # Create/UpdateSchedule pass the role to Scheduler
            checks.append(("iam:PassRole", str(params["Target"]["RoleArn"])))
        return checks
    return [(action, "*")]


class Enforcer:
    def __init__(self) -> None:
        self.policy: dict[str, Any] = ALLOW_ALL
        self.calls: list[tuple[str, str]] = []

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        service = model.service_model.signing_name
        for action, resource in checks_of(service, model.name, params):
            self.calls.append((action.lower(), resource))
            extra = (
                {"iam:PassedToService": f"{service}.amazonaws.com"}
                if (action == "iam:PassRole")
                else {}
            )
            context = context_for(service, model.name, params, resource, REGION, extra)
            if action != "sts:GetCallerIdentity" and not allowed(
                self.policy, action, resource, context
            ):
                raise ClientError(
                    {
                        "Error": {
                            "Code": "AccessDeniedException",
                            "Message": f"not authorized to perform {action} on {resource}",
                        }
                    },
                    model.name,
                )


@pytest.fixture
def enforce(monkeypatch: pytest.MonkeyPatch) -> Enforcer:
    enforcer = Enforcer()
    original = AwsClients.client

    def client(self: AwsClients, service: str) -> Any:
        created = original(self, service)
        if not getattr(created, "_janitor_policy_enforced", False):
            created.meta.events.register("before-parameter-build.*.*", enforcer)
            created._janitor_policy_enforced = True
        return created

    monkeypatch.setattr(AwsClients, "client", client)
    # Dozens of fake accounts: every session shares one loader of botocore's models (loading
    # them again for each session would be most of this test's time).
    loader = botocore.loaders.create_loader()
    new_session = boto3.Session

    def session(*args: Any, **kwargs: Any) -> boto3.Session:
        created = new_session(*args, **kwargs)
        created._session.register_component("data_loader", loader)
        return created

    monkeypatch.setattr(boto3, "Session", session)
    # ... and Lambda's client-side pacing (15 requests/s, as AWS) does not apply to moto.
    monkeypatch.setattr(rate_limit, "CONTROL_PLANE_RPS", 10_000.0)
    monkeypatch.setattr(rate_limit, "_BUCKETS", {})
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    janitor_environment(monkeypatch)
    return enforcer


@dataclass
class World:
    subnets: list[str]  # one per AZ ID, deliberately not in AZ order
    security_group: str


def build_world() -> World:
    """A VPC and the targets of every kind, made with plain boto3 (no policy enforced)."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.40.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.40.{index}.0/24", AvailabilityZoneId=az_id)[
            "Subnet"
        ]["SubnetId"]
        for index, az_id in enumerate(("use1-az3", "use1-az1", "use1-az2"))
    ]
    group = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc)["GroupId"]
    create_function("api", VpcConfig={"SubnetIds": subnets, "SecurityGroupIds": [group]})
    lambda_ = boto3.client("lambda", region_name=REGION)
    layer = lambda_.publish_layer_version(
        LayerName="their-layer", Content={"ZipFile": b"PK\x05\x06" + b"\x00" * 18}
    )
    create_function("orders", Layers=[layer["LayerVersionArn"]])
    lambda_.publish_version(FunctionName="orders")
    lambda_.create_alias(FunctionName="orders", Name="live", FunctionVersion="1")
    ecs = boto3.client("ecs", region_name=REGION)
    ecs.create_cluster(clusterName="shop")
    ecs.register_task_definition(
        family="web",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "web", "image": "web:1", "memory": 128}],
    )
    ecs.create_service(
        cluster="shop",
        serviceName="web",
        taskDefinition="web",
        desiredCount=2,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": subnets,
                "securityGroups": [group],
                "assignPublicIp": "DISABLED",
            }
        },
    )
    ec2.create_launch_template(
        LaunchTemplateName="workers-lt",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
    )
    boto3.client("autoscaling", region_name=REGION).create_auto_scaling_group(
        AutoScalingGroupName="workers",
        LaunchTemplate={"LaunchTemplateName": "workers-lt"},
        MinSize=0,
        MaxSize=3,
        DesiredCapacity=0,
        VPCZoneIdentifier=",".join(subnets),
    )
    boto3.client("elbv2", region_name=REGION).create_load_balancer(
        Name="edge", Subnets=subnets, Type="application"
    )
    return World(subnets, group)


def every_fault_kind(tmp_path: Path, run_id: str) -> DeadRun:
    """A run that applied a change of every kind the janitor restores, then died."""
    run = start_run(tmp_path, run_id)
    az_loss(run, {"lambda": ["api"]}, mode="blackhole")
    az_loss(
        run,
        {
            "lambda": ["api"],
            "ecs_services": ["shop/web"],
            "autoscaling_groups": ["workers"],
            "load_balancers": ["edge"],
        },
    )
    lambda_extension(run, ["orders:live"])
    # As if it died between PublishVersion and journaling the version's number.
    published = next(
        entry for entry in run.journal.entries if entry.intended.get("action") == "publish-version"
    )
    published.intended.pop("version")
    rewrite_history(run)  # its journal never held the number
    die(run, heartbeat_age_s=10 * STALE_S)
    return run


def world_state() -> str:
    """Everything a run may change, as the AWS API shows it."""
    ec2 = boto3.client("ec2", region_name=REGION)
    lambda_ = boto3.client("lambda", region_name=REGION)
    functions = {}
    for name in ("orders", "api"):
        config = lambda_.get_function_configuration(FunctionName=name)
        functions[name] = [
            config.get("Layers"),
            config.get("Environment"),
            config.get("VpcConfig", {}).get("SubnetIds"),
            lambda_.list_tags(Resource=config["FunctionArn"])["Tags"],
        ]
    alias = lambda_.get_alias(FunctionName="orders", Name="live")
    versions = [
        item["Version"]
        for item in lambda_.list_versions_by_function(FunctionName="orders")["Versions"]
    ]
    ecs = boto3.client("ecs", region_name=REGION)
    [service] = ecs.describe_services(cluster="shop", services=["web"])["services"]
    [group] = boto3.client("autoscaling", region_name=REGION).describe_auto_scaling_groups(
        AutoScalingGroupNames=["workers"]
    )["AutoScalingGroups"]
    elbv2 = boto3.client("elbv2", region_name=REGION)
    [balancer] = elbv2.describe_load_balancers(Names=["edge"])["LoadBalancers"]
    acls = ec2.describe_network_acls()["NetworkAcls"]
    return json.dumps(
        {
            "functions": functions,
            "alias": [
                alias["FunctionVersion"],
                (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {},
            ],
            "versions": versions,
            "ecs": [
                service["networkConfiguration"],
                ecs.list_tags_for_resource(resourceArn=service["serviceArn"]).get("tags"),
            ],
            "asg": [group["VPCZoneIdentifier"], sorted(tag["Key"] for tag in group["Tags"])],
            "elb": [
                [zone["SubnetId"] for zone in balancer["AvailabilityZones"]],
                elbv2.describe_tags(ResourceArns=[balancer["LoadBalancerArn"]])["TagDescriptions"][
                    0
                ]["Tags"],
            ],
            "acls": sorted(
                (association["SubnetId"], acl["NetworkAclId"])
                for acl in acls
                for association in acl["Associations"]
            ),
            "acl_ids": sorted(acl["NetworkAclId"] for acl in acls),
            "subnet_tags": sorted(
                (subnet["SubnetId"], tag["Key"])
                for subnet in ec2.describe_subnets()["Subnets"]
                for tag in subnet.get("Tags", [])
            ),
        },
        sort_keys=True,
        default=str,
    )


@contextmanager
def fake_account() -> Iterator[World]:
    """A fresh moto account with a VPC, ECS tasks and ASG instances placed as AWS does."""
    with mock_aws(), capacity_follows_subnets():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=LOCATION.bucket)
        # Versioned, as docs/janitor.md recommends: the janitor reads each revision's
        # first version.
        s3.put_bucket_versioning(
            Bucket=LOCATION.bucket, VersioningConfiguration={"Status": "Enabled"}
        )
        yield build_world()


def janitor_restores(
    enforcer: Enforcer, tmp_path: Path, policy: dict[str, Any], run_id: str
) -> tuple[bool, str]:
    """In a fresh fake account: is the dead run restored by the janitor under `policy`?"""
    with fake_account():
        enforcer.policy = ALLOW_ALL
        run = every_fault_kind(tmp_path, run_id)
        enforcer.policy = policy
        try:
            result = sweep(run.event, own_arn=JANITOR_ARN, region=REGION)
        except ClientError as error:
            return False, f"raised {error}"
        finally:
            enforcer.policy = ALLOW_ALL
        return result.action == "restored" and result.failed == 0, str(result.to_dict())


def janitor_defers(enforcer: Enforcer, tmp_path: Path, policy: dict[str, Any]) -> bool:
    """A live run: the janitor schedules a follow-up under `policy`?"""
    with fake_account():
        enforcer.policy = ALLOW_ALL
        run = start_run(tmp_path, "20240501T100000Z-live-ffffff")
        lambda_extension(run, ["orders"])
        die(run, heartbeat_age_s=1.0)
        enforcer.policy, enforcer.calls = policy, []
        try:
            return sweep(run.event, own_arn=JANITOR_ARN, region=REGION).action == "deferred"
        except ClientError:
            return False
        finally:
            enforcer.policy = ALLOW_ALL


@pytest.mark.usefixtures("gameday_home")
def test_the_janitor_policy_is_sufficient_and_every_action_necessary(
    tmp_path: Path, enforce: Enforcer
) -> None:
    policy = janitor_policy(REGION, ACCOUNT_ID, LOCATION, DEAD_LETTERS)
    with fake_account():
        before = world_state()
        run = every_fault_kind(tmp_path, "20240501T100000Z-every-kind-aaaaaa")
        assert world_state() != before
        enforce.policy, enforce.calls = policy, []
        result = sweep(run.event, own_arn=JANITOR_ARN, region=REGION)
        assert (result.action, result.failed, result.drifted) == ("restored", 0, 0), result
        enforce.policy = ALLOW_ALL
        assert world_state() == before
        restoring = {action for action, _ in enforce.calls}

    assert janitor_defers(enforce, tmp_path, policy)
    deferring = {action for action, _ in enforce.calls}

    actions = sorted(
        {action.lower() for statement in policy["Statement"] for action in statement["Action"]}
    )
    unused = [
        action
        for action in actions
        if action not in restoring | deferring | NOT_CALLED_BY_THE_CODE | INTEGRITY_ONLY
    ]
    assert unused == [], "in the policy but never called"

    for index, action in enumerate(sorted(restoring & set(actions) - INTEGRITY_ONLY)):
        restored, detail = janitor_restores(
            enforce, tmp_path, without(policy, action), f"20240501T100000Z-without-{index:06d}"
        )
        assert not restored, f"the janitor restores without {action}: {detail}"
    for action in sorted((deferring - restoring) & set(actions)):
        assert not janitor_defers(enforce, tmp_path, without(policy, action)), (
            f"the janitor schedules a follow-up without {action}"
        )


def without(policy: dict[str, Any], action: str) -> dict[str, Any]:
    reduced = json.loads(json.dumps(policy))
    for statement in reduced["Statement"]:
        statement["Action"] = [item for item in statement["Action"] if item.lower() != action]
    reduced["Statement"] = [statement for statement in reduced["Statement"] if statement["Action"]]
    return reduced


# -- the deployer's policy --------------------------------------------------------------


def test_janitor_iam_policy_prints_the_deployers_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "janitor",
                "iam-policy",
                "--journal",
                JOURNAL_URI,
                "--region",
                REGION,
                "--account-id",
                ACCOUNT_ID,
            ]
        )
        == 0
    )
    printed = json.loads(capsys.readouterr().out)
    assert printed == deployer_policy(REGION, ACCOUNT_ID, LOCATION)
    resources = [
        resource
        for statement in printed["Statement"]
        for resource in (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
    ]
    assert sorted(resources) == sorted(
        [
            DEAD_LETTERS,
            "arn:aws:iam::123456789012:role/gameday-janitor",
            "arn:aws:iam::123456789012:role/gameday-janitor",
            "arn:aws:iam::123456789012:role/gameday-janitor-scheduler",
            JANITOR_ARN,
            "arn:aws:s3:::gameday-journal",
        ]
    ), "its own resources only, never *"
    assert (
        main(
            [
                "janitor",
                "iam-policy",
                "--journal",
                JOURNAL_URI,
                "--region",
                REGION,
                "--account-id",
                "12345",
            ]
        )
        == 2
    )
    assert "--account-id '12345': expected 12 digits" in capsys.readouterr().err


def deploys(enforcer: Enforcer, policy: dict[str, Any], package: JanitorPackage) -> list[str]:
    """In a fresh fake account, under `policy`: a first deploy, then one over drift (the
    queue's retention and the execution role's trust changed by hand; another journal
    location, so another role policy and environment; other code). What did not work."""
    changed = JanitorPackage(package.zip_bytes + b"\0", package.files)
    moved = JournalLocation.parse("s3://gameday-journal/elsewhere/")
    with mock_aws():
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=LOCATION.bucket)
        first: list[str] = []
        second: list[str] = []
        try:
            enforcer.policy = policy
            deploy_janitor(
                AwsClients(region=REGION), ACCOUNT_ID, LOCATION, say=first.append, package=package
            )
            enforcer.policy = ALLOW_ALL
            sqs = boto3.client("sqs", region_name=REGION)
            sqs.set_queue_attributes(
                QueueUrl=sqs.get_queue_url(QueueName=DEAD_LETTER_QUEUE)["QueueUrl"],
                Attributes={"MessageRetentionPeriod": "3600"},
            )
            trust = lambda_trust_policy()
            trust["Statement"][0]["Principal"] = {"Service": "edgelambda.amazonaws.com"}
            boto3.client("iam").update_assume_role_policy(
                RoleName=ROLE_NAME, PolicyDocument=json.dumps(trust)
            )
            enforcer.policy = policy
            deploy_janitor(
                AwsClients(region=REGION), ACCOUNT_ID, moved, say=second.append, package=changed
            )
        except Exception as error:  # noqa: BLE001 - a denied call, or a waiter it broke
            return [f"{type(error).__name__}: {error}"]
        finally:
            enforcer.policy = ALLOW_ALL
    expected = [
        f"dead-letter queue {DEAD_LETTER_QUEUE}: updated ({DEAD_LETTERS})",
        f"role {ROLE_NAME}: trust policy updated (arn:aws:iam::{ACCOUNT_ID}:role/{ROLE_NAME})",
        f"role policy {ROLE_NAME}: updated",
        "function gameday-janitor: configuration updated (Environment)",
    ]
    return (
        [line for line in first + second if "not readable" in line]
        + [f"not said: {line}" for line in expected if line not in second]
        + [
            f"not said: code updated ({changed.code_sha256})"
            for _ in [0]
            if not any(changed.code_sha256 in line for line in second)
        ]
    )


@pytest.mark.usefixtures("gameday_home")
def test_the_deployers_policy_is_sufficient_and_every_action_necessary(enforce: Enforcer) -> None:
    policy = deployer_policy(REGION, ACCOUNT_ID, LOCATION)
    package = build_janitor_package()
    enforce.calls = []
    assert deploys(enforce, policy, package) == [], "the policy is enough"
    called = {action for action, _ in enforce.calls} - {"sts:getcalleridentity"}
    actions = sorted(
        {action.lower() for statement in policy["Statement"] for action in statement["Action"]}
    )
    assert sorted(called) == actions, "every action is called, and no other"
    for action in actions:
        assert deploys(enforce, without(policy, action), package), (
            f"the janitor deploys without {action}"
        )
