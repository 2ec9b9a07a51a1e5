"""The generated IAM policy is sufficient and necessary for a run.

moto's own IAM enforcement rejects Lambda's REST calls with SignatureDoesNotMatch,
so the policy is enforced here by a botocore `before-call` hook on every client the
toolkit creates: each call's action and resource ARN are checked against the policy
with IAM's wildcard matching, and each statement's conditions against the request context
AWS would build (the resource's tags as they are at the call, the request's tag keys, a
subnet's AZ ID: tests/integration/iam_conditions.py); a denied call fails as AWS would
(AccessDenied).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chaos.aws.clients import AwsClients
from chaos.cli import main
from chaos.experiment import load_experiment
from chaos.janitor.policy import janitor_policy
from chaos.journal import JournalLocation
from chaos.run.permissions import experiment_policy
from tests.integration.conftest import ACCOUNT_ID, REGION, create_function, experiment_yaml
from tests.integration.iam_conditions import condition_holds, context_for

PREFIX = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}"
UNAUTHENTICATED = {"sts:GetCallerIdentity"}


EC2 = f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}"
EC2_ID_KINDS = {"acl-": "network-acl", "subnet-": "subnet", "vpc-": "vpc", "sg-": "security-group"}


def ec2_arn(resource_id: str) -> str:
    kind = next(kind for prefix, kind in EC2_ID_KINDS.items() if resource_id.startswith(prefix))
    return f"{EC2}:{kind}/{resource_id}"


def association_subnet(association_id: str) -> str:
    """The subnet of a network ACL association (read from the fake account, unchecked)."""
    acls = boto3.client("ec2", region_name=REGION).describe_network_acls(
        Filters=[{"Name": "association.association-id", "Values": [association_id]}]
    )["NetworkAcls"]
    return next(
        item["SubnetId"]
        for acl in acls
        for item in acl["Associations"]
        if item["NetworkAclAssociationId"] == association_id
    )


def ec2_checks(operation: str, params: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(action, resource, extra context) of each authorization of one EC2 call; the
    resource types per the Service Authorization Reference (https://docs.aws.amazon.com/
    service-authorization/latest/reference/list_amazonec2.html)."""
    action = f"ec2:{operation}"
    if operation.startswith("Describe"):
        return [(action, "*", {})]
    if operation in ("CreateTags", "DeleteTags"):
        return [(action, ec2_arn(resource), {}) for resource in params["Resources"]]
    if operation == "CreateNetworkAcl":
        checks = [(action, ec2_arn(params["VpcId"]), {}), (action, f"{EC2}:network-acl/*", {})]
        if params.get("TagSpecifications"):  # tag-on-create needs ec2:CreateTags too
            checks.append(
                ("ec2:CreateTags", f"{EC2}:network-acl/*", {"ec2:CreateAction": operation})
            )
        return checks
    if operation == "ReplaceNetworkAclAssociation":  # the ACL and the subnet
        return [
            (action, ec2_arn(params["NetworkAclId"]), {}),
            (action, ec2_arn(association_subnet(params["AssociationId"])), {}),
        ]
    return [(action, ec2_arn(params["NetworkAclId"]), {})]


def resource_of(service: str, operation: str, params: dict[str, Any]) -> str:
    if service == "lambda":
        if "Resource" in params:
            return str(params["Resource"])
        if "FunctionName" in params:
            name = str(params["FunctionName"])
            function = name if name.startswith("arn:") else f"{PREFIX}:function:{name}"
            # Lambda authorizes against FunctionName and Qualifier: a call with a Qualifier
            # needs the qualified ARN ("Fine-tuning the Resources and Conditions sections of
            # policies", https://docs.aws.amazon.com/lambda/latest/dg/lambda-api-permissions-
            # ref.html).
            return f"{function}:{params['Qualifier']}" if params.get("Qualifier") else function
        if operation == "PublishLayerVersion":
            return f"{PREFIX}:layer:{params['LayerName']}"
        if operation == "GetLayerVersion":
            return f"{PREFIX}:layer:{params['LayerName']}:{params['VersionNumber']}"
    return "*"


