"""The janitor schedule a run creates, as a journaled change that restore undoes.

Not a fault: a run creates it before its first change (chaos.janitor.arming) and every
restore deletes it (the run's own, ``gameday rollback``, the janitor's), so it is restored
like the faults' entries, through `chaos.faults.fault_kind`. The schedule itself:
chaos.janitor.timer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chaos.clock import iso_from_epoch
from chaos.faults.base import FaultKind, PlannedChange, RestoreOutcome
from chaos.janitor import FUNCTION_NAME
from chaos.janitor.timer import (
    TYPE_NAME,
    JanitorSchedule,
    account_of,
    create_schedule,
    delete_schedule,
    run_permissions,
    schedule_arn,
    schedule_name,
)
from chaos.journal import JournalEntry

if TYPE_CHECKING:
    from chaos.aws import AwsClients
    from chaos.faults.base import FaultContext
    from chaos.journal import Journal
    from chaos.policy import PolicyStatement


class JanitorScheduleKind(FaultKind[JanitorSchedule]):
    """The run's schedule as a journaled change (not a fault: registered for restore only)."""

    type_name = TYPE_NAME

    def __init__(self, spec: JanitorSchedule, context: FaultContext) -> None:
        super().__init__(spec, context, index=None)  # none of the experiment's faults

    def plan(self) -> list[PlannedChange]:
        schedule = self.spec
        return [
            PlannedChange(
                fault_type=TYPE_NAME,
                target=f"schedule {schedule.name}",
                target_arn=schedule_arn(
                    self.context.clients.region, account_of(schedule), schedule.name
                ),
                summary=[
                    f"invoke {FUNCTION_NAME} at {iso_from_epoch(schedule.at)} (UTC) with run "
                    f"{schedule.event.run_id} and {schedule.event.journal}",
                    "deleted once the run has restored",
                ],
                original={},
                intended={"action": "create", **schedule.to_dict()},
            )
        ]

    def apply(self, change: PlannedChange, journal: Journal) -> JournalEntry:
        """Journal the schedule durably, then create it (the order every change follows)."""

        def create() -> None:
            create_schedule(self.context.clients, self.spec)

        return self.journaled(
            journal,
            JournalEntry(
                entry_id=f"{TYPE_NAME}:{self.spec.name}",
                fault_type=TYPE_NAME,
                target=change.target,
                target_arn=change.target_arn,
                original={},
                intended=dict(change.intended),
            ),
            create,
        )

    @classmethod
    def required_permissions(
        cls, spec: Any, *, region: str, account_id: str, index: int
    ) -> list[PolicyStatement]:
        return run_permissions(region, account_id)

    @classmethod
    def restore(cls, entry: JournalEntry, clients: AwsClients, run_id: str) -> RestoreOutcome:
        name = str(entry.intended["name"])
        if not is_schedule_of(name, run_id):
            # The name is all a delete takes: only one derived from this run's id can be the
            # run's (a journal could name anyone's schedule).
            return RestoreOutcome(
                "refused",
                f"schedule {name} is not named for run {run_id} "
                f"({schedule_name(run_id)}): not deleted",
            )
        deleted = delete_schedule(clients, name)
        return RestoreOutcome(
            "restored",
            "" if deleted else "the schedule was already gone (it had fired, or was deleted)",
        )


def is_schedule_of(name: str, run_id: str) -> bool:
    """`name` is `schedule_name(run_id)`, or that name with a suffix (`-...`)."""
    return any(
        name == schedule_name(run_id, name[cut:])
        for cut in range(len(name) + 1)
        if cut == len(name) or name[cut] == "-"
    )
