"""`gameday plan`: the exact change set, printed without mutating anything."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from chaos.durations import format_duration
from chaos.errors import PreflightRefused
from chaos.experiment import Experiment, documents_with_lines
from chaos.experiment.objective import relative_slis
from chaos.run.preflight import janitor_for

if TYPE_CHECKING:
    from chaos.run.context import PlannedFault, RunContext


def plan_lines(context: RunContext, planned: list[PlannedFault]) -> list[str]:
    experiment = context.experiment
    target = context.target
    where = "sandbox" if target.sandbox else f"account {target.account_id}"
    lines = [
        f"experiment {experiment.name} -> {where}, region {target.clients.region}",
        f"phases: baseline {format_duration(experiment.phases.baseline)}, "
        f"fault {format_duration(experiment.phases.fault)}, "
        f"recovery {format_duration(experiment.phases.recovery)}; "
        f"max_duration {format_duration(experiment.max_duration)}; every fault restores "
        f"itself {format_duration(experiment.expiry_s)} after the start at the latest",
    ]
    if target.credentials is not None:
        lines.append(target.credentials.describe())
    janitor, janitor_journal = janitor_lines(context, planned)
    journal = context.options.journal or janitor_journal  # the sandbox's, by default
    lines.append(
        f"journal: {journal}<run-id>/ in the target account, and locally"
        if journal
        else "journal: local only (.gameday/runs/<run-id>/journal.json); "
        "--journal s3://... keeps it in the target account"
    )
    lines.extend(janitor)
    count = 0
    for fault in planned:
        for change in fault.changes:
            count += 1
            lines.append(f"{change.fault_type} on {change.target} ({change.target_arn}):")
            lines.extend(f"  - {line}" for line in change.summary)
            lines.extend(f"  ! {warning}" for warning in change.warnings)
    lines.append(
        f"blast radius: {count} resource change(s), all journaled and restored after "
        "the fault phase"
    )
    if planned:
        lines.append(
            "windows: fault-phase SLIs count from the moment the last change is in "
            "force (effective_at), recovery-phase SLIs from the end of the restore; "
            "the seconds between are reported as `transition`"
        )
        lines.append(
            "fault_effect: each fault must show an effect during a fault phase with "
            "load (an automatic check)"
            if experiment.expect_effect
            else "fault_effect: not checked (expect_effect: false)"
        )
    if context.load is None:
        lines.append("load: none")
    else:
        lines.extend(context.load.describe())
    lines.extend(evidence_lines(experiment))
    return lines


def evidence_warnings(paths: Sequence[Path | str]) -> list[str]:
    """``FILE:LINE:COL: warning: ...`` for each SLO check of the valid experiments under
    `paths` that can never be decisive at its phase's load (too few requests for any bound,
    or no load decides it at its margin): it would always be inconclusive."""
    lines: list[str] = []
    for document, line_of in documents_with_lines(paths):
        if not isinstance(document, Experiment) or not has_statistical_checks(document):
            continue
        from chaos.verdict.planning import never_decisive  # numpy and scipy: only when needed

        for plan in never_decisive(document):
            needed = plan.minimum_for_any_bound or plan.requests_needed
            detail = f"needs at least {needed} requests" if needed else "no load decides it"
            lines.append(
                line_of(
                    ["slo", plan.index, "objective"],
                    (
                        f"warning: {plan.sli} in phase {plan.phase} can never be decisive: "
                        f"~{plan.expected_requests} requests, {detail} {plan.what}; it will be "
                        "inconclusive (gameday plan shows the evidence)"
                    ),
                )
            )
    return lines


def has_statistical_checks(experiment: Experiment) -> bool:
    return any(check.sli in relative_slis() for check in experiment.slo)


def evidence_lines(experiment: Experiment) -> list[str]:
    """Per statistical SLO check: the requests its phase will get and whether they can decide
    it (chaos.verdict.planning; numpy and scipy imported only when there is such a check)."""
    if not has_statistical_checks(experiment):
        return []
    from chaos.verdict.planning import plan_lines as evidence_plan_lines

    return evidence_plan_lines(experiment)


def janitor_lines(context: RunContext, planned: list[PlannedFault]) -> tuple[list[str], str | None]:
    """Who restores the run if it dies (or why the run would be refused), and the journal
    location the run would then use."""
    try:
        arrangement = janitor_for(context, planned)
    except PreflightRefused as refused:
        return [f"janitor: none; the run would be refused: {refused}"], None
    return arrangement.describe(), arrangement.journal


def print_plan(context: RunContext, planned: list[PlannedFault]) -> None:
    print("\n".join(plan_lines(context, planned)))
