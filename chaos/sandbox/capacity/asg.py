"""Auto Scaling groups as AWS balances them: instances spread over their subnets' AZs.

moto starts every instance of a group in its first subnet and leaves instances where they
are when ``VPCZoneIdentifier`` changes. :class:`AsgScheduler` does what Amazon EC2 Auto
Scaling does: instances moto starts on its own are placed evenly over the Availability
Zones of the group's subnets, as if launched there; and when the subnets change, each
instance in a removed subnet (or one too many in an AZ) is replaced by rebalancing:
"Actions such as changing the Availability Zones for your group ... can lead to the Auto
Scaling group becoming unbalanced between Availability Zones. Amazon EC2 Auto Scaling
compensates by rebalancing the Availability Zones. When rebalancing, Amazon EC2 Auto
Scaling launches new instances before terminating the old ones" (AZRebalance, "Suspend and
resume Amazon EC2 Auto Scaling processes", https://docs.aws.amazon.com/autoscaling/ec2/
userguide/as-suspend-resume-processes.html). The replacement is ``Pending`` then
``InService``; the old instance is then ``Terminating`` for the drain time, and leaves the
group (its EC2 instance terminated).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from moto.autoscaling.models import ASG_NAME_TAG, InstanceState, autoscaling_backends

from chaos.sandbox.capacity.az_spread import MoveTiming, Slot, spread, surplus_and_deficit

CAPACITY_STATES = ("Pending", "InService")


def subnet_of(state: Any) -> str:
    return str(state.instance.subnet_id or "")


class AsgScheduler:
    """Places and rebalances the instances of every VPC Auto Scaling group in moto."""

    def __init__(self, autoscaling: Any) -> None:
        self.autoscaling = autoscaling
        self._known: set[str] = set()  # instance ids placed (or adopted) here
        self._replacing: dict[str, str] = {}  # instance id -> id of its replacement
        self._drain_until: dict[str, float] = {}  # instance id -> when it leaves the group

    @classmethod
    def of(cls, region: str, account_id: str) -> AsgScheduler:
        return cls(autoscaling_backends[account_id][region])

    @property
    def ec2(self) -> Any:
        return self.autoscaling.ec2_backend

    def api_changes(self) -> list[tuple[Any, str]]:
        return [
            (self.autoscaling, "create_auto_scaling_group"),
            (self.autoscaling, "update_auto_scaling_group"),
            (self.autoscaling, "set_desired_capacity"),
        ]

    def step(self, now: float, timing: MoveTiming) -> bool:
        changed = False
        for group in list(self.autoscaling.autoscaling_groups.values()):
            if group.vpc_zone_identifier:
                changed = self._step_group(group, now, timing) or changed
        return changed

    def _step_group(self, group: Any, now: float, timing: MoveTiming) -> bool:
        slots = self._slots(group)
        changed = self._finish_drains(group, now)
        changed = self._put_in_service(group) or changed
        changed = self._adopt(group, slots) or changed
        changed = self._start_moves(group, slots) or changed
        return self._drain_replaced(group, now, timing) or changed

    def _slots(self, group: Any) -> list[Slot]:
        slots = []
        for subnet_id in str(group.vpc_zone_identifier).split(","):
            try:
                slots.append(
                    Slot(
                        subnet_id.strip(),
                        str(self.ec2.get_subnet(subnet_id.strip()).availability_zone),
                    )
                )
            except Exception:  # noqa: BLE001 - a deleted subnet holds no instances
                continue
        return slots

    def _finish_drains(self, group: Any, now: float) -> bool:
        done = {
            state.instance_id
            for state in group.instance_states
            if self._drain_until.get(state.instance_id, float("inf")) <= now
        }
        if not done:
            return False
        # Copy-on-write: moto's request threads may be iterating over the list.
        group.instance_states = [
            state for state in group.instance_states if state.instance_id not in done
        ]
        self.ec2.terminate_instances(sorted(done))
        for instance_id in done:
            del self._drain_until[instance_id]
            self._replacing.pop(instance_id, None)
            self._known.discard(instance_id)
        return True

    @staticmethod
    def _put_in_service(group: Any) -> bool:
        pending = [state for state in group.instance_states if state.lifecycle_state == "Pending"]
        for state in pending:
            state.lifecycle_state = "InService"
        return bool(pending)

    def _capacity(self, group: Any) -> list[Any]:
        """The instances that count: not leaving, not being replaced."""
        return [
            state
            for state in group.instance_states
            if state.lifecycle_state in CAPACITY_STATES and state.instance_id not in self._replacing
        ]

    def _adopt(self, group: Any, slots: list[Slot]) -> bool:
        """Place the instances moto started on its own where Auto Scaling would have."""
        capacity = self._capacity(group)
        strangers = [state for state in capacity if state.instance_id not in self._known]
        if not strangers:
            return False
        placed = Counter(subnet_of(state) for state in capacity if state.instance_id in self._known)
        _, deficit = surplus_and_deficit(spread(len(capacity), slots, placed), placed)
        zones = {slot.subnet_id: slot.az_name for slot in slots}
        for state, subnet_id in zip(strangers, deficit, strict=False):
            if subnet_of(state) == subnet_id:
                self._known.add(state.instance_id)
            else:
                self._replace_at_once(group, state, subnet_id, zones[subnet_id])
        return True

    def _replace_at_once(self, group: Any, state: Any, subnet_id: str, az_name: str) -> None:
        replacement = self._launch(group, subnet_id, az_name, lifecycle="InService")
        group.instance_states = [
            replacement if item is state else item for item in group.instance_states
        ]
        self.ec2.terminate_instances([state.instance_id])

    def _start_moves(self, group: Any, slots: list[Slot]) -> bool:
        capacity = self._capacity(group)
        placed = Counter(subnet_of(state) for state in capacity)
        surplus, deficit = surplus_and_deficit(spread(len(capacity), slots, placed), placed)
        movers = [
            state
            for subnet_id, count in surplus.items()
            for state in [s for s in capacity if subnet_of(s) == subnet_id][:count]
        ]
        zones = {slot.subnet_id: slot.az_name for slot in slots}
        for state, subnet_id in zip(movers, deficit, strict=False):
            replacement = self._launch(group, subnet_id, zones[subnet_id], lifecycle="Pending")
            group.instance_states = [*group.instance_states, replacement]
            self._replacing[state.instance_id] = replacement.instance_id
        return bool(movers and deficit)

    def _drain_replaced(self, group: Any, now: float, timing: MoveTiming) -> bool:
        states = {state.instance_id: state for state in group.instance_states}
        changed = False
        for old_id, new_id in list(self._replacing.items()):
            old, new = states.get(old_id), states.get(new_id)
            if old is None or new is None:  # gone from the group: nothing left to replace
                del self._replacing[old_id]
                changed = True
            elif new.lifecycle_state == "InService" and old.lifecycle_state == "InService":
                old.lifecycle_state = "Terminating"
                self._drain_until[old_id] = now + timing.drain_s
                changed = True
        return changed

    def _launch(self, group: Any, subnet_id: str, az_name: str, *, lifecycle: str) -> Any:
        """One instance of the group in that subnet (what moto's own launch does, placed)."""
        tags = {**group.get_propagated_tags(), ASG_NAME_TAG: group.name, **group.instance_tags}
        template = group.ec2_launch_template
        reservation = self.ec2.run_instances(
            group.image_id,
            1,
            group.user_data,
            group.security_groups,
            instance_type=group.instance_type,
            tags={"instance": tags},
            placement=az_name,
            launch_config=group.launch_config,
            launch_template={"LaunchTemplateId": template.id} if template else None,
            is_instance_type_default=False,
            associate_public_ip=None,
            subnet_id=subnet_id,
        )
        [instance] = reservation.instances
        instance.autoscaling_group = group
        self._known.add(instance.id)
        return InstanceState(
            instance,
            lifecycle_state=lifecycle,
            protected_from_scale_in=group.new_instances_protected_from_scale_in,
        )

    def status(self) -> list[dict[str, Any]]:
        return [
            {
                "group": group.name,
                "instances": [
                    {
                        "id": state.instance_id,
                        "az": state.availability_zone,
                        "subnet": subnet_of(state),
                        "state": state.lifecycle_state,
                    }
                    for state in group.instance_states
                ],
            }
            for group in list(self.autoscaling.autoscaling_groups.values())
        ]
