"""Restore never writes what it cannot read, and acts only on what the run locked (moto).

A run is applied for real (its journal in S3, the janitor's schedule, the faults), "dies",
and is restored two ways: `gameday rollback --run-id ID --journal s3://...` from another
directory (the S3 journal only) and the janitor (`chaos.janitor.handler.sweep`). Before
the restore:

- the restoring identity cannot decrypt the function's environment: botocore's Stubber
  answers GetFunction with `Environment.Error` and no variables, as Lambda does without
  kms:Decrypt (moto cannot) - nothing may be written, the entry is `failed`, exit 4;
- or the journal was edited by whoever can write its prefix: entries for resources the run
  never locked, original values it never had, a layer ARN that is not ours, an alias's
  original version with other code, subnets of another VPC or AZ, an ACL it never had -
  no write may reach those, and each is reported. An edit of what the run recorded is
  tried two ways (`FORGERIES`): as a revision of its own, which the journal's revision
  chain leaves out (the restore then uses the run's own record), and as a consistent
  rewrite of the whole history, which the chain cannot tell and the restore itself must
  refuse; entries a forger adds pass the chain and meet the lock check.

Every AWS call the toolkit makes is recorded (a botocore hook on each client it creates),
so "nothing written" is checked on the calls, not only on the state afterwards.
"""

from __future__ import annotations

import copy
import io
import json
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from gameday_chaos import config as extension_config

from chaos.aws.clients import AwsClients
from chaos.cli import main
from chaos.faults.base import removed_subnet_tag
from chaos.janitor.handler import sweep
from chaos.janitor.timer import JanitorEvent, function_arn
from chaos.journal import JournalEntry
from chaos.sandbox.capacity.placement import PlacementController
from chaos.sandbox.realism import Realism
from tests.integration.conftest import ACCOUNT_ID, REGION, create_function
from tests.integration.janitor_support import (
    DEAD_HOST,
    JOURNAL_URI,
    STALE_S,
    DeadRun,
    az_loss,
    die,
    janitor_environment,
    journal_store,
    lambda_extension,
    latest_document,
    rewrite_history,
    schedules,
    start_run,
)

pytestmark = pytest.mark.usefixtures("aws")
JANITOR_ARN = function_arn(REGION, ACCOUNT_ID)
RESTORERS = ["rollback", "janitor"]
READS = ("Get", "List", "Describe")
DEAD_FOR_S = 10 * STALE_S


@pytest.fixture(autouse=True)
def deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    janitor_environment(monkeypatch)


# -- what the toolkit calls ---------------------------------------------------------------


@dataclass
class ToolkitCalls:
    """Every call of every client the toolkit creates: (service, operation, parameters)."""

    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    #: Set, the next Lambda client the toolkit creates is answered by a Stubber from it.
    stub_lambda: Callable[[Stubber], None] | None = None
    stubbers: list[Stubber] = field(default_factory=list)

    def writes(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            (service, operation, params)
            for service, operation, params in self.calls
            if not operation.startswith(READS) and service != "s3"
        ]

    def writes_naming(self, *names: str) -> list[str]:
        """Mutating calls (journal writes apart) whose parameters mention any of `names`."""
        found = []
        for service, operation, params in self.writes():
            text = json.dumps(params, default=str)
            found += [f"{service}.{operation}({name})" for name in names if name in text]
        return found


@pytest.fixture
def toolkit_calls(monkeypatch: pytest.MonkeyPatch) -> ToolkitCalls:
    recorded = ToolkitCalls()
    create = AwsClients.client

    def client(self: AwsClients, service: str) -> Any:
        new = service not in self._cache
        made = create(self, service)
        if new:

            def record(params: dict[str, Any], model: Any, **_: Any) -> None:
                recorded.calls.append((service, model.name, dict(params)))

            made.meta.events.register("before-parameter-build", record)
            if service == "lambda" and recorded.stub_lambda is not None:
                stubber = Stubber(made)
                recorded.stub_lambda(stubber)
                stubber.activate()
                recorded.stubbers.append(stubber)
        return made

    monkeypatch.setattr(AwsClients, "client", client)
    return recorded