def apigateway_check(model: Any, params: dict[str, Any]) -> tuple[str, str]:
    """API Gateway authorizes its management calls as apigateway:<HTTP verb> on the path
    of the request ("API Gateway Amazon Resource Name (ARN) reference", https://docs.aws.
    amazon.com/apigateway/latest/developerguide/arn-format-reference.html; V2 paths
    without their /v2 prefix)."""
    path = str(model.http["requestUri"]).split("?", 1)[0].removeprefix("/v2")
    for name, member in model.input_shape.members.items():
        if member.serialization.get("location") == "uri" and name in params:
            path = path.replace("{" + member.serialization["name"] + "}", str(params[name]))
    return f"apigateway:{model.http['method']}", f"arn:aws:apigateway:{REGION}::{path}"


def allowed(
    policy: dict[str, Any],
    action: str,
    resource: str,
    context: Callable[[str], Any] = lambda key: None,
) -> bool:
    """Whether a statement allows `action` on `resource`, its Condition (if any) holding in
    `context` (tests/integration/iam_conditions.py)."""
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
            any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions)
            and any(fnmatch.fnmatchcase(resource, r) for r in resources)
            and condition_holds(statement.get("Condition") or {}, context)
        ):
            return True
    return False


class Enforcer:
    def __init__(self, policy: dict[str, Any]) -> None:
        self.policy = policy
        self.calls: list[tuple[str, str]] = []

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        service = model.service_model.signing_name
        action = f"{service}:{model.name}"
        checks: list[tuple[str, str, dict[str, Any]]]
        if service == "apigateway":
            checks = [(*apigateway_check(model, params), {})]
        elif service == "ec2":
            checks = ec2_checks(model.name, params)
        else:
            checks = [(action, resource_of(service, model.name, params), {})]
        if model.name == "UpdateFunctionConfiguration":
            # AWS also requires lambda:GetLayerVersion on every layer version attached...
            checks += [("lambda:GetLayerVersion", arn, {}) for arn in params.get("Layers", [])]
            # ...and, to place a function in a VPC, these EC2 reads.
            if "VpcConfig" in params:
                checks += [
                    (f"ec2:{name}", "*", {})
                    for name in ("DescribeSecurityGroups", "DescribeSubnets", "DescribeVpcs")
                ]
        for action, resource, extra in checks:
            self.calls.append((action, resource))
            context = context_for(service, model.name, params, resource, REGION, extra)
            if action not in UNAUTHENTICATED and not allowed(
                self.policy, action, resource, context
            ):
                self.deny(model.name, action, resource)

    @staticmethod
    def deny(operation: str, action: str, resource: str) -> None:
        raise ClientError(
            {
                "Error": {
                    "Code": "AccessDeniedException",
                    "Message": f"not authorized to perform {action} on {resource}",
                }
            },
            operation,
        )


@pytest.fixture
def enforce(monkeypatch: pytest.MonkeyPatch) -> Iterator[Enforcer]:
    enforcer = Enforcer({"Statement": []})
    original = AwsClients.client

    def client(self: AwsClients, service: str) -> Any:
        created = original(self, service)
        if not getattr(created, "_policy_enforced", False):
            created.meta.events.register("before-parameter-build.*.*", enforcer)
            created._policy_enforced = True
        return created

    monkeypatch.setattr(AwsClients, "client", client)
    yield enforcer


def function_state() -> str:
    lambda_ = boto3.client("lambda", region_name=REGION)
    config = lambda_.get_function_configuration(FunctionName="orders")
    versions = [
        item["Version"]
        for item in lambda_.list_versions_by_function(FunctionName="orders")["Versions"]
    ]
    aliases = [
        (
            item["Name"],
            item["FunctionVersion"],
            (item.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {},
        )
        for item in lambda_.list_aliases(FunctionName="orders")["Aliases"]
    ]
    return json.dumps(
        [config.get("Layers"), config.get("Environment"), versions, aliases], sort_keys=True
    )


def actions_of(policy: dict[str, Any]) -> list[tuple[int, str]]:
    return [
        (index, action)
        for index, statement in enumerate(policy["Statement"])
        for action in statement["Action"]
    ]


def without(policy: dict[str, Any], index: int, action: str) -> dict[str, Any]:
    reduced = json.loads(json.dumps(policy))
    statement = reduced["Statement"][index]
    statement["Action"] = [a for a in statement["Action"] if a != action]
    if not statement["Action"]:
        del reduced["Statement"][index]
    return reduced


def create_function_in_vpc() -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.9.{index}.0/24", AvailabilityZoneId=az_id)[
            "Subnet"
        ]["SubnetId"]
        for index, az_id in enumerate(("use1-az1", "use1-az2", "use1-az3"))
    ]
    group = ec2.create_security_group(GroupName="fn", Description="fn", VpcId=vpc)["GroupId"]
    create_function("orders", VpcConfig={"SubnetIds": subnets, "SecurityGroupIds": [group]})


