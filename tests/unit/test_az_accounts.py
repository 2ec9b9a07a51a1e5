"""Two accounts whose AZ name -> ID maps differ (botocore Stubber: moto maps every account alike).

The same az_id must select differently named subnets in each account, and az-audit must
line the accounts up by AZ ID and flag a dependency running in other AZ IDs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chaos.aws import AwsClients
from chaos.az import audit as az_audit
from chaos.cli import main
from chaos.faults import AzLossFault, FaultContext
from chaos.faults.az_loss.spec import AzLossSpec

REGION = "us-east-1"
ZONE_NAMES = ("us-east-1a", "us-east-1b", "us-east-1c")


@dataclass
class Account:
    label: str
    account_id: str
    name_to_id: dict[str, str]
    # The function's subnets, by the account's AZ name.
    function_zones: tuple[str, ...]

    def subnet_id(self, zone_name: str) -> str:
        return f"subnet-{self.account_id[-4:]}{zone_name[-1]}"

    def subnet(self, zone_name: str, *, with_zone_id: bool) -> dict[str, Any]:
        subnet: dict[str, Any] = {
            "SubnetId": self.subnet_id(zone_name),
            "VpcId": f"vpc-{self.account_id[-4:]}",
            "AvailabilityZone": zone_name,
            "Tags": [{"Key": "Name", "Value": f"{self.label}-{zone_name}"}],
        }
        if with_zone_id:
            subnet["AvailabilityZoneId"] = self.name_to_id[zone_name]
        return subnet

    @property
    def function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{self.account_id}:function:{self.label}-api"


# The same physical zone use1-az1 is "us-east-1a" in one account and "us-east-1c" in the other.
ORDERS = Account(
    "orders",
    "111111111111",
    {"us-east-1a": "use1-az1", "us-east-1b": "use1-az2", "us-east-1c": "use1-az3"},
    ("us-east-1a", "us-east-1b"),
)
PAYMENTS = Account(
    "payments",
    "222222222222",
    {"us-east-1a": "use1-az2", "us-east-1b": "use1-az3", "us-east-1c": "use1-az1"},
    ("us-east-1c", "us-east-1b"),
)


def zones_response(account: Account) -> dict[str, Any]:
    return {
        "AvailabilityZones": [
            {
                "ZoneName": name,
                "ZoneId": account.name_to_id[name],
                "ZoneType": "availability-zone",
                "OptInStatus": "opt-in-not-required",
                "State": "available",
                "RegionName": REGION,
            }
            for name in ZONE_NAMES
        ]
    }


def function_config(account: Account) -> dict[str, Any]:
    return {
        "FunctionName": f"{account.label}-api",
        "FunctionArn": account.function_arn,
        "Runtime": "python3.12",
        "VpcConfig": {
            "SubnetIds": [account.subnet_id(name) for name in account.function_zones],
            "SecurityGroupIds": ["sg-1"],
            "VpcId": f"vpc-{account.account_id[-4:]}",
        },
    }


class StubbedAccount:
    """AwsClients whose clients answer from queued responses, checked at the end."""

    def __init__(self) -> None:
        self.clients = AwsClients(region=REGION)
        self.stubbers: dict[str, Stubber] = {}

    def stub(self, service: str) -> Stubber:
        if service not in self.stubbers:
            client = boto3.client(
                service, region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x"
            )
            self.clients._cache[service] = client
            self.stubbers[service] = Stubber(client)
            self.stubbers[service].activate()
        return self.stubbers[service]

    def verify(self) -> None:
        for stubber in self.stubbers.values():
            stubber.assert_no_pending_responses()


def stub_subnets(stubbed: StubbedAccount, account: Account, *, with_zone_id: bool) -> None:
    stubbed.stub("ec2").add_response(
        "describe_subnets",
        {
            "Subnets": [
                account.subnet(name, with_zone_id=with_zone_id) for name in account.function_zones
            ]
        },
    )


@pytest.fixture
def no_aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    yield


@pytest.mark.usefixtures("no_aws_env")
@pytest.mark.parametrize(
    ("account", "with_zone_id", "removed_name"),
    [
        (ORDERS, True, "orders-us-east-1a"),
        # Without AvailabilityZoneId the subnet's AZ ID comes from the account's own mapping.
        (PAYMENTS, False, "payments-us-east-1c"),
    ],
)
def test_same_az_id_selects_differently_named_subnets(
    account: Account, with_zone_id: bool, removed_name: str
) -> None:
    stubbed = StubbedAccount()
    stubbed.stub("ec2").add_response("describe_availability_zones", zones_response(account))
    stubbed.stub("lambda").add_response("get_function_configuration", function_config(account))
    stubbed.stub("lambda").add_response("list_tags", {"Tags": {}})
    stub_subnets(stubbed, account, with_zone_id=with_zone_id)
    spec = AzLossSpec.model_validate(
        {"type": "az-loss", "az_id": "use1-az1", "targets": {"lambda": [f"{account.label}-api"]}}
    )

    [change] = AzLossFault(spec, FaultContext(stubbed.clients, "run-1", time.time())).plan()

    stubbed.verify()
    lost_zone = next(name for name, zone in account.name_to_id.items() if zone == "use1-az1")
    removed = account.subnet_id(lost_zone)
    assert change.intended["removed_subnet_ids"] == [removed]
    assert change.summary[0] == (
        f"remove subnet {removed} ({removed_name}) in use1-az1 ({lost_zone})"
    )
    assert change.intended["subnet_ids"] == [account.subnet_id("us-east-1b")]


def stub_inventory(account: Account) -> StubbedAccount:
    stubbed = StubbedAccount()
    stubbed.stub("ec2").add_response("describe_availability_zones", zones_response(account))
    stubbed.stub("lambda").add_response("list_functions", {"Functions": [function_config(account)]})
    stubbed.stub("ecs").add_response("list_clusters", {"clusterArns": []})
    stubbed.stub("autoscaling").add_response(
        "describe_auto_scaling_groups", {"AutoScalingGroups": []}
    )
    stubbed.stub("elbv2").add_response("describe_load_balancers", {"LoadBalancers": []})
    stub_subnets(stubbed, account, with_zone_id=True)
    return stubbed


@pytest.mark.usefixtures("no_aws_env")
def test_az_audit_lines_up_accounts_by_az_id_and_flags_the_mismatched_dependency(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stubbed = {"orders-prod": stub_inventory(ORDERS), "payments-prod": stub_inventory(PAYMENTS)}
    monkeypatch.setattr(
        az_audit, "clients_for_profile", lambda profile, region: stubbed[profile].clients
    )

    code = main(
        [
            "az-audit",
            "--region",
            REGION,
            "--profile",
            "orders-prod",
            "--profile",
            "payments-prod",
            "--json",
            "--depends-on",
            "orders-api=payments-prod:payments-api",
            "--fail-on-findings",
        ]
    )

    assert code == 1, "the mismatched dependency fails the --fail-on-findings gate"
    for account in stubbed.values():
        account.verify()
    report = json.loads(capsys.readouterr().out)
    by_az = {row["az_id"]: row["accounts"] for row in report["az_ids"]}
    assert by_az["use1-az1"]["orders-prod"]["az_name"] == "us-east-1a"
    assert by_az["use1-az1"]["payments-prod"]["az_name"] == "us-east-1c"
    assert by_az["use1-az2"]["orders-prod"]["capacity"] == ["orders-prod/lambda:orders-api"]
    assert by_az["use1-az2"]["payments-prod"]["capacity"] == []
    assert by_az["use1-az3"]["payments-prod"]["capacity"] == ["payments-prod/lambda:payments-api"]
    [finding] = report["dependency_findings"]
    assert finding["service_az_ids"] == ["use1-az1", "use1-az2"]
    assert finding["dependency_az_ids"] == ["use1-az1", "use1-az3"]
    assert finding["cross_account"] is True
    assert (
        "losing use1-az1 + use1-az3 takes payments-prod/lambda:payments-api down"
        in (finding["message"])
    )


def test_audit_table_names_single_az_workloads_and_findings() -> None:
    mapping = az_audit.AzMapping(REGION, ())
    inventory = az_audit.AccountInventory(
        "solo",
        mapping,
        [
            az_audit.PlacedWorkload("solo", "asg", "batch", "arn:batch", ["use1-az2"]),
            az_audit.PlacedWorkload("solo", "lambda", "api", "arn:api", ["use1-az1", "use1-az2"]),
            az_audit.PlacedWorkload(
                "solo", "lambda", "db-proxy", "arn:db", ["use1-az1", "use1-az2"]
            ),
        ],
    )
    report = az_audit.audit(
        [inventory],
        [az_audit.parse_dependency("api=asg:batch"), az_audit.parse_dependency("api=db-proxy")],
        REGION,
    )
    lines = az_audit.render_table(report).splitlines()
    az2 = next(line for line in lines if line.startswith("use1-az2"))
    assert az2.split()[-1] == "asg:batch", "batch loses ALL capacity if use1-az2 fails"
    az1 = next(line for line in lines if line.startswith("use1-az1"))
    assert az1.rstrip().endswith("-")
    assert len(report.findings) == 1, "db-proxy runs where api runs: no finding"
    assert "lambda:api runs in use1-az1, use1-az2 but depends on asg:batch" in lines[-1]


def test_depends_on_must_name_a_known_workload() -> None:
    inventory = az_audit.AccountInventory("solo", az_audit.AzMapping(REGION, ()), [])
    with pytest.raises(az_audit.InputError, match="no workload 'api'"):
        az_audit.audit([inventory], [az_audit.parse_dependency("api=db")], REGION)
    with pytest.raises(az_audit.InputError, match="SERVICE=DEPENDENCY"):
        az_audit.parse_dependency("api")


def test_has_findings_is_the_ci_gate_of_az_audit() -> None:
    mapping = az_audit.AzMapping(REGION, ())

    def report(*workloads: az_audit.PlacedWorkload) -> az_audit.AuditReport:
        return az_audit.audit(
            [az_audit.AccountInventory("solo", mapping, list(workloads))], [], REGION
        )

    spread = az_audit.PlacedWorkload("solo", "lambda", "api", "arn:api", ["use1-az1", "use1-az2"])
    single = az_audit.PlacedWorkload("solo", "asg", "batch", "arn:batch", ["use1-az2"])
    assert not report(spread).has_findings
    assert report(spread, single).has_findings