# -- the account before the run -----------------------------------------------------------


@dataclass
class Site:
    vpc_id: str
    subnets: dict[str, str]  # AZ ID -> subnet of the app VPC
    spare_subnets: dict[str, str]  # AZ ID -> another subnet of the app VPC, used by no one
    other_vpc_subnet: str  # in use1-az1 too, in another VPC
    their_layer: str
    their_acl: str
    ecs_service_arn: str
    load_balancer_arn: str


def client(service: str) -> Any:
    return boto3.client(service, region_name=REGION)


def code_zip(body: str) -> bytes:
    """The same body gives the same bytes (and CodeSha256), whenever it is zipped."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(zipfile.ZipInfo("app.py", date_time=(2024, 1, 1, 0, 0, 0)), body)
    return buffer.getvalue()


def build_site() -> Site:
    ec2 = client("ec2")
    vpc_id = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnets, spare = {}, {}
    for index, az_id in enumerate(("use1-az1", "use1-az2", "use1-az3")):
        subnets[az_id] = ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"10.50.{index}.0/24", AvailabilityZoneId=az_id
        )["Subnet"]["SubnetId"]
        spare[az_id] = ec2.create_subnet(
            VpcId=vpc_id, CidrBlock=f"10.50.{index + 10}.0/24", AvailabilityZoneId=az_id
        )["Subnet"]["SubnetId"]
    other_vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    other_subnet = ec2.create_subnet(
        VpcId=other_vpc, CidrBlock="10.60.0.0/24", AvailabilityZoneId="use1-az1"
    )["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="app", Description="app", VpcId=vpc_id)
    their_acl = ec2.create_network_acl(VpcId=vpc_id)["NetworkAcl"]["NetworkAclId"]
    layer = client("lambda").publish_layer_version(
        LayerName="shared-libs", Content={"ZipFile": code_zip("X = 1\n")}
    )["LayerVersionArn"]
    create_function(
        "orders",
        Layers=[layer],
        VpcConfig={
            "SubnetIds": [subnets["use1-az3"], subnets["use1-az1"], subnets["use1-az2"]],
            "SecurityGroupIds": [group["GroupId"]],
        },
    )
    create_function("payments", Environment={"Variables": {"TABLE": "payments"}})
    kept = [subnets["use1-az2"], subnets["use1-az3"]]
    ecs = client("ecs")
    ecs.create_cluster(clusterName="shop")
    ecs.register_task_definition(
        family="web",
        networkMode="awsvpc",
        requiresCompatibilities=["FARGATE"],
        cpu="256",
        memory="512",
        containerDefinitions=[{"name": "web", "image": "web:1", "memory": 128}],
    )
    service = ecs.create_service(
        cluster="shop",
        serviceName="web",
        taskDefinition="web",
        desiredCount=1,
        launchType="FARGATE",
        networkConfiguration={
            "awsvpcConfiguration": {
                "subnets": kept,
                "securityGroups": [group["GroupId"]],
                "assignPublicIp": "DISABLED",
            }
        },
    )["service"]
    ec2.create_launch_template(
        LaunchTemplateName="workers-lt",
        LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.micro"},
    )
    client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName="workers",
        LaunchTemplate={"LaunchTemplateName": "workers-lt"},
        MinSize=0,
        MaxSize=2,
        DesiredCapacity=0,
        VPCZoneIdentifier=",".join(kept),
    )
    balancer = client("elbv2").create_load_balancer(Name="edge", Subnets=kept, Type="application")[
        "LoadBalancers"
    ][0]
    client("scheduler").create_schedule(
        Name="nightly-report",
        ScheduleExpression="rate(1 day)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:report",
            "RoleArn": f"arn:aws:iam::{ACCOUNT_ID}:role/report",
        },
    )
    return Site(
        vpc_id,
        subnets,
        spare,
        other_subnet,
        layer,
        their_acl,
        service["serviceArn"],
        balancer["LoadBalancerArn"],
    )


@pytest.fixture
def site(aws: None) -> Iterator[Site]:
    controller = PlacementController.for_sandbox(REGION, ACCOUNT_ID, Realism())
    controller.follow_api_changes()
    yield build_site()


def account_state() -> dict[str, Any]:
    """Everything a restore could write: configurations, tags, placement, ACLs, schedules."""
    lambda_, ec2 = client("lambda"), client("ec2")
    state: dict[str, Any] = {}
    for function in lambda_.list_functions()["Functions"]:
        name = function["FunctionName"]
        config = lambda_.get_function_configuration(FunctionName=name)
        state[f"lambda {name}"] = {
            "layers": [layer["Arn"] for layer in config.get("Layers") or []],
            "environment": (config.get("Environment") or {}).get("Variables"),
            "subnets": (config.get("VpcConfig") or {}).get("SubnetIds"),
            "tags": lambda_.list_tags(Resource=config["FunctionArn"])["Tags"],
            "versions": [
                item["Version"]
                for item in lambda_.list_versions_by_function(FunctionName=name)["Versions"]
            ],
            "aliases": {
                alias["Name"]: [
                    alias["FunctionVersion"],
                    (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights"),
                ]
                for alias in lambda_.list_aliases(FunctionName=name)["Aliases"]
            },
        }
    for service in client("ecs").describe_services(
        cluster="shop", services=["web"], include=["TAGS"]
    )["services"]:
        state["ecs web"] = [service["networkConfiguration"], service.get("tags")]
    for group in client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]:
        state[f"asg {group['AutoScalingGroupName']}"] = [
            group["VPCZoneIdentifier"],
            group.get("Tags"),
        ]
    for balancer in client("elbv2").describe_load_balancers()["LoadBalancers"]:
        arn = balancer["LoadBalancerArn"]
        state[f"elb {balancer['LoadBalancerName']}"] = [
            sorted(zone["SubnetId"] for zone in balancer["AvailabilityZones"]),
            client("elbv2").describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"],
        ]
    for subnet in ec2.describe_subnets()["Subnets"]:
        state[f"subnet {subnet['SubnetId']}"] = sorted(
            (tag["Key"], tag["Value"]) for tag in subnet.get("Tags") or []
        )
    state["acls"] = sorted(
        (acl["NetworkAclId"], sorted(item["SubnetId"] for item in acl["Associations"]))
        for acl in ec2.describe_network_acls()["NetworkAcls"]
    )
    state["schedules"] = sorted(schedules())
    return state


# -- the restorers ------------------------------------------------------------------------


@dataclass
class Restored:
    exit_code: int  # `gameday rollback`'s, or 4 / 0 from the janitor's failed count
    entries: list[dict[str, Any]]  # the journal's entries afterwards
    output: str  # what the restorer reports

    def status_of(self, entry_id: str) -> str:
        return str(next(entry["status"] for entry in self.entries if entry["entry_id"] == entry_id))

    def detail_of(self, entry_id: str) -> str:
        return str(next(entry["detail"] for entry in self.entries if entry["entry_id"] == entry_id))


def restore(run: DeadRun, restorer: str, capsys: pytest.CaptureFixture[str]) -> Restored:
    """The run is dead (another host, a stale heartbeat); restore it as `restorer` does."""
    if run.journal.hostname != DEAD_HOST:
        die(run, heartbeat_age_s=DEAD_FOR_S)
    run_id = run.journal.run_id
    capsys.readouterr()
    if restorer == "rollback":
        code = main(["rollback", "--run-id", run_id, "--journal", JOURNAL_URI])
        output = capsys.readouterr().out
    else:
        result = sweep(JanitorEvent(run_id, JOURNAL_URI), own_arn=JANITOR_ARN, region=REGION)
        code = 4 if result.failed else 0
        output = json.dumps(result.to_dict())
    return Restored(code, latest_document(run_id)["entries"], output)


#: How a forger changes what the run recorded about one of its entries:
#: - "revision": appends a revision with the entry changed, after the runner's last one
#:   (what anyone who may write the prefix can do); the revision chain leaves it out
#:   (chaos.journal.integrity) and the restore works from the run's own record;
#: - "rewrite": rewrites the whole history consistently, as the forged entry's first
#:   revision (what an unversioned bucket without the conditional-write policy allows,
#:   docs/janitor.md "What it will not protect against"); the chain cannot tell, and the
#:   forged values reach the restore, which must verify them against the account.
FORGERIES = ["revision", "rewrite"]


def assert_kept(during: dict[str, Any], run: DeadRun, restorer: str, message: str) -> None:
    """The account is as it was `during` the fault; the janitor, with an entry left, has
    scheduled its one follow-up for the run (chaos.janitor.handler.schedule_again)."""
    after, during = account_state(), dict(during)
    added = sorted(set(after.pop("schedules")) - set(during.pop("schedules")))
    assert after == during, message
    if restorer == "janitor":
        assert [name.startswith(f"{run.schedule.name}-c1-") for name in added] == [True], added
    else:
        assert added == []


def edit(run: DeadRun, entry_id: str, change: Callable[[JournalEntry], None], forgery: str) -> None:
    """Someone who can write the journal's prefix edits one entry of a dead run."""
    if forgery == "revision":
        die(run, heartbeat_age_s=DEAD_FOR_S)  # the runner's last revision, then the forger's
        store = journal_store()
        latest = store.latest(run.journal.run_id)
        assert latest is not None
        number, document = latest
        forged = copy.deepcopy(document)
        entry = JournalEntry(
            **next(item for item in forged["entries"] if item["entry_id"] == entry_id)
        )
        change(entry)
        forged["entries"] = [
            asdict(entry) if item["entry_id"] == entry_id else item for item in forged["entries"]
        ]
        forged["revision"] = number + 1
        store.put(run.journal.run_id, number + 1, forged)
    else:
        change(next(entry for entry in run.journal.entries if entry.entry_id == entry_id))
        die(run, heartbeat_age_s=DEAD_FOR_S)
        rewrite_history(run)