API_ID = "ordersapi1"
ENDPOINT = f"https://{API_ID}.execute-api.{REGION}.amazonaws.com/prod"


def create_live_alias_behind_an_api() -> None:
    """orders (in a VPC), alias live -> 1, invoked by the API's stage prod through live."""
    create_function_in_vpc()
    lambda_ = boto3.client("lambda", region_name=REGION)
    lambda_.publish_version(FunctionName="orders")
    lambda_.create_alias(FunctionName="orders", Name="live", FunctionVersion="1")
    apigateway = boto3.client("apigateway", region_name=REGION)
    apigateway.create_rest_api(name="orders", tags={"_custom_id_": API_ID})
    root = apigateway.get_resources(restApiId=API_ID)["items"][0]["id"]
    resource = apigateway.create_resource(restApiId=API_ID, parentId=root, pathPart="{proxy+}")[
        "id"
    ]
    apigateway.put_method(
        restApiId=API_ID, resourceId=resource, httpMethod="ANY", authorizationType="NONE"
    )
    apigateway.put_integration(
        restApiId=API_ID,
        resourceId=resource,
        httpMethod="ANY",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{PREFIX}"
        ":function:orders:live/invocations",
    )
    apigateway.create_deployment(restApiId=API_ID, stageName="prod")


STAGE_EXPORT = f"arn:aws:apigateway:{REGION}::/restapis/{API_ID}/stages/prod/exports/oas30"


def test_the_checker_maps_the_stage_exports_to_their_resources(tmp_path: Path) -> None:
    """GetExport (REST) and ExportApi (HTTP APIs) are authorized on their request paths; the
    generated policy allows both for the endpoint's API and stage, and no other stage."""
    rest = boto3.client("apigateway", region_name=REGION).meta.service_model
    http = boto3.client("apigatewayv2", region_name=REGION).meta.service_model
    rest_export = apigateway_check(
        rest.operation_model("GetExport"),
        {"restApiId": API_ID, "stageName": "prod", "exportType": "oas30"},
    )
    http_export = apigateway_check(
        http.operation_model("ExportApi"),
        {"ApiId": API_ID, "Specification": "OAS30", "StageName": "prod"},
    )
    assert rest_export == ("apigateway:GET", STAGE_EXPORT)
    assert http_export == (
        "apigateway:GET",
        f"arn:aws:apigateway:{REGION}::/apis/{API_ID}/exports/OAS30",
    )
    path = tmp_path / "experiment.yaml"
    path.write_text(EXPERIMENTS["lambda-extension-alias-behind-an-api"])
    policy = experiment_policy(load_experiment(path), ACCOUNT_ID)
    assert allowed(policy, *rest_export) and allowed(policy, *http_export)
    assert not allowed(policy, "apigateway:GET", STAGE_EXPORT.replace("/prod/", "/dev/"))


def network_state() -> str:
    ec2 = boto3.client("ec2", region_name=REGION)
    acls = ec2.describe_network_acls()["NetworkAcls"]
    return json.dumps(
        [
            sorted(
                (a["SubnetId"], acl["NetworkAclId"]) for acl in acls for a in acl["Associations"]
            ),
            sorted(acl["NetworkAclId"] for acl in acls),
        ]
    )


EXPERIMENTS = {
    "lambda-extension": experiment_yaml(),
    "az-loss-pin": experiment_yaml().split("faults:")[0]
    + ("faults:\n  - type: az-loss\n    az_id: use1-az1\n    targets: {lambda: [orders]}\n"),
    "az-loss-blackhole": experiment_yaml().split("faults:")[0]
    + (
        "faults:\n  - type: az-loss\n    az_id: use1-az1\n    mode: blackhole\n"
        "    targets: {lambda: [orders]}\n"
    ),
    # The alias's fault version, and preflight reading how the endpoint invokes it.
    "lambda-extension-alias-behind-an-api": experiment_yaml("[orders:live]").replace(
        "target: {", f"target: {{endpoint: '{ENDPOINT}', "
    ),
}
SETUPS = {"lambda-extension-alias-behind-an-api": create_live_alias_behind_an_api}


