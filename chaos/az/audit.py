"""`gameday az-audit`: which workloads have capacity in which AZ IDs, across accounts.

AZ names differ per account, so accounts are lined up by AZ ID. A workload whose
subnets are all in one AZ ID loses all capacity when that AZ fails; a service whose
dependency runs in a different set of AZ IDs is down when the dependency's AZs fail,
even if the service itself still has capacity.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from chaos.aws import AwsClients
from chaos.aws.subnets import describe_subnets
from chaos.aws.workloads import PLACEMENTS
from chaos.az.mapping import AzMapping, load_az_mapping
from chaos.errors import InputError

if TYPE_CHECKING:
    from chaos.aws.workloads import Workload


@dataclass
class PlacedWorkload:
    account: str
    kind: str
    name: str
    arn: str
    az_ids: list[str]
    label: str = ""

    def matches(self, ref: str) -> bool:
        return ref in (
            self.arn,
            self.name,
            f"{self.kind}:{self.name}",
            f"{self.account}:{self.name}",
            f"{self.account}:{self.kind}:{self.name}",
        )


@dataclass
class AccountInventory:
    account: str
    mapping: AzMapping
    workloads: list[PlacedWorkload]


@dataclass(frozen=True)
class Dependency:
    service: str
    dependency: str


@dataclass
class DependencyFinding:
    service: str
    service_az_ids: list[str]
    dependency: str
    dependency_az_ids: list[str]
    cross_account: bool
    message: str


@dataclass
class AuditReport:
    region: str
    accounts: list[AccountInventory]
    findings: list[DependencyFinding] = field(default_factory=list)

    @property
    def az_ids(self) -> list[str]:
        return sorted(
            {zone for account in self.accounts for zone in account.mapping.zone_ids}
            | {
                zone
                for account in self.accounts
                for workload in account.workloads
                for zone in workload.az_ids
            }
        )

    def capacity_in(self, account: AccountInventory, az_id: str) -> list[str]:
        return [w.label for w in account.workloads if az_id in w.az_ids]

    def single_az_in(self, account: AccountInventory, az_id: str) -> list[str]:
        """Workloads that lose ALL capacity if `az_id` fails."""
        return [w.label for w in account.workloads if w.az_ids == [az_id]]

    @property
    def has_findings(self) -> bool:
        """A workload that one AZ ID failure takes down, or a mismatched dependency."""
        return bool(self.findings) or any(
            self.single_az_in(account, az_id) for account in self.accounts for az_id in self.az_ids
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "accounts": [
                {
                    "account": account.account,
                    "az_mapping": {zone.zone_id: zone.name for zone in account.mapping.zones},
                    "workloads": [asdict(workload) for workload in account.workloads],
                }
                for account in self.accounts
            ],
            "az_ids": [
                {
                    "az_id": az_id,
                    "accounts": {
                        account.account: {
                            "az_name": account.mapping.name_of(az_id),
                            "capacity": self.capacity_in(account, az_id),
                            "would_lose_all_capacity": self.single_az_in(account, az_id),
                        }
                        for account in self.accounts
                    },
                }
                for az_id in self.az_ids
            ],
            "dependency_findings": [asdict(finding) for finding in self.findings],
        }


# -- inventory ------------------------------------------------------------------------


def take_inventory(clients: AwsClients, account: str) -> AccountInventory:
    """Every placed workload of the account's region, with the AZ IDs of its subnets."""
    mapping = load_az_mapping(clients)
    workloads: list[Workload] = [
        workload
        for placement in PLACEMENTS.values()
        for workload in placement.list_all(clients, with_tags=False)
    ]
    subnets = describe_subnets(
        clients, [s for workload in workloads for s in workload.subnet_ids], mapping
    )
    placed = [
        PlacedWorkload(
            account,
            workload.kind,
            workload.name,
            workload.arn,
            sorted({subnets[s].az_id for s in workload.subnet_ids}),
        )
        for workload in workloads
    ]
    return AccountInventory(account, mapping, sorted(placed, key=lambda w: (w.kind, w.name)))


