"""lambda-extension on an alias (moto): the fault version, the alias's routing, a crash at
every journaled step, and the refusals that keep a fault from missing its target."""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import patch

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.client import BaseClient

from chaos.aws import AwsClients, lambda_functions
from chaos.aws.apigateway import LambdaIntegration
from chaos.cli import main
from chaos.errors import GamedayError, PreflightRefused
from chaos.faults import base as fault_base
from chaos.faults.base import FaultContext
from chaos.faults.lambda_extension.kind import LambdaExtensionFault
from chaos.faults.lambda_extension.spec import LambdaExtensionSpec as Spec
from chaos.journal import Journal
from chaos.run.restore import restore_journal
from tests.integration.conftest import REGION, create_function, experiment_yaml

MUTATING = ("TagResource", "UpdateFunctionConfiguration", "PublishVersion", "UpdateAlias")


class Crash(BaseException):
    """The process dies here: no `finally`, no restore (BaseException passes `except Exception`)."""


@pytest.fixture
def live(aws: None) -> Iterator[Any]:
    """Function `orders` with version 1 and alias live -> 1."""
    create_function("orders")
    client = boto3.client("lambda", region_name=REGION)
    client.publish_version(FunctionName="orders", Description="release 1")
    client.create_alias(FunctionName="orders", Name="live", FunctionVersion="1")
    yield client