def run_with(
    policy: dict[str, Any],
    enforcer: Enforcer,
    path: Path,
    setup: Callable[[], None] = create_function_in_vpc,
) -> tuple[int, bool]:
    """Run the experiment in a fresh fake account under `policy`: exit code, state restored."""
    with mock_aws():
        setup()
        before = function_state() + network_state()
        enforcer.policy = policy
        code = main(["run", str(path), "--yes"])
        if code == 4:  # a leftover: the full policy's rollback clears it
            enforcer.policy = experiment_policy(
                load_experiment(path), ACCOUNT_ID, AwsClients(region=REGION)
            )
            assert main(["rollback", "--all"]) == 0
        restored = function_state() + network_state() == before
    return code, restored


@pytest.mark.usefixtures("gameday_home")
@pytest.mark.parametrize("kind", sorted(EXPERIMENTS))
def test_generated_policy_is_sufficient_and_each_action_necessary(
    tmp_path: Path,
    enforce: Enforcer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    path = tmp_path / "experiment.yaml"
    path.write_text(EXPERIMENTS[kind])
    setup = SETUPS.get(kind, create_function_in_vpc)
    with mock_aws():  # the policy names the targets' own layers and keys: none here
        setup()
        enforce.policy = {"Statement": [{"Action": "*", "Resource": "*"}]}  # reading them
        policy = experiment_policy(load_experiment(path), ACCOUNT_ID, AwsClients(region=REGION))

    code, restored = run_with(policy, enforce, path, setup)
    assert (code, restored) == (0, True), capsys.readouterr().err
    used = {action.lower() for action, _ in enforce.calls}
    if kind == "lambda-extension-alias-behind-an-api":  # the stage as deployed is read
        assert ("apigateway:GET", STAGE_EXPORT) in enforce.calls, enforce.calls

    for index, action in actions_of(policy):
        assert action.lower() in used, f"{action} is in the policy but never needed"
        enforce.calls.clear()
        code, restored = run_with(without(policy, index, action), enforce, path, setup)
        err = capsys.readouterr().err
        assert code != 0, f"the run succeeded without {action}"
        assert "Traceback" not in err
        assert restored, f"without {action}, the function was left changed"
        # A leftover lock (no UntagResource) is an incomplete rollback (exit 4); anything
        # else is refused before a change (2) or aborted and restored (3).
        # Without a delete permission something (a lock tag, the deny-all ACL) is left
        # behind: the run must say so (exit 4, journal kept) and the rollback finish it.
        # Without lambda:GetFunction an az-loss restore cannot see its update complete: it
        # is not reported restored (exit 4) although the configuration was put back (a
        # lambda-extension run fails reading the function, before any change). The fault
        # version of an alias target is left when the restore may not check that no alias
        # routes to it (ListAliases) or delete it.
        leaves_something = action in (
            "lambda:UntagResource",
            "ec2:DeleteTags",
            "ec2:DeleteNetworkAcl",
            "lambda:ListAliases",
            "lambda:DeleteFunction",
        ) or (action == "lambda:GetFunction" and kind == "az-loss-pin")
        assert code in ((4,) if leaves_something else (2, 3)), (action, code)


@pytest.mark.usefixtures("aws")
def test_targets_own_layers_and_kms_key_are_named_exactly(tmp_path: Path) -> None:
    key = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1234abcd"
    layer = boto3.client("lambda", region_name=REGION).publish_layer_version(
        LayerName="their-layer", Content={"ZipFile": b"PK\x05\x06" + b"\x00" * 18}
    )
    create_function("orders", KMSKeyArn=key, Layers=[layer["LayerVersionArn"]])
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment_yaml())
    experiment = load_experiment(path)
    by_sid = {
        statement["Sid"]: statement
        for statement in experiment_policy(experiment, ACCOUNT_ID, AwsClients(region=REGION))[
            "Statement"
        ]
    }
    assert by_sid["TargetsEnvironmentKey"]["Resource"] == key
    assert by_sid["TargetsExistingLayers"]["Resource"] == layer["LayerVersionArn"]
    offline = {
        statement["Sid"]: statement
        for statement in experiment_policy(experiment, ACCOUNT_ID)["Statement"]
    }
    assert offline["TargetsEnvironmentKey"]["Condition"] == {
        "StringEquals": {"kms:ViaService": f"lambda.{REGION}.amazonaws.com"}
    }
    # Offline, named placeholders to replace, never a wildcard...
    assert offline["TargetsExistingLayers"]["Resource"] == (
        f"arn:aws:lambda:{REGION}:LAYER_ACCOUNT_ID:layer:TARGETS_LAYER_NAME:VERSION"
    )
    assert offline["TargetsEnvironmentKey"]["Resource"] == (
        f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/TARGETS_ENVIRONMENT_KEY_ID"
    )
    # ...or the ARNs given.
    given = {
        statement["Sid"]: statement
        for statement in experiment_policy(
            experiment, ACCOUNT_ID, layer_arns=(layer["LayerVersionArn"],), kms_key_arns=(key,)
        )["Statement"]
    }
    assert given["TargetsExistingLayers"]["Resource"] == layer["LayerVersionArn"]
    assert given["TargetsEnvironmentKey"]["Resource"] == key