def add(run: DeadRun, entry: JournalEntry) -> None:
    """Someone who can write the journal's prefix adds an entry (a new, well-formed
    revision: the chain cannot tell it from the run's own)."""
    run.journal.entries.append(entry)
    run.journal.save()


def left_out(restored: Restored, entry_id: str) -> bool:
    """Whether the restorer reported a revision changing `entry_id` as left out."""
    return (
        f"changes entry {entry_id}'s original" in restored.output and "left out" in restored.output
    )


def entry_of(run: DeadRun, prefix: str) -> JournalEntry:
    return next(entry for entry in run.journal.entries if entry.entry_id.startswith(prefix))


def arn_of(function: str) -> str:
    return str(client("lambda").get_function_configuration(FunctionName=function)["FunctionArn"])


# -- acceptance 1: an environment the restorer cannot decrypt ------------------------------


def environment_error_answer(run: DeadRun) -> Callable[[Stubber], None]:
    """GetFunction as Lambda answers it to a caller without kms:Decrypt on the key: the
    configuration with `Environment.Error` and no `Variables` (EnvironmentResponse,
    https://docs.aws.amazon.com/lambda/latest/api/API_EnvironmentResponse.html), the tags
    (the run's lock among them). Nothing else is stubbed: any other Lambda call fails."""
    found = client("lambda").get_function(FunctionName="orders")
    config = found["Configuration"]
    key = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/1234abcd-team-key"
    answer = {
        "Configuration": {
            "FunctionName": config["FunctionName"],
            "FunctionArn": config["FunctionArn"],
            "Runtime": config["Runtime"],
            "RevisionId": config.get("RevisionId") or "r1",
            "Layers": [{"Arn": layer["Arn"]} for layer in config["Layers"]],
            "KMSKeyArn": key,
            "Environment": {
                "Error": {
                    "ErrorCode": "KMSAccessDeniedException",
                    "Message": "Lambda was unable to decrypt the environment variables because KMS "
                    "access was denied.",
                }
            },
        },
        "Tags": found["Tags"],
    }

    def stub(stubber: Stubber) -> None:
        stubber.add_response("get_function", answer, {"FunctionName": config["FunctionArn"]})

    return stub


