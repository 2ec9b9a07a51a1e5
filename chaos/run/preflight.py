"""Before any change: the target, the credentials, the faults planned, the stop conditions,
the load, the janitor and the confirmation. Read-only; a refusal raises PreflightRefused."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

from chaos.aws.apigateway import api_of_endpoint, discover_integrations
from chaos.aws.credentials import refuse_short_lived
from chaos.errors import PreflightRefused
from chaos.experiment import Experiment
from chaos.faults import FAULT_KINDS, FaultContext
from chaos.janitor.arming import JanitorArrangement, arrange_janitor
from chaos.journal import new_run_id, runs_dir
from chaos.load.session import LoadSession
from chaos.run.context import PlannedFault, RunContext, RunOptions
from chaos.run.stop import StopSignal
from chaos.run.stop_conditions import missing_alarms
from chaos.run.target import resolve_target
from chaos.sandbox.process.control import JOURNAL_PREFIX


def fault_expiry(experiment: Experiment) -> float:
    """When the injected faults stop on their own if nothing restores them (epoch s)."""
    return time.time() + experiment.expiry_s


def prepare_run(
    experiment: Experiment, experiment_path: Path, options: RunOptions
) -> tuple[RunContext, list[PlannedFault]]:
    check_writable(options.report_dir, "--report-dir")
    check_writable(runs_dir(), "the runs folder (GAMEDAY_HOME)")
    target = resolve_target(
        experiment.target.region,
        experiment.target.account_id,
        experiment.target.endpoint,
        sandbox=options.sandbox,
        profile=options.profile,
    )
    context = RunContext(
        experiment=experiment,
        experiment_path=experiment_path,
        options=options,
        run_id=new_run_id(experiment.name),
        target=target,
        stop=StopSignal(
            experiment.max_duration,
            hard_limit_s=experiment.expiry_s - min(60.0, experiment.expiry_margin / 2),
        ),
    )
    context.stop.listeners.append(lambda reason: context.events.stop_requested.fire(reason=reason))
    try:
        check_credentials(context)
        planned = plan_faults(context)
        check_stop_conditions(context)
        context.load = LoadSession.prepare(
            experiment,
            experiment_path,
            target.clients,
            sandbox=target.sandbox,
            api_endpoint=target.api_endpoint,
        )
        return context, planned
    except BaseException:
        target.close()
        raise


def check_writable(folder: Path | None, what: str) -> None:
    """Refuse, before any change, a folder the run will write but cannot: it is created and
    a probe file written and removed (permission bits lie to root; a path under a file or
    on a read-only mount only fails when tried)."""
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".gameday-probe-"):
            pass
    except OSError as error:
        raise PreflightRefused(
            f"{what} {folder} cannot be written: {error.strerror or error}"
        ) from None


def requested_journal(context: RunContext) -> str | None:
    """The S3 journal location the run asks for: --journal, else in the sandbox its own
    journal bucket (`gameday sandbox env` exports it too)."""
    if context.options.journal:
        return context.options.journal
    bucket = context.target.sandbox_service.get("journal_bucket")
    return f"s3://{bucket}/{JOURNAL_PREFIX}" if context.target.sandbox and bucket else None


def plan_faults(context: RunContext) -> list[PlannedFault]:
    """Resolve every fault's targets and changes; read-only; raises PreflightRefused."""
    context.fault_context = FaultContext(
        clients=context.target.clients,
        run_id=context.run_id,
        expires_at=fault_expiry(context.experiment),
        sandbox=context.target.sandbox,
        stopping=lambda: context.stop.reason is not None,
        journal_location=requested_journal(context),
    )
    if any(
        FAULT_KINDS[spec.type].needs_endpoint_integrations for spec in context.experiment.faults
    ):
        discover_endpoint(context, context.fault_context)
    planned = []
    for index, spec in enumerate(context.experiment.faults):
        kind = FAULT_KINDS[spec.type](spec, context.fault_context, index)
        planned.append(PlannedFault(kind, kind.plan()))
    seen: dict[str, str] = {}
    for fault in planned:
        for change in fault.changes:
            key = f"{change.fault_type}:{change.target_arn}"
            if key in seen:
                raise PreflightRefused(f"{change.target} is targeted twice by {change.fault_type}")
            seen[key] = change.target
    return planned


def discover_endpoint(context: RunContext, fault_context: FaultContext) -> None:
    """How the endpoint invokes Lambda, for the faults to refuse what they would miss."""
    target = context.target
    endpoint = target.api_endpoint if target.sandbox else context.experiment.target.endpoint
    api = api_of_endpoint(endpoint, target.sandbox_service.get("rest_api_id"))
    if api is None:
        if endpoint:
            fault_context.integrations_unknown = (
                f"{endpoint} is not an execute-api URL (a custom domain?)"
            )
        return
    discovered = discover_integrations(target.clients, api)
    if discovered is None:
        fault_context.integrations_unknown = (
            f"API {api.api_id}'s integrations could not be read (not an IAM denial; --debug "
            "logs why)"
        )
        return
    fault_context.integrations = discovered.integrations
    fault_context.integrations_caveat = discovered.caveat


def check_credentials(context: RunContext) -> None:
    """Refuse credentials that expire before the run could restore, and say how long they last."""
    lifetime = context.target.credentials
    if lifetime is None:
        return
    refuse_short_lived(lifetime, context.experiment.expiry_s)
    context.notes.append(lifetime.describe())


def check_stop_conditions(context: RunContext) -> None:
    alarms = context.experiment.stop_conditions.alarms
    if alarms:
        missing = missing_alarms(context.target.clients.client("cloudwatch"), alarms)
        if missing:
            raise PreflightRefused(
                "stop_conditions.alarms: no such CloudWatch alarm: " + ", ".join(missing)
            )


def janitor_for(context: RunContext, planned: list[PlannedFault]) -> JanitorArrangement:
    """Who would restore the run if it died; read-only, raises PreflightRefused without one."""
    return arrange_janitor(
        [change for fault in planned for change in fault.changes],
        context.target.clients,
        journal=requested_journal(context),
        no_janitor=context.options.no_janitor,
    )


def arrange(context: RunContext, planned: list[PlannedFault]) -> None:
    """Settle who restores the run if it dies, and so where its journal is kept."""
    context.janitor = janitor_for(context, planned)
    context.journal_location = context.janitor.journal or context.options.journal


def confirm_mutation(context: RunContext, planned: list[PlannedFault]) -> None:
    if context.options.assume_yes or os.environ.get("GAMEDAY_ASSUME_YES") == "1":
        return
    if not sys.stdin.isatty() or context.options.confirm is None:
        raise PreflightRefused(
            "refusing to change resources without confirmation: stdin is not "
            "a terminal (pass --yes or set GAMEDAY_ASSUME_YES=1)"
        )
    count = sum(len(fault.changes) for fault in planned)
    if not context.options.confirm(f"Apply {count} change(s) for run {context.run_id}?"):
        raise PreflightRefused("not confirmed; nothing was changed")
