"""The generated IAM policy is sufficient and necessary for a run.

moto's own IAM enforcement rejects Lambda's REST calls with SignatureDoesNotMatch,
so the policy is enforced here by a botocore `before-call` hook on every client the
toolkit creates: each call's action and resource ARN are checked against the policy
with IAM's wildcard matching, and a denied call fails as AWS would (AccessDenied).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chaos.aws.clients import AwsClients
from chaos.cli import main
from chaos.experiment import load_experiment
from chaos.iam import experiment_policy
from tests.integration.conftest import ACCOUNT_ID, REGION, create_function, experiment_yaml

PREFIX = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}"
UNAUTHENTICATED = {"sts:GetCallerIdentity"}


def resource_of(service: str, operation: str, params: dict[str, Any]) -> str:
    if service == "lambda":
        if "Resource" in params:
            return str(params["Resource"])
        if "FunctionName" in params:
            name = str(params["FunctionName"])
            return name if name.startswith("arn:") else f"{PREFIX}:function:{name}"
        if operation == "PublishLayerVersion":
            return f"{PREFIX}:layer:{params['LayerName']}"
        if operation == "GetLayerVersion":
            return f"{PREFIX}:layer:{params['LayerName']}:{params['VersionNumber']}"
    return "*"


def allowed(policy: dict[str, Any], action: str, resource: str) -> bool:
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [
            statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [
            statement["Resource"]]
        if any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions) and any(
            fnmatch.fnmatchcase(resource, r) for r in resources
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
        checks = [(action, resource_of(service, model.name, params))]
        if model.name == "UpdateFunctionConfiguration":
            # AWS also requires lambda:GetLayerVersion on every layer version attached.
            checks += [("lambda:GetLayerVersion", arn) for arn in params.get("Layers", [])]
        for action, resource in checks:
            self.calls.append((action, resource))
            if action not in UNAUTHENTICATED and not allowed(self.policy, action, resource):
                self.deny(model.name, action, resource)

    @staticmethod
    def deny(operation: str, action: str, resource: str) -> None:
        raise ClientError({"Error": {"Code": "AccessDeniedException",
                                     "Message": f"not authorized to perform {action} on "
                                                f"{resource}"}}, operation)


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
    config = boto3.client("lambda", region_name=REGION).get_function_configuration(
        FunctionName="orders")
    return json.dumps([config.get("Layers"), config.get("Environment")], sort_keys=True)


def actions_of(policy: dict[str, Any]) -> list[tuple[int, str]]:
    return [(index, action) for index, statement in enumerate(policy["Statement"])
            for action in statement["Action"]]


def without(policy: dict[str, Any], index: int, action: str) -> dict[str, Any]:
    reduced = json.loads(json.dumps(policy))
    statement = reduced["Statement"][index]
    statement["Action"] = [a for a in statement["Action"] if a != action]
    if not statement["Action"]:
        del reduced["Statement"][index]
    return reduced


def run_with(policy: dict[str, Any], enforcer: Enforcer, path: Path) -> tuple[int, bool]:
    """Run the experiment in a fresh fake account under `policy`: exit code, state restored."""
    with mock_aws():
        create_function("orders")
        before = function_state()
        enforcer.policy = policy
        code = main(["run", str(path), "--yes"])
        restored = function_state() == before
        if code == 4:  # a leftover lock tag: the full policy's rollback clears it
            enforcer.policy = experiment_policy(load_experiment(path), ACCOUNT_ID)
            assert main(["rollback", "--all"]) == 0
    return code, restored


@pytest.mark.usefixtures("gameday_home")
def test_generated_policy_is_sufficient_and_each_action_necessary(
    tmp_path: Path, enforce: Enforcer, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment_yaml())
    policy = experiment_policy(load_experiment(path), ACCOUNT_ID)

    code, restored = run_with(policy, enforce, path)
    assert (code, restored) == (0, True), capsys.readouterr().err
    used = {action.lower() for action, _ in enforce.calls}

    for index, action in actions_of(policy):
        assert action.lower() in used, f"{action} is in the policy but never needed"
        enforce.calls.clear()
        code, restored = run_with(without(policy, index, action), enforce, path)
        err = capsys.readouterr().err
        assert code != 0, f"the run succeeded without {action}"
        assert "Traceback" not in err
        assert restored, f"without {action}, the function was left changed"
        # A leftover lock (no UntagResource) is an incomplete rollback (exit 4); anything
        # else is refused before a change (2) or aborted and restored (3).
        assert code in ((4,) if action == "lambda:UntagResource" else (2, 3)), (action, code)
