"""Restore of an `az-loss` fault from its journal entry alone: the janitor runs it
(chaos.janitor.package), so this module imports no pydantic and no YAML."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import replace
from typing import TYPE_CHECKING

from chaos.aws import subnets as ec2_subnets
from chaos.aws.capacity import (
    AzIds,
    Capacity,
    back_to,
    read_capacity,
    wait_for,
)
from chaos.aws.workloads import (
    Placement,
    Workload,
    placement_for,
)
from chaos.az.mapping import load_az_mapping
from chaos.durations import format_duration
from chaos.faults.base import (
    LOCK_TAG_KEY,
    NETWORK_ACL_TAG_KEY,
    LockedResource,
    NothingWritten,
    RestoreOutcome,
    removed_subnet_tag,
    unlocked,
)
from chaos.journal import JournalEntry

if TYPE_CHECKING:
    from chaos.aws import AwsClients
    from chaos.aws.subnets import Subnet

TYPE_NAME = "az-loss"
ACTION_PIN = "pin"
ACTION_CREATE_ACL = "create-acl"

#: What a deny-all network ACL does not do that an AZ outage would: network ACLs filter
#: traffic entering and leaving a subnet, not traffic between addresses of the same
#: subnet, and never the VPC's own services such as the Route 53 Resolver (VPC+2) ("Control
#: subnet traffic with network access control lists",
#: https://docs.aws.amazon.com/vpc/latest/userguide/vpc-network-acls.html).
BLACKHOLE_CAVEAT = (
    "weaker than an AZ outage: a network ACL does not filter traffic within "
    "a subnet, nor DNS to the Route 53 Resolver (docs.aws.amazon.com/vpc/"
    "latest/userguide/vpc-network-acls.html)"
)
ACTION_ASSOCIATE_ACL = "associate-acl"
ACTION_NONE = "none"
DEFAULT_CONVERGE_TIMEOUT_S = 600.0


def restore_entry(entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
    """Undo the step `entry` recorded (a pin, an ACL association, the run's ACL)."""
    action = entry.intended.get("action")
    try:
        if action == ACTION_PIN:
            return restore_pin(entry, clients, run_id)
        if action == ACTION_ASSOCIATE_ACL:
            return restore_association(entry, clients, run_id)
        if action == ACTION_CREATE_ACL:
            return remove_run_acl(entry, clients, run_id)
    except NothingWritten as stopped:
        return stopped.outcome
    return RestoreOutcome("restored", "nothing was changed")


def locked_resources(entry: JournalEntry) -> list[LockedResource]:
    """The resources `entry`'s change is made on under the run's lock."""
    action = entry.intended.get("action")
    if action == ACTION_PIN:
        kind = entry.original["kind"]
        return [LockedResource(kind, str(entry.original["ref"]))] + [
            LockedResource("removed-subnet", str(subnet_id))
            for subnet_id in entry.intended.get("removed_subnet_ids", [])
        ]
    if action == ACTION_ASSOCIATE_ACL:
        return [LockedResource("subnet", str(entry.original["subnet_id"]))]
    return []  # the run's ACL is deleted, not unlocked


def reverted(capacity: Capacity | None, removed_ids: Iterable[str]) -> str | None:
    """Why a pin is no longer in force: subnets it removed are back in the workload's
    placement (an ECS deployment circuit breaker's rollback puts the last completed
    deployment's network configuration back: chaos.aws.workloads.ecs_rollback); None while
    it holds."""
    if capacity is None:
        return None
    back = sorted(set(removed_ids) & capacity.placed_in)
    if not back:
        return None
    cause = capacity.rollback or "put back by someone or something else"
    return f"subnet(s) {', '.join(back)} of the lost AZ ID back in its placement ({cause})"


def why_not_converged(capacity: Capacity | None) -> str:
    if capacity is None:
        return "the workload no longer exists"
    if capacity.blocked:
        return f"{capacity.blocked}, {capacity.summary()}"
    return capacity.summary()


def restore_pin(entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
    """Put the removed subnets back (verified), then wait until capacity per AZ ID is back.

    Records `after` and `restore_s` in `entry.evidence` (journaled with the outcome).
    """
    started = time.monotonic()
    placement = placement_for(entry.original["kind"])
    current = placement.get(clients, entry.original["ref"])
    if current is None:
        return RestoreOutcome("drifted", f"{entry.target} was deleted during the run")
    refusal = unlocked(current.label, current.tags, run_id)
    if refusal is not None:
        return refusal
    revert = record_revert(entry, clients)
    original_ids = [str(subnet_id) for subnet_id in entry.original["subnet_ids"]]
    now = set(current.subnet_ids)
    drift = settings_drift(placement, current, entry)
    wrote = False
    if now == set(entry.intended["subnet_ids"]) and now != set(original_ids):
        re_added = [subnet_id for subnet_id in original_ids if subnet_id not in now]
        if not now <= set(original_ids):
            raise NothingWritten(
                "failed",
                "a restore only adds subnets back, and the journal's "
                f"original placement lacks {', '.join(sorted(now))}: nothing "
                "written",
            )
        verify_re_added(clients, entry, current, re_added, run_id)
        placement.set_subnets(clients, restore_target(current, entry, re_added), original_ids)
        wrote = True
    elif now != set(original_ids):
        return RestoreOutcome(
            "drifted",
            "subnets changed by someone else during the run (kept): "
            + ", ".join(current.subnet_ids),
        )
    notes = []
    if revert is not None:
        # A rollback that already put the original placement back leaves nothing to write.
        notes.append(f"reverted during the fault ({revert}){'' if wrote else ': nothing written'}")
    outcome = wait_until_back(entry, clients, run_id, started)
    if outcome.status != "restored":
        return outcome
    if drift:
        return RestoreOutcome("drifted", "; ".join(notes + drift))
    return RestoreOutcome("restored", "; ".join(notes))


def record_revert(entry: JournalEntry, clients: AwsClients) -> str | None:
    """At the first restore of a pin (the end of its fault phase): why the pin was no longer
    in force, also kept in `entry.evidence["reverted"]` (the fault then did not act, whatever
    its convergence showed). A restore tried again reads its own write: it adds nothing."""
    if "reverted" in entry.evidence:
        return str(entry.evidence["reverted"])
    if entry.status != "applied" or "restore_converged" in entry.evidence:
        return None
    az_ids = AzIds(clients, load_az_mapping(clients))
    capacity = read_capacity(clients, entry.original["kind"], entry.original["ref"], az_ids)
    reason = reverted(capacity, entry.intended.get("removed_subnet_ids") or [])
    if reason is not None:
        # A new dict, not an update: another thread may be writing the journal meanwhile.
        entry.evidence = {**entry.evidence, "reverted": reason}
    return reason


def settings_drift(placement: Placement, current: Workload, entry: JournalEntry) -> list[str]:
    """Besides the subnets, what someone else changed (kept as it is now: a restore sends
    the current settings, so an ECS service keeps its security groups and public IP
    assignment, a function its security groups, as they are)."""
    journaled = entry.original.get("settings")
    if journaled is None:
        return []
    before = placement.drift_signature(placement.with_settings(current, journaled))
    if placement.drift_signature(current) == before:
        return []
    return [
        f"placement settings changed by someone else during the run (kept): "
        f"{', '.join(sorted(placement.drift_signature(current)))}"
    ]


def verify_re_added(
    clients: AwsClients, entry: JournalEntry, current: Workload, re_added: list[str], run_id: str
) -> None:
    """NothingWritten unless every subnet to put back carries the run's mark (set on the
    subnets it removed, before it removed them), lies in the workload's VPC and in the
    lost AZ ID. The workload carries the lock, so the run did change it: a journal that
    names other subnets leaves the change in place, and the restore `failed`."""
    mapping = load_az_mapping(clients)
    found = ec2_subnets.find_subnets(clients, [*re_added, *current.subnet_ids], mapping)
    missing = [subnet_id for subnet_id in re_added if subnet_id not in found]
    if missing:
        raise NothingWritten(
            "drifted",
            f"subnet(s) {', '.join(missing)} were deleted during "
            "the run: they cannot be put back; left as it is",
        )
    vpcs = {found[s].vpc_id for s in current.subnet_ids if s in found}
    az_id = str(entry.intended.get("az_id"))
    mark = removed_subnet_tag(run_id)
    for subnet_id in re_added:
        subnet = found[subnet_id]
        if subnet.tags.get(mark) != run_id:
            raise NothingWritten(
                "failed",
                f"subnet {subnet_id} was not removed by this run (no "
                f"tag {mark}): not put back; nothing written",
            )
        if vpcs and subnet.vpc_id not in vpcs:
            raise NothingWritten(
                "failed",
                f"subnet {subnet_id} is in {subnet.vpc_id}, not in "
                f"the workload's VPC {', '.join(sorted(vpcs))}: nothing written",
            )
        if subnet.az_id != az_id:
            raise NothingWritten(
                "failed",
                f"subnet {subnet_id} is in {subnet.az_id}, not in the "
                f"lost AZ ID {az_id}: nothing written",
            )


def restore_target(current: Workload, entry: JournalEntry, re_added: list[str]) -> Workload:
    """The workload to write: its settings as they are now; for a load balancer, the subnet
    mappings of the subnets it keeps as they are, and those of the re-added subnets as
    journaled (Elastic IPs, chosen addresses), each for its own subnet only."""
    if current.kind != "elb":
        return current
    journaled = (entry.original.get("settings") or {}).get("subnet_mappings") or {}
    mappings = dict(current.settings.get("subnet_mappings") or {})
    for subnet_id in re_added:
        mapping = dict(journaled.get(subnet_id) or {})
        mappings[subnet_id] = (
            mapping if mapping.get("SubnetId") == subnet_id else {"SubnetId": subnet_id}
        )
    return replace(current, settings={**current.settings, "subnet_mappings": mappings})


def wait_until_back(
    entry: JournalEntry, clients: AwsClients, run_id: str, started: float
) -> RestoreOutcome:
    kind, ref = entry.original["kind"], entry.original["ref"]
    before = entry.evidence.get("before")
    timeout = float(entry.intended.get("converge_timeout_s", DEFAULT_CONVERGE_TIMEOUT_S))
    az_ids = AzIds(clients, load_az_mapping(clients))
    goal = back_to(before) if before is not None else (lambda capacity: capacity.steady)
    converged = wait_for(lambda: read_capacity(clients, kind, ref, az_ids), goal, timeout)
    capacity = converged.capacity
    # A new dict, not an update: another thread may be writing the journal meanwhile.
    entry.evidence = {
        **entry.evidence,
        "restore_s": round(time.monotonic() - started, 3),
        "restore_converged": converged.converged,
        **({"after": capacity.per_az} if capacity is not None else {}),
    }
    if converged.converged:
        return RestoreOutcome("restored")
    if capacity is None:
        return RestoreOutcome("drifted", f"{entry.target} was deleted during the restore")
    return RestoreOutcome(
        "failed",
        f"placement restored, but capacity is not back after "
        f"{format_duration(converged.waited_s)}: {why_not_converged(capacity)} (before: "
        f"{before}); `gameday rollback --run-id {run_id}` waits again",
    )


def restore_association(entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
    """Re-associate the ACL the subnet had, as the run recorded on the subnet itself."""
    subnet_id = str(entry.original["subnet_id"])
    found = ec2_subnets.find_subnets(clients, [subnet_id], load_az_mapping(clients))
    current = ec2_subnets.acl_association(clients, subnet_id)
    if subnet_id not in found or current is None:
        return RestoreOutcome("drifted", f"subnet {subnet_id} was deleted during the run")
    subnet = found[subnet_id]
    refusal = unlocked(f"subnet {subnet_id}", subnet.tags, run_id)
    if refusal is not None:
        return refusal
    recorded = subnet.tags.get(NETWORK_ACL_TAG_KEY)
    if current.tags.get(LOCK_TAG_KEY) != run_id:  # not (or no longer) on the run's ACL
        if recorded is None or current.network_acl_id == recorded:
            return RestoreOutcome("restored")
        return RestoreOutcome(
            "drifted",
            f"{subnet_id} was associated with {current.network_acl_id} by someone else (kept)",
        )
    if recorded is None:
        raise NothingWritten(
            "failed",
            f"{subnet_id} no longer records the network ACL it had "
            f"(tag {NETWORK_ACL_TAG_KEY}): the run's ACL is left associated",
        )
    outcome = reassociate(clients, subnet, current.association_id, recorded)
    journaled = entry.original.get("network_acl_id")
    if journaled != recorded:
        note = (
            f"the journal names {journaled} as its ACL before the run; the subnet's own "
            f"record says {recorded}, which was restored"
        )
        return RestoreOutcome("drifted", f"{outcome.detail}; {note}" if outcome.detail else note)
    return outcome


def reassociate(
    clients: AwsClients, subnet: Subnet, association_id: str, original_acl: str
) -> RestoreOutcome:
    subnet_id = subnet.subnet_id
    vpc_id = ec2_subnets.acl_vpc(clients, original_acl)
    if vpc_id is not None and vpc_id != subnet.vpc_id:
        raise NothingWritten(
            "failed",
            f"network ACL {original_acl} is in {vpc_id}, not in "
            f"{subnet_id}'s VPC {subnet.vpc_id}: nothing written",
        )
    if vpc_id is not None:
        ec2_subnets.replace_acl(clients, association_id, original_acl)
        return RestoreOutcome("restored")
    vpc_default = ec2_subnets.default_acl(clients, subnet.vpc_id)
    if vpc_default is None:
        raise RuntimeError(
            f"{subnet_id}: original ACL {original_acl} was deleted and the VPC has no default ACL"
        )
    ec2_subnets.replace_acl(clients, association_id, vpc_default)
    return RestoreOutcome(
        "drifted",
        f"original ACL {original_acl} was deleted during the run; "
        f"{subnet_id} is back on the VPC default ACL {vpc_default}",
    )


def remove_run_acl(entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
    """Delete the ACL the run created: one that carries the run's lock (it was created with
    it), found by that tag if the crash came before its ID was journaled."""
    vpc_id = str(entry.intended["vpc_id"])
    tagged = ec2_subnets.acls_tagged(clients, vpc_id, LOCK_TAG_KEY, run_id)
    acl_id = entry.intended.get("network_acl_id")
    if acl_id and acl_id not in tagged:
        if ec2_subnets.acl_exists(clients, str(acl_id)):
            return RestoreOutcome(
                "refused",
                f"network ACL {acl_id} does not carry this run's "
                f"lock ({LOCK_TAG_KEY}={run_id}) in {vpc_id}: not deleted",
            )
        return RestoreOutcome("restored", f"network ACL {acl_id} was already deleted")
    for item in [str(acl_id)] if acl_id else tagged:
        ec2_subnets.delete_acl(clients, item)
    return RestoreOutcome("restored")