def test_delete_function_may_delete_a_version_never_the_whole_function(tmp_path: Path) -> None:
    """The toolkit deletes only the fault version (DeleteFunction with its Qualifier); Lambda
    authorizes that call against the qualified ARN, and an unqualified DeleteFunction, which
    deletes the function with every version, against the unqualified one."""
    path = tmp_path / "experiment.yaml"
    path.write_text(EXPERIMENTS["lambda-extension-alias-behind-an-api"])
    policies = {
        "iam-policy": experiment_policy(load_experiment(path), ACCOUNT_ID),
        "janitor": janitor_policy(
            REGION, ACCOUNT_ID, JournalLocation.parse("s3://gameday-journal/runs/")
        ),
    }

    def locked_by(run_id: str | None) -> Callable[[str], Any]:
        return lambda key: run_id if key == "aws:ResourceTag/gameday:run-id" else None

    for name, policy in policies.items():
        assert allowed(
            policy, "lambda:DeleteFunction", f"{PREFIX}:function:orders:7", locked_by("run-1")
        ), name
        assert not allowed(
            policy, "lambda:DeleteFunction", f"{PREFIX}:function:orders", locked_by("run-1")
        ), name
    # The janitor, which matches any function, deletes a version of a locked one only.
    assert not allowed(
        policies["janitor"], "lambda:DeleteFunction", f"{PREFIX}:function:orders:7", locked_by(None)
    )


# -- acceptance: no wildcard change ------------------------------------------------------------

READ_PREFIXES = ("Describe", "Get", "List", "Head")
#: Tag-based conditions that scope a statement to locked, tag-selected or to-be-locked
#: resources (chaos.policy.locked / tagged / only_tag_keys, the lost AZ ID of a lock).
SCOPING_KEYS = ("aws:ResourceTag/", "aws:RequestTag/", "aws:TagKeys", "ec2:AvailabilityZoneId")


#: Actions that change no resource (Lambda calls them with the caller's grant to read and
#: write an encrypted environment).
CHANGE_NOTHING = {"kms:Decrypt", "kms:Encrypt"}


def is_mutating(action: str) -> bool:
    return action not in CHANGE_NOTHING and not action.split(":", 1)[1].startswith(READ_PREFIXES)


ANY_OF_A_TYPE = re.compile(r"^[A-Za-z-]+[/:]\*($|[/:]\*)|Name/\*$")


def named(resource: str) -> bool:
    """An ARN that names what it allows: not `*`, not every resource of a type
    (function:*, service/*, subnet/*, ...Name/*); e.g. function:orders, function:orders:*
    (its versions), loadbalancer/*/edge/* (its type and ID), bucket/prefix/*."""
    part = resource.split(":", 5)[5] if resource.count(":") >= 5 else resource
    return resource != "*" and not ANY_OF_A_TYPE.search(part)


def scoped(statement: dict[str, Any]) -> bool:
    keys = [key for block in (statement.get("Condition") or {}).values() for key in block]
    return any(key.startswith(SCOPING_KEYS) for key in keys)