@pytest.mark.parametrize("restorer", RESTORERS)
def test_an_environment_the_restorer_cannot_decrypt_is_left_whole(
    site: Site,
    tmp_path: Path,
    toolkit_calls: ToolkitCalls,
    capsys: pytest.CaptureFixture[str],
    restorer: str,
) -> None:
    run = start_run(tmp_path, f"20240601T100000Z-kms-{restorer}-aaaaaa")
    lambda_extension(run, ["orders"])
    during = account_state()
    assert extension_config.CONFIG_ENV_KEY in during["lambda orders"]["environment"]
    toolkit_calls.calls.clear()
    toolkit_calls.stub_lambda = environment_error_answer(run)

    restored = restore(run, restorer, capsys)

    assert restored.exit_code == 4, restored.output
    [stubber] = toolkit_calls.stubbers
    stubber.assert_no_pending_responses()
    assert [operation for service, operation, _ in toolkit_calls.calls if service == "lambda"] == [
        "GetFunction"
    ], "read, then nothing written"
    assert_kept(during, run, restorer, "environment, layers and lock as the fault left them")
    attach = entry_of(run, "lambda-extension:")
    assert restored.status_of(attach.entry_id) == "failed"
    detail = restored.detail_of(attach.entry_id)
    assert "environment cannot be read (KMSAccessDeniedException" in detail, detail
    assert "nothing written" in detail and "kms:Decrypt" in detail, detail
    assert "environment cannot be read" in restored.output
    document = latest_document(run.journal.run_id)
    assert document["status"] == "rollback_incomplete", "the journal is kept"
    assert run.schedule.name in schedules(), "the janitor stays armed"


