"""The account's AZ name <-> AZ ID mapping (names differ per account; IDs do not)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from chaos.errors import PreflightRefused

if TYPE_CHECKING:
    from chaos.aws.clients import AwsClients


@dataclass(frozen=True)
class AvailabilityZone:
    name: str
    zone_id: str


def az_mapping(clients: AwsClients) -> list[AvailabilityZone]:
    """Opted-in `availability-zone` zones of the region, sorted by AZ ID."""
    response = clients.client("ec2").describe_availability_zones(
        Filters=[{"Name": "zone-type", "Values": ["availability-zone"]}]
    )
    zones = [
        AvailabilityZone(zone["ZoneName"], zone["ZoneId"])
        for zone in response["AvailabilityZones"]
        if zone.get("OptInStatus", "opt-in-not-required") != "not-opted-in"
    ]
    return sorted(zones, key=lambda zone: zone.zone_id)


@dataclass(frozen=True)
class AzMapping:
    """One account's name <-> ID mapping for one region."""

    region: str
    zones: tuple[AvailabilityZone, ...]

    def name_of(self, zone_id: str) -> str | None:
        return next((zone.name for zone in self.zones if zone.zone_id == zone_id), None)

    def id_of(self, name: str) -> str | None:
        return next((zone.zone_id for zone in self.zones if zone.name == name), None)

    @property
    def zone_ids(self) -> list[str]:
        return [zone.zone_id for zone in self.zones]

    def describe(self) -> str:
        """`use1-az1=us-east-1b, ...`, sorted by AZ ID (for one-line messages)."""
        return ", ".join(f"{zone.zone_id}={zone.name}" for zone in self.zones)

    def label(self, zone_id: str) -> str:
        """`use1-az1 (us-east-1b)`: the ID, with this account's name for it."""
        name = self.name_of(zone_id)
        return f"{zone_id} ({name})" if name else zone_id


def load_az_mapping(clients: AwsClients) -> AzMapping:
    return AzMapping(clients.region, tuple(az_mapping(clients)))


def require_az_id(mapping: AzMapping, zone_id: str) -> AvailabilityZone:
    """The zone with this AZ ID; PreflightRefused, showing the mapping, if the region lacks it."""
    for zone in mapping.zones:
        if zone.zone_id == zone_id:
            return zone
    raise PreflightRefused(
        f"az_id {zone_id} is not an available AZ of {mapping.region} in this account; "
        f"its AZ IDs: {mapping.describe() or 'none'}"
    )
