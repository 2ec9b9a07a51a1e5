"""The small interface every fault kind implements.

plan (read-only: resolve targets, refuse what is unsafe, describe the change) →
apply (journal first, then lock, then mutate) → restore (from the journal entry alone, so
it works after a crash, in another process).

The journal is evidence, not authority: whoever can write it could name any resource.
The lock tag is the capability. A run tags a resource with its id (`LOCK_TAG_KEY`) before
it changes it, so a restore acts only on resources that carry the run's tag (`unlocked`
says why not), reads what it would overwrite first, and verifies every value it would take
from the journal against the account; where it cannot, it writes nothing for the entry
(`NothingWritten`). Locks are released once every entry is restored (chaos.run.restore).

A kind is one folder under chaos/faults/ (docs/writing-a-fault-kind.md): `spec.py` (its
YAML, pydantic), `kind.py` (this interface), `restore.py`, `permissions.py`, `evidence.py`.
The janitor imports every kind's `kind.py` and ships no pydantic (chaos.janitor.package):
the hooks that need the spec model or the result's evidence import them when called.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from chaos.clock import utc_now

if TYPE_CHECKING:
    from chaos.aws import AwsClients
    from chaos.aws.apigateway import LambdaIntegration
    from chaos.faults.spec import FaultSpec
    from chaos.journal import Journal, JournalEntry
    from chaos.policy import PolicyStatement

LOCK_TAG_KEY = "gameday:run-id"
#: Set on a blackholed subnet with the lock, before its association changes: the network
#: ACL it had, which the restore re-associates (never an ACL the journal names).
NETWORK_ACL_TAG_KEY = "gameday:network-acl"
#: A pin marks each subnet it removes from a workload with this key + its run id (value: the
#: run id) before it removes it: a restore puts back only subnets so marked. Not the lock: a
#: pin does not change the subnet, and pins of several runs (of other workloads) and a
#: blackhole may share it.
REMOVED_SUBNET_TAG_PREFIX = "gameday:removed-by:"

#: `refused`: the entry names a resource that is not the run's: nothing written on it
#: (chaos.journal). A value to write that the account does not confirm, on a resource the
#: run did lock, is `failed`: the run's change is left in place.
RestoreStatus = Literal["restored", "drifted", "failed", "refused"]
#: `removed-subnet`: a subnet a pin removed, marked with `removed_subnet_tag(run_id)`.
LockedKind = Literal["lambda", "ecs", "asg", "elb", "subnet", "removed-subnet"]


@dataclass
class PlannedChange:
    """One change to one resource, as `gameday plan` shows it and the journal records it."""

    fault_type: str
    target: str
    target_arn: str
    summary: list[str]
    original: dict[str, Any]
    intended: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


@dataclass
class RestoreOutcome:
    status: RestoreStatus
    detail: str = ""


class NothingWritten(Exception):  # noqa: N818 - names what happened, not an error kind
    """A restore step stopped before its write: the entry's outcome, with the reason."""

    def __init__(self, status: RestoreStatus, detail: str) -> None:
        super().__init__(detail)
        self.outcome = RestoreOutcome(status, detail)


@dataclass(frozen=True)
class LockedResource:
    """A resource an entry's change is made on, under the run's lock tag (released last)."""

    kind: LockedKind
    ref: str  # a function ARN, an ECS cluster/service, an ASG name, an ELB ARN, a subnet ID


def removed_subnet_tag(run_id: str) -> str:
    return f"{REMOVED_SUBNET_TAG_PREFIX}{run_id}"


def unlocked(label: str, tags: Mapping[str, str], run_id: str) -> RestoreOutcome | None:
    """Why a restore must leave `label` alone; None when it carries this run's lock.

    A run locks a resource before it changes it, so one without the lock was never changed
    by the run (it died before locking it) or the journal entry was not the run's: either
    way nothing may be written on it, whatever the entry's status.
    """
    owner = tags.get(LOCK_TAG_KEY)
    if owner == run_id:
        return None
    if owner:
        # Our run died before locking it and another run holds it now: its changes are
        # theirs to restore.
        return RestoreOutcome("drifted", f"locked by run {owner} now: left as it is")
    return RestoreOutcome(
        "refused",
        f"{label} does not carry this run's lock ({LOCK_TAG_KEY}={run_id}): nothing written",
    )


@dataclass
class FaultContext:
    """What a fault kind needs from the run: AWS access, identity and the fault's expiry."""

    clients: AwsClients
    run_id: str
    expires_at: float
    sandbox: bool = False
    # How the endpoint invokes Lambda (chaos.aws.apigateway); None when unknown, and then
    # `integrations_unknown` says why (None: the experiment has no API Gateway endpoint).
    integrations: Sequence[LambdaIntegration] | None = None
    integrations_unknown: str | None = None
    # Set when `integrations` were read from the API's current configuration, not from the
    # stage as deployed: why they may differ from what the endpoint serves.
    integrations_caveat: str | None = None
    # Where the run keeps its journal in S3 (s3://BUCKET/PREFIX), None for a local one only:
    # a lock of another run is looked up there too (chaos.faults.locks).
    journal_location: str | None = None
    # Whether the run was asked to stop (a signal, a stop condition): waits during an
    # apply end early then, so that the restore starts at once.
    stopping: Callable[[], bool] = field(default=lambda: False)


