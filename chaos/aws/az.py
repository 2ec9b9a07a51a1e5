"""The account's AZ name <-> AZ ID mapping (names differ per account; IDs do not)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

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