def state(client: Any) -> dict[str, Any]:
    """What a run must leave exactly as it found it."""
    latest = client.get_function_configuration(FunctionName="orders")
    alias = client.get_alias(FunctionName="orders", Name="live")
    return {
        "layers": latest.get("Layers"),
        "environment": latest.get("Environment"),
        "alias_version": alias["FunctionVersion"],
        "alias_weights": (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {},
        "versions": [
            item["Version"]
            for item in client.list_versions_by_function(FunctionName="orders")["Versions"]
        ],
        "tags": client.list_tags(Resource=latest["FunctionArn"])["Tags"],
    }


def fault(
    *,
    functions: str = "orders:live",
    weight: float | None = None,
    integrations: list[LambdaIntegration] | None = None,
    error: bool = False,
    run_id: str = "run-alias",
    caveat: str | None = None,
    **spec_extra: Any,
) -> LambdaExtensionFault:
    spec_fields: dict[str, Any] = {
        "type": "lambda-extension",
        "functions": [functions],
        "latency": {"ms": 250},
        **spec_extra,
    }
    if weight is not None:
        spec_fields["weight"] = weight
    if error:
        spec_fields["error"] = {"status_code": 503, "rate": 1.0}
    context = FaultContext(
        clients=AwsClients(region=REGION),
        run_id=run_id,
        expires_at=time.time() + 600,
        integrations=integrations,
        integrations_caveat=caveat,
    )
    return LambdaExtensionFault(Spec.model_validate(spec_fields), context)


def apply(kind: LambdaExtensionFault, tmp_path: Path) -> Journal:
    journal = Journal.create(
        tmp_path / "run",
        run_id=kind.context.run_id,
        experiment_name="x",
        experiment_path="x.yaml",
        region=REGION,
        endpoint_url=None,
        profile=None,
        account_id="123456789012",
    )
    (change,) = kind.plan()
    kind.prepare()
    kind.apply(change, journal)
    return journal


def test_alias_points_at_a_fault_version_and_comes_back_exactly(live: Any, tmp_path: Path) -> None:
    before = state(live)
    journal = apply(fault(), tmp_path)
    during = state(live)
    assert during["alias_version"] == "2" and during["alias_weights"] == {}
    fault_version = live.get_function_configuration(FunctionName="orders", Qualifier="2")
    assert any("gameday-chaos" in layer["Arn"] for layer in fault_version["Layers"])
    assert "AWS_LAMBDA_EXEC_WRAPPER" in fault_version["Environment"]["Variables"]
    assert [entry.intended.get("action") for entry in journal.entries] == [
        "attach",
        "publish-version",
        "point-alias",
    ]
    report = restore_journal(Journal.load(journal.path))  # type: ignore[arg-type]
    assert report.complete and report.failed == 0
    assert state(live) == before


def test_weight_routes_a_share_of_the_alias_to_the_fault_version(live: Any, tmp_path: Path) -> None:
    before = state(live)
    journal = apply(fault(weight=0.25), tmp_path)
    during = state(live)
    assert during["alias_version"] == "1" and during["alias_weights"] == {"2": 0.25}
    restore_journal(journal)
    assert state(live) == before


def crash_at(operation: str, after: bool) -> Callable[..., Any]:
    original = BaseClient._make_api_call

    def make_api_call(self: BaseClient, name: str, params: dict[str, Any]) -> Any:
        if name != operation:
            return original(self, name, params)
        if not after:
            raise Crash(f"before {name}")
        result = original(self, name, params)
        raise Crash(f"after {name}")
        return result  # pragma: no cover

    return make_api_call


@pytest.mark.parametrize("after", [False, True], ids=["before", "after"])
@pytest.mark.parametrize("operation", MUTATING)
def test_a_crash_at_any_step_is_restored_exactly(
    live: Any, tmp_path: Path, operation: str, after: bool
) -> None:
    before = state(live)
    kind = fault()
    with (
        patch.object(BaseClient, "_make_api_call", crash_at(operation, after)),
        pytest.raises(Crash),
    ):
        apply(kind, tmp_path)
    # A new process: only the journal on disk remains.
    journal = Journal.load(tmp_path / "run" / "journal.json")
    assert journal.entries, "the step was journaled before it was made"
    report = restore_journal(journal)
    assert report.failed == 0, report.details
    assert state(live) == before


def test_a_version_number_is_refused(live: Any) -> None:
    with pytest.raises(PreflightRefused, match="immutable"):
        fault(functions="orders:1").plan()


def test_latest_differing_from_the_alias_version_is_refused(live: Any) -> None:
    live.update_function_configuration(FunctionName="orders", MemorySize=512)
    with pytest.raises(PreflightRefused, match=r"\$LATEST differs from version 1.*MemorySize"):
        fault().plan()


def test_latest_with_other_code_than_the_alias_version_is_refused(live: Any) -> None:
    other_code = io.BytesIO()
    with zipfile.ZipFile(other_code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
    live.update_function_code(FunctionName="orders", ZipFile=other_code.getvalue())
    with pytest.raises(PreflightRefused, match=r"\$LATEST differs from version 1 .*CodeSha256"):
        fault().plan()


# -- what moto does not keep: answered or edited on the way to the toolkit -----------------


def answer(
    kind: LambdaExtensionFault,
    operation: str,
    respond: Callable[[dict[str, Any]], dict[str, Any] | None],
) -> None:
    """Answer `operation` with respond(query string) instead of moto, unless that is None
    (a before-call handler's answer is botocore's response)."""

    def before_call(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        parsed = respond(dict(params.get("query_string") or {}))
        return None if parsed is None else (AWSResponse("", 200, {}, None), parsed)

    kind.context.clients.lambda_.meta.events.register(
        f"before-call.lambda.{operation}", before_call
    )


def edit_configurations(kind: LambdaExtensionFault, **fields: Any) -> None:
    """Every GetFunctionConfiguration answer (of $LATEST and of versions) carries `fields`."""

    def after_call(parsed: dict[str, Any], **_: Any) -> None:
        parsed.update(fields)

    kind.context.clients.lambda_.meta.events.register(
        "after-call.lambda.GetFunctionConfiguration", after_call
    )


def provisioned_on(qualifier: str) -> Callable[[dict[str, Any]], dict[str, Any] | None]:
    return lambda query: (
        {"RequestedProvisionedConcurrentExecutions": 5}
        if query.get("Qualifier") == qualifier
        else None
    )


@pytest.mark.parametrize("qualifier", ["live", "1"], ids=["on-the-alias", "on-its-version"])
def test_provisioned_concurrency_is_refused_unless_allowed(live: Any, qualifier: str) -> None:
    refused = fault()
    answer(refused, "GetProvisionedConcurrencyConfig", provisioned_on(qualifier))
    with pytest.raises(
        PreflightRefused,
        match=rf"{qualifier} has provisioned concurrency \(5\)"
        ".*allow_provisioned_concurrency: true",
    ):
        refused.plan()
    allowed = fault(allow_provisioned_concurrency=True)
    answer(allowed, "GetProvisionedConcurrencyConfig", provisioned_on(qualifier))
    (change,) = allowed.plan()
    assert change.intended["alias"] == "live"


def test_snapstart_on_the_alias_version_is_refused(live: Any) -> None:
    kind = fault()
    edit_configurations(
        kind, SnapStart={"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    )
    with pytest.raises(PreflightRefused, match="orders:live: SnapStart is on"):
        kind.plan()


def test_snapstart_does_not_refuse_a_latest_target(live: Any) -> None:
    """SnapStart snapshots published versions only: $LATEST runs its configuration, ours
    included; the plan says so (whether the endpoint invokes $LATEST is checked apart)."""
    kind = fault(functions="orders")
    edit_configurations(
        kind, SnapStart={"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    )
    (change,) = kind.plan()
    assert any("SnapStart" in warning and "$LATEST" in warning for warning in change.warnings)


MANAGED_INSTANCES = {
    "LambdaManagedInstancesCapacityProviderConfig": {
        "CapacityProviderArn": "arn:aws:lambda:us-east-1:123456789012:capacity-provider:fleet"
    }
}


@pytest.mark.parametrize("functions", ["orders:live", "orders"], ids=["alias", "latest"])
def test_a_function_on_lambda_managed_instances_is_refused(live: Any, functions: str) -> None:
    kind = fault(functions=functions)
    edit_configurations(kind, CapacityProviderConfig=MANAGED_INSTANCES)
    with pytest.raises(PreflightRefused, match=r"Lambda Managed Instances \(a capacity provider\)"):
        kind.plan()


def test_weight_without_an_alias_is_refused(live: Any) -> None:
    with pytest.raises(PreflightRefused, match="weight routes an alias"):
        fault(functions="orders", weight=0.5).plan()


ROUTE = "ANY /{proxy+}"


def test_a_function_the_endpoint_invokes_through_an_alias_is_refused(live: Any) -> None:
    through_alias = [LambdaIntegration(ROUTE, "AWS_PROXY", "orders", "live")]
    with pytest.raises(PreflightRefused, match="invokes orders:live.*target orders:live"):
        fault(functions="orders", integrations=through_alias).plan()
    (change,) = fault(integrations=through_alias).plan()
    assert any(
        "invoked by ANY /{proxy+} (AWS_PROXY) -> orders:live" in line for line in change.summary
    )


def test_an_error_fault_on_a_non_proxy_integration_is_refused(live: Any) -> None:
    custom = [LambdaIntegration("POST /orders", "AWS", "orders", "live")]
    with pytest.raises(PreflightRefused, match="non-proxy.*HTTP 200"):
        fault(integrations=custom, error=True).plan()
    (change,) = fault(integrations=custom).plan()
    assert any("non-proxy" in warning for warning in change.warnings)


def test_integrations_not_read_from_the_deployed_stage_are_a_warning_and_part_of_a_refusal(
    live: Any,
) -> None:
    caveat = "API abc: integrations read from the API's current configuration (...)"
    through_alias = [LambdaIntegration(ROUTE, "AWS_PROXY", "orders", "live")]
    (change,) = fault(integrations=through_alias, caveat=caveat).plan()
    assert caveat in change.warnings
    with pytest.raises(PreflightRefused) as refused:
        fault(functions="orders", integrations=through_alias, caveat=caveat).plan()
    assert str(refused.value).endswith(f"target orders:live (note: {caveat})")


def test_a_function_the_endpoint_never_invokes_is_planned_with_a_warning(live: Any) -> None:
    other = [LambdaIntegration(ROUTE, "AWS_PROXY", "payments", None)]
    (change,) = fault(functions="orders", integrations=other).plan()
    assert any("never invokes orders" in line for line in change.summary)


def test_plan_shows_the_alias_weight_the_windows_and_the_fault_effect_check(
    live: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "experiment.yaml"
    path.write_text(experiment_yaml("[orders:live]") + "    weight: 0.25\n")

    assert main(["plan", str(path)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("lambda-extension on orders:live (") for line in lines), lines
    assert (
        "  - point alias live at it: 25% of its traffic (the rest stays on version 1)" in lines
    ), lines
    assert (
        "windows: fault-phase SLIs count from the moment the last change is in force "
        "(effective_at), recovery-phase SLIs from the end of the restore; the seconds "
        "between are reported as `transition`"
    ) in lines, lines
    assert (
        "fault_effect: each fault must show an effect during a fault phase with load "
        "(an automatic check)"
    ) in lines, lines


# -- a fault version is behind the alias only once it is Active -----------------------------

FAULT_VERSION = "2"  # `live` has version 1: the run publishes 2


@pytest.fixture
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    """The toolkit's waiter polls the fault version's State without sleeping between polls."""
    monkeypatch.setattr(lambda_functions, "VERSION_ACTIVE_POLL_S", 0)


def fault_version_states(
    kind: LambdaExtensionFault, states: list[dict[str, str]], events: list[str]
) -> None:
    """PublishVersion answers the first of `states`; the reads of the fault version answer
    the rest, one each, then moto's (Active). `events` gets every step in order."""
    client = kind.context.clients.lambda_
    answers = list(states)

    def published(parsed: dict[str, Any], **_: Any) -> None:
        events.append("PublishVersion")
        parsed.update(answers.pop(0))

    def read(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["qualifier"] = (params.get("query_string") or {}).get("Qualifier")

    def state_read(parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if context.get("qualifier") != FAULT_VERSION:
            return
        if answers:
            parsed.update(answers.pop(0))
        events.append(f"State {parsed.get('State')}")

    client.meta.events.register("after-call.lambda.PublishVersion", published)
    client.meta.events.register("before-call.lambda.GetFunctionConfiguration", read)
    client.meta.events.register("after-call.lambda.GetFunctionConfiguration", state_read)
    client.meta.events.register(
        "before-call.lambda.UpdateAlias", lambda **_: events.append("UpdateAlias")
    )


PENDING = {
    "State": "Pending",
    "StateReason": "The function is being created.",
    "StateReasonCode": "Creating",
    "LastUpdateStatus": "InProgress",
}
FAILED = {
    "State": "Failed",
    "StateReason": "Lambda was unable to create the function's resources.",
    "StateReasonCode": "InternalError",
    "LastUpdateStatus": "Failed",
}


def test_the_alias_points_at_the_fault_version_once_it_is_active_and_is_in_force_after(
    live: Any, tmp_path: Path, quick_polls: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []
    kind = fault()
    fault_version_states(kind, [PENDING, PENDING, PENDING], events)
    moments = iter(f"2030-01-01T00:00:{second:02d}.000Z" for second in range(60))

    def now() -> str:
        moment = next(moments)
        events.append(f"now {moment}")
        return moment

    monkeypatch.setattr(fault_base, "utc_now", now)

    journal = apply(kind, tmp_path)

    steps = [event for event in events if not event.startswith("now")]
    assert steps[:4] == ["PublishVersion", "State Pending", "State Pending", "State Active"]
    assert steps.index("UpdateAlias") > steps.index("State Active")
    alias_entry = journal.entries[-1]
    assert alias_entry.intended["action"] == "point-alias"
    assert events.index(f"now {alias_entry.effective_at}") > events.index("UpdateAlias")
    assert state(live)["alias_version"] == FAULT_VERSION


def test_a_fault_version_that_fails_aborts_the_apply_with_nothing_left_behind(
    live: Any, tmp_path: Path, quick_polls: None
) -> None:
    before = state(live)
    events: list[str] = []
    kind = fault()
    fault_version_states(kind, [PENDING, PENDING, FAILED], events)

    with pytest.raises(GamedayError) as aborted:
        apply(kind, tmp_path)

    message = str(aborted.value)
    assert "\n" not in message
    assert message == (
        "orders:live: fault version 2 did not become Active (State Failed, InternalError: "
        "Lambda was unable to create the function's resources.); the alias was not changed"
    )
    assert "UpdateAlias" not in events
    assert state(live)["alias_version"] == "1"
    journal = Journal.load(tmp_path / "run" / "journal.json")
    assert [entry.intended["action"] for entry in journal.entries] == ["attach", "publish-version"]
    published = journal.entries[-1]
    assert published.intended["version"] == FAULT_VERSION
    assert published.detail == message
    report = restore_journal(journal)
    assert report.complete and report.failed == 0, report.details
    assert state(live) == before


def test_a_fault_version_still_pending_after_the_last_poll_aborts_the_apply(
    live: Any, tmp_path: Path, quick_polls: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = state(live)
    monkeypatch.setattr(lambda_functions, "VERSION_ACTIVE_MAX_POLLS", 3)
    events: list[str] = []
    kind = fault()
    fault_version_states(kind, [PENDING] * 5, events)

    with pytest.raises(GamedayError) as aborted:
        apply(kind, tmp_path)

    assert str(aborted.value) == (
        "orders:live: fault version 2 did not become Active (State Pending after 3 polls, "
        "Creating: The function is being created.); the alias was not changed"
    )
    assert events.count("State Pending") == 3 and "UpdateAlias" not in events
    restore_journal(Journal.load(tmp_path / "run" / "journal.json"))
    assert state(live) == before