def audit(
    inventories: list[AccountInventory], dependencies: list[Dependency], region: str
) -> AuditReport:
    several = len(inventories) > 1
    for inventory in inventories:
        for workload in inventory.workloads:
            prefix = f"{inventory.account}/" if several else ""
            workload.label = f"{prefix}{workload.kind}:{workload.name}"
    findings = [
        finding
        for dependency in dependencies
        if (finding := check_dependency(inventories, dependency)) is not None
    ]
    return AuditReport(region, inventories, findings)


def check_dependency(
    inventories: list[AccountInventory], dependency: Dependency
) -> DependencyFinding | None:
    service = find_workload(inventories, dependency.service)
    needed = find_workload(inventories, dependency.dependency)
    if service.az_ids == needed.az_ids:
        return None
    service_only = [zone for zone in service.az_ids if zone not in needed.az_ids]
    if service_only:
        message = (
            f"{service.label} runs in {', '.join(service.az_ids)} but depends on "
            f"{needed.label} in {', '.join(needed.az_ids)}: losing "
            f"{' + '.join(needed.az_ids)} takes {needed.label} down while "
            f"{service.label} still has capacity in {', '.join(service_only)}"
        )
    else:
        message = (
            f"{service.label} runs in {', '.join(service.az_ids)}, its dependency "
            f"{needed.label} in {', '.join(needed.az_ids)}: different AZ IDs"
        )
    return DependencyFinding(
        service.label,
        service.az_ids,
        needed.label,
        needed.az_ids,
        service.account != needed.account,
        message,
    )


def find_workload(inventories: list[AccountInventory], ref: str) -> PlacedWorkload:
    matches = [w for inventory in inventories for w in inventory.workloads if w.matches(ref)]
    if not matches:
        raise InputError(
            f"--depends-on: no workload {ref!r} in the audited accounts "
            "(write NAME, KIND:NAME or ACCOUNT:NAME; kinds lambda, ecs, asg, elb)"
        )
    if len(matches) > 1:
        raise InputError(
            f"--depends-on: {ref!r} is ambiguous: "
            + ", ".join(w.label or f"{w.account}:{w.kind}:{w.name}" for w in matches)
        )
    return matches[0]


def parse_dependency(text: str) -> Dependency:
    service, sep, needed = text.partition("=")
    if not sep or not service.strip() or not needed.strip():
        raise InputError(f"--depends-on expects SERVICE=DEPENDENCY, not {text!r}")
    return Dependency(service.strip(), needed.strip())


def clients_for_profile(profile: str | None, region: str) -> AwsClients:
    """Clients of one audited account (a seam tests replace)."""
    return AwsClients(region=region, profile=profile)


# -- output ---------------------------------------------------------------------------


def render_json(report: AuditReport) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False)


def table_rows(report: AuditReport) -> list[list[str]]:
    rows = []
    for az_id in report.az_ids:
        for account in report.accounts:
            rows.append(
                [
                    az_id,
                    account.account,
                    account.mapping.name_of(az_id) or "(not in account)",
                    ", ".join(report.capacity_in(account, az_id)) or "-",
                    ", ".join(report.single_az_in(account, az_id)) or "-",
                ]
            )
    return rows


TABLE_HEADERS = ["AZ ID", "account", "AZ name", "capacity there", "would lose ALL capacity"]


def render_table(report: AuditReport) -> str:
    """A plain-text table (one line per AZ ID and account), then the dependency findings."""
    rows = [TABLE_HEADERS, *table_rows(report)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(TABLE_HEADERS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    lines.extend(finding_lines(report))
    return "\n".join(lines)


def finding_lines(report: AuditReport) -> list[str]:
    if not report.findings:
        return []
    return ["", "dependency AZ mismatches:"] + [f"  ! {f.message}" for f in report.findings]


def print_table(report: AuditReport) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency
        print(render_table(report))
        return
    table = Table(title=f"AZ audit, region {report.region} (by AZ ID)")
    for header in TABLE_HEADERS:
        table.add_column(header, overflow="fold")
    for row in table_rows(report):
        table.add_row(*row)
    console = Console()
    console.print(table)
    for line in finding_lines(report):
        console.print(line, markup=False, highlight=False)