# -- acceptance 2: a journal edited to borrow the restore ---------------------------------


def forged_entries(site: Site, run: DeadRun) -> dict[str, JournalEntry]:
    """Entries for resources the run never locked, each asking for a harmful write."""
    attach = entry_of(run, "lambda-extension:")
    payments = arn_of("payments")
    spread = [site.subnets["use1-az1"], site.subnets["use1-az2"], site.subnets["use1-az3"]]

    def pin(kind: str, ref: str, name: str) -> JournalEntry:
        return JournalEntry(
            entry_id=f"az-loss:{ref}",
            fault_type="az-loss",
            target=f"{kind}:{name}",
            target_arn=ref,
            status="applied",
            original={"kind": kind, "ref": ref, "name": name, "subnet_ids": spread, "settings": {}},
            intended={
                "action": "pin",
                "az_id": "use1-az1",
                "removed_subnet_ids": [site.subnets["use1-az1"]],
                "subnet_ids": spread[1:],
                "converge_timeout_s": 2,
            },
        )

    # `applying`: no exception for an entry whose change had not returned yet.
    forged = {
        "payments": JournalEntry(
            entry_id=f"lambda-extension:{payments}",
            fault_type="lambda-extension",
            target="payments",
            target_arn=payments,
            status="applying",
            original={
                "layers": [],
                "environment_overwritten": {"AWS_ENDPOINT_URL": "https://attacker.example"},
                "environment_digests": {},
                "digest_salt": "x",
            },
            intended={
                **attach.intended,
                "environment": {extension_config.EXEC_WRAPPER_ENV_KEY: "/tmp/theirs"},
            },
        ),
        "ecs": pin("ecs", "shop/web", "shop/web"),
        "asg": pin("asg", "workers", "workers"),
        "elb": pin("elb", site.load_balancer_arn, "edge"),
        "subnet-acl": JournalEntry(
            entry_id=f"az-loss:subnet:{site.other_vpc_subnet}",
            fault_type="az-loss",
            target=f"subnet:{site.other_vpc_subnet}",
            target_arn=site.other_vpc_subnet,
            status="applied",
            original={
                "subnet_id": site.other_vpc_subnet,
                "association_id": "aclassoc-x",
                "network_acl_id": site.their_acl,
            },
            intended={
                "action": "associate-acl",
                "az_id": "use1-az1",
                "network_acl_id": site.their_acl,
            },
        ),
        "acl": JournalEntry(
            entry_id=f"az-loss:acl:{site.vpc_id}",
            fault_type="az-loss",
            target=f"network ACL in {site.vpc_id}",
            target_arn=site.vpc_id,
            status="applied",
            original={"vpc_id": site.vpc_id, "network_acl_id": None},
            intended={
                "action": "create-acl",
                "vpc_id": site.vpc_id,
                "network_acl_id": site.their_acl,
            },
        ),
        "schedule": JournalEntry(
            entry_id="janitor-schedule:nightly-report",
            fault_type="janitor-schedule",
            target="schedule nightly-report",
            target_arn="nightly-report",
            status="applied",
            original={},
            intended={"action": "create", "name": "nightly-report"},
        ),
    }
    for entry in forged.values():
        entry.journaled_at = attach.journaled_at
    return forged