def unscoped_changes(policy: dict[str, Any]) -> list[str]:
    """Mutating statements that neither name their resources nor carry a tag condition,
    except the second resource of a request whose first is scoped by another statement
    ("...Side": a network ACL association's ACL, a new ACL's VPC)."""
    found = []
    for statement in policy["Statement"]:
        resources = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        changes = [action for action in statement["Action"] if is_mutating(action)]
        if not changes:
            continue
        assert "*" not in resources, f"{statement['Sid']}: Resource * on {changes}"
        if all(named(resource) for resource in resources) or scoped(statement):
            continue
        companion = statement["Sid"].endswith("Side") and all(
            any(
                action in other["Action"] and scoped(other)
                for other in policy["Statement"]
                if other is not statement
            )
            for action in changes
        )
        if not companion:
            found.append(f"{statement['Sid']}: {changes} on {resources}")
    return found


@pytest.mark.parametrize("kind", sorted(EXPERIMENTS) + ["tag-selectors"])
def test_no_change_is_allowed_on_a_wildcard_without_a_lock_condition(
    tmp_path: Path, kind: str
) -> None:
    text = EXPERIMENTS.get(kind) or experiment_yaml("{tags: {team: orders}}").split("faults:")[
        0
    ] + (
        "faults:\n  - type: lambda-extension\n    functions: {tags: {team: orders}}\n"
        "    latency: {ms: 100, rate: 1.0}\n"
        "  - type: az-loss\n    az_id: use1-az1\n    targets: {tags: {team: orders}}\n"
        "  - type: az-loss\n    az_id: use1-az2\n    mode: blackhole\n"
        "    targets: {tags: {team: orders}}\n"
    )
    path = tmp_path / "experiment.yaml"
    path.write_text(text)
    policy = experiment_policy(
        load_experiment(path), ACCOUNT_ID, journal="s3://gameday-journal/runs/"
    )
    assert unscoped_changes(policy) == []
    janitor = janitor_policy(
        REGION, ACCOUNT_ID, JournalLocation.parse("s3://gameday-journal/runs/")
    )
    assert unscoped_changes(janitor) == []
    if kind == "tag-selectors":  # the lock only on what the selector could pick
        lock = [
            statement
            for statement in policy["Statement"]
            if "lambda:TagResource" in statement["Action"]
        ]
        assert lock and all(
            statement["Condition"]["StringEquals"] == {"aws:ResourceTag/team": "orders"}
            for statement in lock
        ), lock


def test_the_wildcard_check_catches_an_unscoped_change() -> None:
    """The check above can fail: the old janitor statement, and a statement without its
    condition."""
    assert unscoped_changes(
        {
            "Statement": [
                {
                    "Sid": "RestoreEcsServices",
                    "Action": ["ecs:UpdateService"],
                    "Resource": f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:service/*",
                }
            ]
        }
    )
    assert unscoped_changes(
        {
            "Statement": [
                {
                    "Sid": "AzLossAclSide",
                    "Action": ["ec2:ReplaceNetworkAclAssociation"],
                    "Resource": f"{EC2}:network-acl/*",
                }
            ]
        }
    ), "a Side with no scoped partner"
    with pytest.raises(AssertionError, match="Resource"):
        unscoped_changes(
            {"Statement": [{"Sid": "X", "Action": ["ec2:CreateTags"], "Resource": "*"}]}
        )


def test_iam_policy_offline_prints_placeholders_or_the_given_arns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment_yaml())
    assert main(["iam-policy", str(path), "--offline"]) == 0
    text = capsys.readouterr().out
    assert "TARGETS_LAYER_NAME" in text and "TARGETS_ENVIRONMENT_KEY_ID" in text
    assert ":*:layer:" not in text and "key/*" not in text
    layer = f"arn:aws:lambda:{REGION}:999999999999:layer:theirs:4"
    key = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/abcd"
    assert (
        main(["iam-policy", str(path), "--offline", "--layer-arn", layer, "--kms-key-arn", key])
        == 0
    )
    by_sid = {
        statement["Sid"]: statement
        for statement in json.loads(capsys.readouterr().out)["Statement"]
    }
    assert by_sid["TargetsExistingLayers"]["Resource"] == layer
    assert by_sid["TargetsEnvironmentKey"]["Resource"] == key