@dataclass(frozen=True)
class PolicyInputs:
    """What `gameday iam-policy` knows of a fault besides its spec."""

    region: str
    account_id: str
    index: int  # the fault's position in the experiment's `faults`
    # Clients that can read the targets (None: offline, placeholders stand for what they
    # would read); ARNs named on the command line (--layer-arn, --kms-key-arn).
    clients: AwsClients | None = None
    layer_arns: tuple[str, ...] = ()
    kms_key_arns: tuple[str, ...] = ()


#: What a fault's effect check observed (None: not measured) and why, when it says so.
Effect = tuple[float | None, str | None]

SpecT = TypeVar("SpecT")
#: A mutation: makes the change, returns what it learned (e.g. a created resource's id)
#: to add to the entry's `intended`, or None.
Mutation = Callable[[], Mapping[str, Any] | None]


class FaultKind(ABC, Generic[SpecT]):
    """A fault type: one folder under chaos/faults/, registered in chaos.faults."""

    type_name: ClassVar[str]
    #: Preflight reads how the endpoint invokes Lambda (FaultContext.integrations) for it.
    needs_endpoint_integrations: ClassVar[bool] = False
    #: The run reads the extension's EMF telemetry (InjectedFaults, ExtensionInits) for it.
    reads_extension_telemetry: ClassVar[bool] = False
    #: Its evidence is what the load saw (injections): a fault phase without load leaves
    #: `fault_effect` not judged. False: the evidence is read from the account (placement).
    effect_needs_load: ClassVar[bool] = True

    def __init__(self, spec: SpecT, context: FaultContext, index: int | None = 0) -> None:
        self.spec = spec
        self.context = context
        # The fault's position in the experiment's `faults`; None for a change that is no
        # fault (the janitor's schedule).
        self.index = index

    def journaled(self, journal: Journal, entry: JournalEntry, mutation: Mutation) -> JournalEntry:
        """Journal `entry` durably, make the change, then mark it applied.

        The one order every mutation of every fault kind follows: a crash at any point
        leaves a journal from which `gameday rollback` can restore (the entry is
        `applying` until the change returned).
        """
        entry.fault_index = self.index
        journal.record(entry)
        learned = mutation()
        now = utc_now()
        # In force when the mutation returned, unless the kind waits longer and says so.
        changes: dict[str, Any] = {"injected_at": now, "effective_at": now}
        if learned:
            changes["intended"] = {**entry.intended, **learned}
        journal.update(entry, "applied", **changes)
        return entry

    @abstractmethod
    def plan(self) -> list[PlannedChange]:
        """The changes this fault would make; read-only; raises PreflightRefused."""

    def prepare(self) -> None:  # noqa: B027 - optional hook
        """Side effects needed before any target changes (e.g. publishing a layer)."""

    @abstractmethod
    def apply(self, change: PlannedChange, journal: Journal) -> JournalEntry:
        """Journal `change`, then make it; returns the entry (status `applied`)."""

    @classmethod
    @abstractmethod
    def required_permissions(
        cls, spec: Any, *, region: str, account_id: str, index: int
    ) -> list[PolicyStatement]:
        """The IAM statements plan, apply and restore of `spec` need (least privilege)."""

    @classmethod
    def policy_statements(cls, spec: Any, inputs: PolicyInputs) -> list[PolicyStatement]:
        """Everything `gameday iam-policy` grants for `spec`: by default what its plan,
        apply and restore call; a kind adds what its targets' own resources need."""
        return cls.required_permissions(
            spec, region=inputs.region, account_id=inputs.account_id, index=inputs.index
        )

    @classmethod
    def spec_model(cls) -> type[FaultSpec]:
        """The pydantic model of this kind's entry in `faults` (imported when called).

        Every registered kind has one; a change restored like a fault but no fault (the
        janitor's timer) has none."""
        raise TypeError(f"{cls.type_name} is restored only: no experiment names it")

    @classmethod
    def add_evidence(cls, result: dict[str, Any]) -> None:  # noqa: B027 - optional hook
        """Add to this kind's entries of ``result["faults"]`` what shows they acted."""

    @classmethod
    def fault_effect(cls, entries: Sequence[Mapping[str, Any]]) -> Effect:
        """The `fault_effect` check of one fault from its result entries (never empty): by
        default, how many targets it changed."""
        changed = sum(1 for entry in entries if entry.get("injected_at"))
        return changed, None if changed else "the fault changed no target"

    @classmethod
    @abstractmethod
    def restore(cls, entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
        """Undo exactly what `entry` recorded, keeping other people's changes; idempotent.

        Leaves the run's lock tags in place: they are released once the whole journal is
        restored (`locked_resources`)."""

    @classmethod
    def locked_resources(cls, entry: JournalEntry) -> list[LockedResource]:
        """The resources `entry`'s change is made under the run's lock (none by default)."""
        return []