def forge_original_values(site: Site, run: DeadRun, forgery: str) -> None:
    """The run's own $LATEST entry: original values it never had (a wrapper, a live config,
    a key it does not own) and a layer ARN that is not ours."""
    live_config = extension_config.dump_config(
        {"latency": {"ms": 9000, "rate": 1.0}},
        run_id=run.journal.run_id,
        expires_at=time.time() + 86_400,
    )

    def change(entry: JournalEntry) -> None:
        entry.original["environment_overwritten"] = {
            extension_config.EXEC_WRAPPER_ENV_KEY: "/tmp/attacker-wrapper",
            extension_config.CONFIG_ENV_KEY: live_config,
            "AWS_ENDPOINT_URL": "https://attacker.example",
        }
        entry.intended["layer_arn"] = site.their_layer

    edit(run, entry_of(run, "lambda-extension:").entry_id, change, forgery)


@pytest.mark.parametrize("forgery", FORGERIES)
@pytest.mark.parametrize("restorer", RESTORERS)
def test_an_edited_journal_restores_the_runs_changes_and_writes_nothing_else(
    site: Site,
    tmp_path: Path,
    toolkit_calls: ToolkitCalls,
    capsys: pytest.CaptureFixture[str],
    restorer: str,
    forgery: str,
) -> None:
    # The unlocked function carries what restore would recognise as the fault: our wrapper,
    # a config naming this run - only its lock is missing.
    run_id = f"20240601T100000Z-forged-{restorer}-bbbbbb"
    client("lambda").update_function_configuration(
        FunctionName="payments",
        Environment={
            "Variables": {
                "TABLE": "payments",
                extension_config.EXEC_WRAPPER_ENV_KEY: extension_config.WRAPPER_PATH,
                extension_config.CONFIG_ENV_KEY: extension_config.dump_config(
                    {"latency": {"ms": 1, "rate": 0.1}},
                    run_id=run_id,
                    expires_at=time.time() + 3600,
                ),
            }
        },
    )
    before = account_state()
    run = start_run(tmp_path, run_id)
    lambda_extension(run, ["orders"])
    az_loss(run, {"lambda": ["orders"]})
    forged = forged_entries(site, run)
    for entry in forged.values():
        add(run, entry)
    forge_original_values(site, run, forgery)
    toolkit_calls.calls.clear()

    restored = restore(run, restorer, capsys)

    assert restored.exit_code == 0, restored.output
    assert account_state() == before, "the run's changes undone, nothing else changed"
    assert (
        toolkit_calls.writes_naming(
            "payments",
            site.ecs_service_arn,
            "workers",
            site.load_balancer_arn,
            site.other_vpc_subnet,
            site.their_acl,
            "nightly-report",
        )
        == []
    )
    for name, entry in forged.items():
        assert restored.status_of(entry.entry_id) == "refused", name
        assert entry.target in restored.output, name
    refused = restored.detail_of(forged["payments"].entry_id)
    assert "does not carry this run's lock" in refused and "was its lock removed?" in refused
    assert "not deleted" in restored.detail_of(forged["acl"].entry_id)
    assert "not named for run" in restored.detail_of(forged["schedule"].entry_id)
    attach = entry_of(run, "lambda-extension:")
    if forgery == "revision":  # the chain left the edit out: the run's own record is used
        assert left_out(restored, attach.entry_id), restored.output
        assert restored.status_of(attach.entry_id) == "restored"
    else:  # the forged values reached the restore, which writes none of them
        assert not left_out(restored, attach.entry_id), restored.output
        assert restored.status_of(attach.entry_id) == "drifted"
        detail = restored.detail_of(attach.entry_id)
        assert "never overwrites: not written" in detail and "cannot be verified" in detail
    assert "attacker" not in json.dumps(account_state())
    assert restored.status_of(entry_of(run, "az-loss:").entry_id) == "restored"
    if restorer == "rollback":
        assert f"refused {len(forged)} (nothing written)" in restored.output
    else:
        assert json.loads(restored.output)["refused"] == len(forged), restored.output


