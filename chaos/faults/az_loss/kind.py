"""`az-loss`: simulate the loss of one Availability Zone, selected by AZ ID.

`pin` (default, "AZ loss") removes the lost AZ's subnets from each target's placement
(Lambda VpcConfig, ECS awsvpcConfiguration, ASG VPCZoneIdentifier, ELBv2 subnet mappings)
and waits, per target and at most `converge_timeout`, until its capacity has left the lost
AZ ID (chaos.aws.capacity); that moment is the entry's `effective_at`. Restore puts back
the exact original placement unless someone changed it meanwhile, and is `restored` only
once capacity per AZ ID is back where it was. The entry's `evidence` keeps the counts per
AZ ID `before`, `during` (at convergence) and `after`, with `apply_s` / `restore_s`. A pin
reverted meanwhile (a removed subnet back in the placement: an ECS deployment circuit
breaker's rollback), seen while it converges or when the restore first reads the target,
is kept as `evidence.reverted`: the fault did not act (evidence.fault_effect), and the
restore writes nothing the rollback already put back.

`blackhole` ("AZ network loss") associates the lost AZ's subnets with a new network ACL,
which denies all traffic (one per VPC, created by the run and tagged with its ID); restore
re-associates the original ACLs and deletes it. Capacity stays where it is: the network
is what is lost (a Lambda function's invocations still arrive; its calls out of the VPC
subnets fail).

Journal entries say what to undo through `intended["action"]`: `pin`, `create-acl`
(recorded before the ACL exists: a crash leaves at most one ACL found by its tag) or
`associate-acl` (one per subnet, recorded before its association is replaced).

Locks, set after the entry is journaled and before the change: a pin locks the workload and
marks the subnets it removes (`removed_subnet_tag`: a restore puts back only subnets so
marked, in the workload's VPC and the lost AZ ID); a blackhole creates its ACL tagged, and
tags each subnet with the lock and the ACL it had (`NETWORK_ACL_TAG_KEY`), the only ACL the
restore re-associates. Restores write the placement settings as they are now (security
groups, public IP assignment...), the subnets apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from chaos.aws import subnets as ec2_subnets
from chaos.aws.capacity import (
    AzIds,
    Capacity,
    Convergence,
    lost_az_empty,
    read_capacity,
    wait_for,
)
from chaos.aws.workloads import (
    Workload,
    placement_for,
    task_network_mode,
    workloads_with_tags,
)
from chaos.az.mapping import AzMapping, load_az_mapping, require_az_id
from chaos.clock import epoch_seconds
from chaos.durations import format_duration
from chaos.errors import PreflightRefused
from chaos.faults.az_loss import restore
from chaos.faults.az_loss.refusals import refuse_unmovable
from chaos.faults.az_loss.restore import (
    ACTION_ASSOCIATE_ACL,
    ACTION_CREATE_ACL,
    ACTION_NONE,
    ACTION_PIN,
    BLACKHOLE_CAVEAT,
    TYPE_NAME,
    reverted,
    why_not_converged,
)
from chaos.faults.base import (
    LOCK_TAG_KEY,
    NETWORK_ACL_TAG_KEY,
    Effect,
    FaultKind,
    LockedResource,
    PlannedChange,
    RestoreOutcome,
    removed_subnet_tag,
)
from chaos.faults.locks import refuse_locked
from chaos.journal import JournalEntry

if TYPE_CHECKING:
    from chaos.aws import AwsClients
    from chaos.aws.subnets import Subnet
    from chaos.faults.az_loss.spec import AzLossSpec
    from chaos.journal import Journal
    from chaos.policy import PolicyStatement

#: How reports and the plan name each mode's effect.
PIN_EFFECT = "AZ loss (capacity moved out of the AZ ID)"
BLACKHOLE_EFFECT = (
    "AZ network loss (the AZ ID's subnets cut off; Lambda invocations still "
    "arrive, calls out of those subnets fail)"
)


@dataclass
class AffectedWorkload:
    workload: Workload
    lost: list[Subnet]
    kept: list[Subnet]


# The spec type by name only: the janitor imports this module and ships no pydantic.
class AzLossFault(FaultKind["AzLossSpec"]):
    type_name = TYPE_NAME
    effect_needs_load = False  # placement per AZ ID is read from the account, load or not

    @classmethod
    def spec_model(cls) -> type[AzLossSpec]:
        # Imported here: pydantic, which the janitor lacks (chaos.faults.base).
        from chaos.faults.az_loss.spec import AzLossSpec

        return AzLossSpec

    @classmethod
    def fault_effect(cls, entries: Sequence[Mapping[str, Any]]) -> Effect:
        from chaos.faults.az_loss import evidence  # not the janitor's: see base

        return evidence.fault_effect(entries)

    @classmethod
    def add_evidence(cls, result: dict[str, Any]) -> None:
        from chaos.faults.az_loss import evidence  # not the janitor's: see base

        evidence.add_blackhole_caveat(result)

    # -- plan ---------------------------------------------------------------

    def plan(self) -> list[PlannedChange]:
        clients = self.context.clients
        mapping = load_az_mapping(clients)
        require_az_id(mapping, self.spec.az_id)
        workloads = self.resolve_targets()
        subnets = ec2_subnets.describe_subnets(
            clients, [s for workload in workloads for s in workload.subnet_ids], mapping
        )
        skipped: list[PlannedChange] = []
        affected: list[AffectedWorkload] = []
        for workload in workloads:
            split = self.split_subnets(workload, subnets, mapping)
            if isinstance(split, PlannedChange):
                skipped.append(split)
            else:
                affected.append(split)
        if self.spec.mode == "blackhole":
            return self.plan_blackhole(affected, mapping) + skipped
        return [self.plan_pin(item, mapping) for item in affected] + skipped

    def resolve_targets(self) -> list[Workload]:
        """Named targets (each must exist) then tag-selected ones, without duplicates."""
        clients, targets = self.context.clients, self.spec.targets
        named = (
            [("lambda", name) for name in targets.lambda_]
            + [("ecs", name) for name in targets.ecs_services]
            + [("asg", name) for name in targets.autoscaling_groups]
            + [("elb", name) for name in targets.load_balancers]
        )
        workloads: dict[str, Workload] = {}
        for kind, ref in named:
            placement = placement_for(kind)
            workload = placement.get(clients, ref)
            if workload is None:
                raise PreflightRefused(f"{placement.noun} {ref!r} does not exist")
            workloads.setdefault(workload.arn, workload)
        if targets.tags:
            tagged = workloads_with_tags(clients, dict(targets.tags))
            if not tagged:
                raise PreflightRefused(
                    f"no Lambda (VPC), ECS service, ASG or load balancer carries the tags "
                    f"{dict(targets.tags)}"
                )
            for workload in tagged:
                workloads.setdefault(workload.arn, workload)
        return list(workloads.values())

    def split_subnets(
        self, workload: Workload, subnets: dict[str, Subnet], mapping: AzMapping
    ) -> AffectedWorkload | PlannedChange:
        """The workload's lost and kept subnets, a skip notice, or a refusal."""
        az_id = self.spec.az_id
        if workload.kind == "ecs" and not workload.subnet_ids:
            return placed_by_container_instance(self.context.clients, workload, mapping, az_id)
        lost = [subnets[s] for s in workload.subnet_ids if subnets[s].az_id == az_id]
        kept = [subnets[s] for s in workload.subnet_ids if subnets[s].az_id != az_id]
        if not lost:
            where = ", ".join(sorted({subnet.az_id for subnet in kept})) or "no subnets"
            return skip_notice(
                workload,
                f"{workload.label} has no subnet in "
                f"{mapping.label(az_id)} (runs in {where}): nothing to "
                "simulate, skipped",
            )
        if not kept:
            raise PreflightRefused(
                f"{workload.label}: every subnet is in {mapping.label(az_id)}; losing it "
                "leaves no capacity (single-AZ risk): refusing"
            )
        refuse_locked(workload.label, workload.tags, self.context)
        return AffectedWorkload(workload, lost, kept)

    def plan_pin(self, item: AffectedWorkload, mapping: AzMapping) -> PlannedChange:
        workload = item.workload
        refuse_unmovable(self.context.clients, workload)
        if needs_two_zones(workload) and len({subnet.az_id for subnet in item.kept}) < 2:
            return skip_notice(
                workload,
                f"{workload.label}: an Application Load Balancer needs "
                "subnets in at least two AZs; it would keep only "
                f"{', '.join(s.az_id for s in item.kept)}: not changed",
            )
        summary = [f"remove subnet {subnet.label()}" for subnet in item.lost]
        summary.append("keep " + ", ".join(subnet.label() for subnet in item.kept))
        if workload.kind == "ecs":
            summary.append("force a new deployment (tasks move out of the lost AZ)")
        summary.append(
            f"tag {LOCK_TAG_KEY}={self.context.run_id}; tag the removed subnets "
            f"{removed_subnet_tag(self.context.run_id)}"
        )
        summary.append(
            f"wait until its {CONVERGES[workload.kind]} (at most "
            f"{format_duration(self.spec.converge_timeout)}; the same on restore)"
        )
        return PlannedChange(
            fault_type=self.type_name,
            target=workload.label,
            target_arn=workload.arn,
            summary=summary,
            original=pin_snapshot(workload),
            intended=self.pin_intent(workload, [subnet.subnet_id for subnet in item.lost]),
        )

    def pin_intent(self, workload: Workload, lost_ids: list[str]) -> dict[str, Any]:
        return {
            "action": ACTION_PIN,
            "effect": PIN_EFFECT,
            "az_id": self.spec.az_id,
            "removed_subnet_ids": lost_ids,
            "subnet_ids": [s for s in workload.subnet_ids if s not in lost_ids],
            "converge_timeout_s": self.spec.converge_timeout,
        }

    def plan_blackhole(
        self, affected: list[AffectedWorkload], mapping: AzMapping
    ) -> list[PlannedChange]:
        by_vpc: dict[str, dict[str, Subnet]] = {}
        users: dict[str, set[str]] = {}
        for item in affected:
            for subnet in item.lost:
                by_vpc.setdefault(subnet.vpc_id, {})[subnet.subnet_id] = subnet
                users.setdefault(subnet.vpc_id, set()).add(item.workload.label)
        return [
            self.plan_vpc_blackhole(vpc_id, list(lost.values()), sorted(users[vpc_id]), mapping)
            for vpc_id, lost in sorted(by_vpc.items())
        ]

    def plan_vpc_blackhole(
        self, vpc_id: str, lost: list[Subnet], users: list[str], mapping: AzMapping
    ) -> PlannedChange:
        clients, run_id = self.context.clients, self.context.run_id
        summary = [
            f"{BLACKHOLE_EFFECT} of {mapping.label(self.spec.az_id)}",
            f"create a network ACL in {vpc_id} (a new ACL denies all traffic) tagged "
            f"{LOCK_TAG_KEY}={run_id}",
        ]
        associations: dict[str, dict[str, str]] = {}
        for subnet in lost:
            refuse_locked(f"subnet {subnet.subnet_id}", subnet.tags, self.context)
            current = ec2_subnets.acl_association(clients, subnet.subnet_id)
            if current is None:
                raise PreflightRefused(
                    f"subnet {subnet.subnet_id} has no network ACL association to replace"
                )
            refuse_locked(
                f"network ACL {current.network_acl_id} of {subnet.subnet_id}",
                current.tags,
                self.context,
            )
            associations[subnet.subnet_id] = {
                "association_id": current.association_id,
                "network_acl_id": current.network_acl_id,
            }
            summary.append(
                f"associate it with subnet {subnet.label()} instead of {current.network_acl_id}"
            )
        summary.append(
            f"blackholes {mapping.label(self.spec.az_id)} for: {', '.join(users)} "
            "(and anything else in those subnets)"
        )
        summary.append(f"tag the subnets {LOCK_TAG_KEY}={run_id}")
        summary.append(BLACKHOLE_CAVEAT)
        return PlannedChange(
            fault_type=self.type_name,
            target=f"vpc:{vpc_id}",
            target_arn=vpc_id,
            summary=summary,
            original={"vpc_id": vpc_id, "associations": associations},
            intended={
                "action": ACTION_CREATE_ACL,
                "effect": BLACKHOLE_EFFECT,
                "az_id": self.spec.az_id,
                "vpc_id": vpc_id,
                "subnet_ids": list(associations),
                "subnets": {s.subnet_id: s.label() for s in lost},
            },
        )

    # -- apply --------------------------------------------------------------

    def apply(self, change: PlannedChange, journal: Journal) -> JournalEntry:
        action = change.intended.get("action")
        if action == ACTION_PIN:
            return self.apply_pin(change, journal)
        if action == ACTION_CREATE_ACL:
            return self.apply_blackhole(change, journal)
        # A skipped target: nothing changes, so nothing is journaled.
        return JournalEntry(
            entry_id=f"{self.type_name}:{change.target_arn}",
            fault_type=self.type_name,
            target=f"{change.target} (skipped)",
            target_arn=change.target_arn,
            original={},
            intended={},
            status="skipped",
            detail="; ".join(change.warnings),
        )

    def apply_pin(self, change: PlannedChange, journal: Journal) -> JournalEntry:
        clients, run_id = self.context.clients, self.context.run_id
        placement = placement_for(change.original["kind"])
        # The baseline ran since planning: re-read, re-check and snapshot right before.
        current = placement.get(clients, change.original["ref"])
        if current is None:
            raise PreflightRefused(f"{change.target} disappeared since the plan")
        refuse_locked(current.label, current.tags, self.context)
        refuse_unmovable(clients, current)
        lost_ids = [s for s in change.intended["removed_subnet_ids"] if s in current.subnet_ids]
        intended = self.pin_intent(current, lost_ids)
        if not lost_ids or not intended["subnet_ids"]:
            raise PreflightRefused(
                f"{change.target}: its subnets changed since the plan "
                f"(now {', '.join(current.subnet_ids)}); re-run the plan"
            )
        az_ids = AzIds(clients, load_az_mapping(clients))
        before = read_capacity(clients, current.kind, current.ref, az_ids)

        def pin() -> None:
            # Lock first: mark the subnets it removes (a restore puts back only subnets so
            # marked), lock the workload; then change it.
            ec2_subnets.tag_resource_with(clients, lost_ids, {removed_subnet_tag(run_id): run_id})
            placement.tag(clients, current, LOCK_TAG_KEY, run_id)
            placement.set_subnets(clients, current, intended["subnet_ids"])

        entry = self.journaled(
            journal,
            JournalEntry(
                entry_id=f"{self.type_name}:{current.arn}",
                fault_type=self.type_name,
                target=change.target,
                target_arn=current.arn,
                original=pin_snapshot(current),
                intended=intended,
                evidence=before_evidence(self.spec.az_id, before),
            ),
            pin,
        )

        def read_pinned() -> Capacity | None:
            capacity = read_capacity(clients, current.kind, current.ref, az_ids)
            reason = reverted(capacity, lost_ids)
            if capacity is None or reason is None:
                return capacity
            # Waiting will not take it out of the AZ: stop, the fault is not in force.
            return replace(capacity, blocked=f"reverted: {reason}")

        converged = wait_for(
            read_pinned,
            lost_az_empty(self.spec.az_id),
            self.spec.converge_timeout,
            stopping=self.context.stopping,
        )
        record_pin_convergence(journal, entry, converged)
        return entry

    def apply_blackhole(self, change: PlannedChange, journal: Journal) -> JournalEntry:
        clients, run_id = self.context.clients, self.context.run_id
        vpc_id = change.intended["vpc_id"]
        acl_entry = self.journaled(
            journal,
            JournalEntry(
                entry_id=f"{self.type_name}:acl:{vpc_id}",
                fault_type=self.type_name,
                target=f"network ACL in {vpc_id}",
                target_arn=vpc_id,
                original={"vpc_id": vpc_id, "network_acl_id": None},
                intended={
                    "action": ACTION_CREATE_ACL,
                    "effect": BLACKHOLE_EFFECT,
                    "az_id": self.spec.az_id,
                    "vpc_id": vpc_id,
                    "tag": {LOCK_TAG_KEY: run_id},
                },
                # The new ACL's ID is journaled as soon as it exists, before any association.
            ),
            lambda: {
                "network_acl_id": ec2_subnets.create_acl(clients, vpc_id, {LOCK_TAG_KEY: run_id})
            },
        )
        acl_id = acl_entry.intended["network_acl_id"]
        for subnet_id in change.intended["subnet_ids"]:
            self.blackhole_subnet(
                subnet_id,
                change.intended["subnets"][subnet_id],
                acl_id,
                journal,
                part_of=acl_entry.entry_id,
            )
        return acl_entry

    def blackhole_subnet(
        self, subnet_id: str, label: str, acl_id: str, journal: Journal, part_of: str | None = None
    ) -> JournalEntry:
        clients, run_id = self.context.clients, self.context.run_id
        tags = ec2_subnets.subnet_tags(clients, subnet_id)
        current = ec2_subnets.acl_association(clients, subnet_id)
        if tags is None or current is None:
            raise PreflightRefused(f"subnet {subnet_id} disappeared since the plan")
        refuse_locked(f"subnet {subnet_id}", tags, self.context)

        def associate() -> None:
            # Lock first, with the ACL the subnet has: the restore re-associates that one,
            # read from the subnet, never the one a journal names (one CreateTags: both
            # tags or neither).
            ec2_subnets.tag_resource_with(
                clients,
                [subnet_id],
                {LOCK_TAG_KEY: run_id, NETWORK_ACL_TAG_KEY: current.network_acl_id},
            )
            ec2_subnets.replace_acl(clients, current.association_id, acl_id)

        return self.journaled(
            journal,
            JournalEntry(
                entry_id=f"{self.type_name}:subnet:{subnet_id}",
                fault_type=self.type_name,
                target=f"subnet:{label}",
                target_arn=subnet_id,
                original={
                    "subnet_id": subnet_id,
                    "association_id": current.association_id,
                    "network_acl_id": current.network_acl_id,
                },
                intended={
                    "action": ACTION_ASSOCIATE_ACL,
                    "az_id": self.spec.az_id,
                    "network_acl_id": acl_id,
                },
                part_of=part_of,
            ),
            associate,
        )

    # -- restore ------------------------------------------------------------

    @classmethod
    def required_permissions(
        cls, spec: Any, *, region: str, account_id: str, index: int
    ) -> list[PolicyStatement]:
        from chaos.faults.az_loss.permissions import az_loss_statements

        return az_loss_statements(spec, region=region, account_id=account_id, index=index)

    @classmethod
    def restore(cls, entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
        return restore.restore_entry(entry, clients, run_id)

    @classmethod
    def locked_resources(cls, entry: JournalEntry) -> list[LockedResource]:
        return restore.locked_resources(entry)


# -- plan helpers ----------------------------------------------------------------------


def skip_notice(workload: Workload, warning: str) -> PlannedChange:
    return PlannedChange(
        fault_type=TYPE_NAME,
        target=workload.label,
        target_arn=workload.arn,
        summary=["no change"],
        original={},
        intended={"action": ACTION_NONE},
        warnings=[warning],
    )


def pin_snapshot(workload: Workload) -> dict[str, Any]:
    """What a restore puts back: the subnets and the settings sent with them (Lambda's whole
    VpcConfig, ECS's awsvpcConfiguration, a load balancer's subnet mappings)."""
    return {
        "kind": workload.kind,
        "ref": workload.ref,
        "name": workload.name,
        "subnet_ids": list(workload.subnet_ids),
        "settings": placement_for(workload.kind).snapshot_settings(workload),
    }


#: What "converged" means per kind, for the plan.
CONVERGES = {
    "ecs": "tasks run outside the lost AZ ID (deployment COMPLETED, old tasks drained)",
    "asg": "instances are InService outside the lost AZ ID (rebalancing done)",
    "lambda": "update completed (LastUpdateStatus: Successful)",
    "elb": "subnets are updated and the load balancer is active",
}


def needs_two_zones(workload: Workload) -> bool:
    """An ALB must keep subnets in two AZs; an NLB may keep one ("[Network Load Balancers]
    You can specify subnets from one or more Availability Zones", SetSubnets,
    https://docs.aws.amazon.com/elasticloadbalancing/latest/APIReference/API_SetSubnets.html)."""
    return workload.kind == "elb" and workload.settings.get("type") == "application"


def placed_by_container_instance(
    clients: AwsClients, workload: Workload, mapping: AzMapping, az_id: str
) -> PlannedChange:
    """An ECS service without subnets: its tasks do not use the awsvpc network mode.

    In the bridge, host or none network mode (and Windows' default) a task shares the
    network of the EC2 container instance that hosts it ("Amazon ECS task networking
    options for the EC2 launch type", https://docs.aws.amazon.com/AmazonECS/latest/
    developerguide/task-networking.html): it is placed on a container instance, never in a
    subnet, so removing subnets cannot move it and its tasks in the lost AZ keep running.
    Refused, unless it runs on external instances (ECS Anywhere), in no AZ at all.
    """
    if workload.settings.get("launch_type") == "EXTERNAL":
        return skip_notice(
            workload,
            f"{workload.label} runs on external instances (ECS Anywhere), in no AZ: nothing "
            "to simulate, skipped",
        )
    definition = workload.settings.get("task_definition")
    mode = task_network_mode(clients, str(definition)) if definition else None
    named = f"the {mode} network mode" if mode else "the default network mode (bridge on Linux)"
    raise PreflightRefused(
        f"{workload.label}: its tasks use {named}, placed by container instance, not by "
        f"subnet: no subnet can be taken from it and its tasks in {mapping.label(az_id)} "
        "would keep running; target the Auto Scaling group of its container instances "
        "instead: refusing"
    )


def before_evidence(az_id: str, before: Capacity | None) -> dict[str, Any]:
    if before is None:
        return {"az_id": az_id}
    return {"az_id": az_id, "unit": before.unit, "before": before.per_az}


def record_pin_convergence(journal: Journal, entry: JournalEntry, converged: Convergence) -> None:
    """The pin is in force from its convergence: `effective_at`, `during`, `apply_s`."""
    capacity = converged.capacity
    evidence = {
        **entry.evidence,
        "converged": converged.converged,
        "converged_at": converged.at,
        "apply_s": round(epoch_seconds(converged.at) - epoch_seconds(entry.journaled_at), 3),
    }
    if capacity is not None:
        evidence["during"] = capacity.per_az
    detail = entry.detail
    revert = reverted(capacity, entry.intended["removed_subnet_ids"])
    if revert is not None:
        evidence["reverted"] = revert
        detail = f"reverted: {revert}; the fault phase ran anyway"
    elif not converged.converged:
        detail = (
            f"capacity had not left {entry.intended['az_id']} after "
            f"{format_duration(converged.waited_s)}: "
            f"{why_not_converged(capacity)}; the fault phase ran anyway"
        )
    journal.update(entry, effective_at=converged.at, evidence=evidence, detail=detail)
