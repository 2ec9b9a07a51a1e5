"""Capacity spread over Availability Zones, and how fast it moves (ECS and Auto Scaling).

Both schedulers of :mod:`chaos.sandbox.capacity.placement` spread their tasks / instances
evenly over
the Availability Zones of their current subnets, as AWS does: Fargate "will try its best to
spread tasks across accessible Availability Zones" ("How Amazon ECS places tasks",
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-placement.html); an Auto
Scaling group "maintains an equal number of instances across enabled Availability Zones"
("Auto Scaling group Availability Zone distribution", https://docs.aws.amazon.com/
autoscaling/ec2/userguide/ec2-auto-scaling-availability-zone-balanced.html).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chaos.errors import ConfigurationError
from chaos.sandbox.realism import Realism

DRAIN_ENV = "GAMEDAY_SANDBOX_DRAIN_S"
# The sandbox's drain time (PRODUCT.md, "Sandbox realism"). On AWS it is what the service is
# configured with: a load balancer's deregistration delay (300 s by default) and the task's
# stop timeout ("Load balancer connection draining", https://docs.aws.amazon.com/AmazonECS/
# latest/bestpracticesguide/load-balancer-connection-draining.html).
DEFAULT_DRAIN_S = 20.0


@dataclass(frozen=True)
class Slot:
    """A subnet capacity can be placed in, and its Availability Zone (name, as AWS shows it)."""

    subnet_id: str
    az_name: str


@dataclass(frozen=True)
class MoveTiming:
    """How fast capacity moves: `drain_s` after its replacement runs, or all at once."""

    drain_s: float
    immediate: bool

    @classmethod
    def for_realism(cls, realism: Realism, drain_s: float = DEFAULT_DRAIN_S) -> MoveTiming:
        if not realism.aws:
            return cls(drain_s=0.0, immediate=True)
        return cls(drain_s=realism.delay(drain_s), immediate=False)


def drain_seconds(environ: Mapping[str, str]) -> float:
    raw = environ.get(DRAIN_ENV) or ""
    if not raw:
        return DEFAULT_DRAIN_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ConfigurationError(f"{DRAIN_ENV}={raw!r}: expected a number of seconds >= 0")
    return value


def spread(count: int, slots: Sequence[Slot], current: Mapping[str, int]) -> dict[str, int]:
    """How many units each subnet should hold: evenly over the AZs, then over each AZ's subnets.

    The units that do not divide evenly go where units already are (the fewest moves), then
    in subnet order. ``current`` counts units per subnet id.
    """
    zones: dict[str, list[Slot]] = {}
    for slot in slots:
        zones.setdefault(slot.az_name, []).append(slot)
    targets: dict[str, int] = {}
    zone_groups = list(zones.values())
    zone_counts = _share(count, zone_groups, current)
    for zone_slots, zone_count in zip(zone_groups, zone_counts, strict=True):
        slot_counts = _share(zone_count, [[slot] for slot in zone_slots], current)
        for slot, slot_count in zip(zone_slots, slot_counts, strict=True):
            targets[slot.subnet_id] = slot_count
    return targets


def _share(count: int, groups: Sequence[Sequence[Slot]], current: Mapping[str, int]) -> list[int]:
    if not groups:
        return []
    base, extra = divmod(count, len(groups))
    held = [sum(current.get(slot.subnet_id, 0) for slot in group) for group in groups]
    favoured = sorted(range(len(groups)), key=lambda index: (-held[index], index))[:extra]
    return [base + (index in favoured) for index in range(len(groups))]


def surplus_and_deficit(
    targets: Mapping[str, int], placed: Mapping[str, int]
) -> tuple[dict[str, int], list[str]]:
    """Units to remove per subnet (subnets not in `targets` lose all) and subnets to fill."""
    surplus = {
        subnet: count - targets.get(subnet, 0)
        for subnet, count in placed.items()
        if count > targets.get(subnet, 0)
    }
    deficit = [
        subnet for subnet, target in targets.items() for _ in range(target - placed.get(subnet, 0))
    ]
    return surplus, deficit