def alias_site() -> None:
    """checkout: version 1 (code A), version 2 (code B), $LATEST code A again; live -> 1."""
    create_function("checkout", Code={"ZipFile": code_zip("def handler(e, c):\n    return 1\n")})
    lambda_ = client("lambda")
    lambda_.publish_version(FunctionName="checkout", Description="release 1")
    for body, publish in (
        ("def handler(e, c):\n    return 2\n", True),
        ("def handler(e, c):\n    return 1\n", False),
    ):
        lambda_.update_function_code(FunctionName="checkout", ZipFile=code_zip(body))
        if publish:
            lambda_.publish_version(FunctionName="checkout", Description="release 2")
    lambda_.create_alias(FunctionName="checkout", Name="live", FunctionVersion="1")


@pytest.mark.parametrize("forgery", FORGERIES)
@pytest.mark.parametrize("restorer", RESTORERS)
def test_an_alias_original_version_with_other_code_is_never_written(
    aws: None,
    tmp_path: Path,
    toolkit_calls: ToolkitCalls,
    capsys: pytest.CaptureFixture[str],
    restorer: str,
    forgery: str,
) -> None:
    alias_site()
    lambda_ = client("lambda")
    codes = {
        version: lambda_.get_function_configuration(FunctionName="checkout", Qualifier=version)[
            "CodeSha256"
        ]
        for version in ("1", "2")
    }
    assert codes["1"] != codes["2"]
    run = start_run(tmp_path, f"20240601T100000Z-alias-{restorer}-cccccc")
    lambda_extension(run, ["checkout:live"])
    fault_version = lambda_.get_alias(FunctionName="checkout", Name="live")["FunctionVersion"]
    alias_entry = next(entry for entry in run.journal.entries if ":alias:" in entry.entry_id)
    edit(
        run,
        alias_entry.entry_id,
        lambda entry: entry.original.update(function_version="2"),
        forgery,
    )
    toolkit_calls.calls.clear()

    restored = restore(run, restorer, capsys)

    alias_versions = [
        params.get("FunctionVersion")
        for _, operation, params in toolkit_calls.writes()
        if operation == "UpdateAlias"
    ]
    live = lambda_.get_alias(FunctionName="checkout", Name="live")["FunctionVersion"]
    if forgery == "revision":  # the chain left the edit out: back on version 1
        assert restored.exit_code == 0, restored.output
        assert left_out(restored, alias_entry.entry_id), restored.output
        assert alias_versions == ["1"] and live == "1"
        assert restored.status_of(alias_entry.entry_id) == "restored"
        return
    assert restored.exit_code == 4, restored.output
    assert alias_versions == []
    assert live == fault_version, "the alias is never pointed at the journal's version 2"
    assert restored.status_of(alias_entry.entry_id) == "failed"
    assert "other code (CodeSha256)" in restored.detail_of(alias_entry.entry_id)
    assert "other code (CodeSha256)" in restored.output


@pytest.mark.parametrize("forgery", FORGERIES)
@pytest.mark.parametrize("forged", ["unmarked", "another-vpc", "another-az"])
@pytest.mark.parametrize("restorer", RESTORERS)
def test_subnets_the_run_did_not_remove_are_never_put_back(
    site: Site,
    tmp_path: Path,
    toolkit_calls: ToolkitCalls,
    capsys: pytest.CaptureFixture[str],
    restorer: str,
    forged: str,
    forgery: str,
) -> None:
    run_id = f"20240601T100000Z-subnets-{restorer}-dddddd"
    # Marked as if the run had removed them, where the check under test is not the mark.
    subnet = {
        "unmarked": site.spare_subnets["use1-az1"],
        "another-vpc": site.other_vpc_subnet,
        "another-az": site.spare_subnets["use1-az2"],
    }[forged]
    if forged != "unmarked":
        client("ec2").create_tags(
            Resources=[subnet], Tags=[{"Key": removed_subnet_tag(run_id), "Value": run_id}]
        )
    before = account_state()
    run = start_run(tmp_path, run_id)
    az_loss(run, {"lambda": ["orders"]})
    pin = entry_of(run, "az-loss:")
    edit(run, pin.entry_id, lambda entry: entry.original["subnet_ids"].append(subnet), forgery)
    during = account_state()
    toolkit_calls.calls.clear()

    restored = restore(run, restorer, capsys)

    assert toolkit_calls.writes_naming(subnet) == []
    if forgery == "revision":  # the chain left the edit out: the run's own subnets are back
        assert restored.exit_code == 0, restored.output
        assert left_out(restored, pin.entry_id), restored.output
        assert account_state() == before
        assert restored.status_of(pin.entry_id) == "restored"
        return
    assert restored.exit_code == 4, restored.output
    assert [
        call for call in toolkit_calls.writes() if call[1] == "UpdateFunctionConfiguration"
    ] == [], "nothing written"
    assert_kept(during, run, restorer, "still pinned, still locked: the journal is kept")
    assert restored.status_of(pin.entry_id) == "failed"
    reason = {
        "unmarked": "was not removed by this run",
        "another-vpc": "not in the workload's VPC",
        "another-az": "not in the lost AZ ID",
    }[forged]
    assert reason in restored.detail_of(pin.entry_id)


@pytest.mark.parametrize("forgery", FORGERIES)
@pytest.mark.parametrize("restorer", RESTORERS)
def test_the_acl_put_back_is_the_one_the_subnet_recorded_not_the_journals(
    site: Site,
    tmp_path: Path,
    toolkit_calls: ToolkitCalls,
    capsys: pytest.CaptureFixture[str],
    restorer: str,
    forgery: str,
) -> None:
    before = account_state()
    run = start_run(tmp_path, f"20240601T100000Z-acl-{restorer}-eeeeee")
    az_loss(run, {"lambda": ["orders"]}, mode="blackhole")
    [association] = [entry for entry in run.journal.entries if ":subnet:" in entry.entry_id]
    edit(
        run,
        association.entry_id,
        lambda entry: entry.original.update(network_acl_id=site.their_acl),
        forgery,
    )
    toolkit_calls.calls.clear()

    restored = restore(run, restorer, capsys)

    assert restored.exit_code == 0, restored.output
    assert toolkit_calls.writes_naming(site.their_acl) == []
    assert account_state() == before, "back on the ACL it had, the run's ACL deleted"
    if forgery == "revision":  # the chain left the edit out: the run's own record is used
        assert left_out(restored, association.entry_id), restored.output
        assert restored.status_of(association.entry_id) == "restored"
        return
    assert not left_out(restored, association.entry_id), restored.output
    assert restored.status_of(association.entry_id) == "drifted"
    assert f"the journal names {site.their_acl}" in restored.detail_of(association.entry_id)
