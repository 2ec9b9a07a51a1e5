"""`gameday rollback` and `status`: the unfinished runs and what they hold."""

from __future__ import annotations

import argparse
import sys

from chaos.cli.options import Commands, journal_option, target_options
from chaos.cli.targets import journal_store, journal_target
from chaos.errors import InputError
from chaos.outcome import EXIT_PASSED, exit_for


def register(commands: Commands) -> None:
    sub = commands.command(
        "rollback", cmd_rollback, "restore everything recorded in unfinished journals"
    )
    which = sub.add_mutually_exclusive_group(required=True)
    which.add_argument("--run-id", help="one run")
    which.add_argument("--all", action="store_true", help="every unfinished run")
    sub.add_argument(
        "--force", action="store_true", help="also roll back runs whose process is still alive"
    )
    journal_option(sub)
    target_options(sub, region=True)

    sub = commands.command("status", cmd_status, "unfinished journals and the resources they lock")
    journal_option(sub)
    target_options(sub, region=True)


def cmd_rollback(arguments: argparse.Namespace) -> int:
    from chaos.journal import all_journals
    from chaos.run.restore import rollback_unfinished

    with journal_store(arguments) as remote:
        if not arguments.all and arguments.run_id not in {
            journal.run_id for journal in all_journals(remote)
        }:
            where = (
                f"here or in {arguments.journal}"
                if arguments.journal
                else ("here (a run kept in S3 needs --journal)")
            )
            raise InputError(f"no journal of run {arguments.run_id!r} {where}")
        reports = rollback_unfinished(
            None if arguments.all else arguments.run_id,
            force=arguments.force,
            remote=remote,
            profile=arguments.profile,
            on_skip=lambda text: print(text, file=sys.stderr),
        )
    if not reports:
        print("nothing to roll back")
        return EXIT_PASSED
    for report in reports:
        print(
            f"run {report.run_id}: restored {report.restored}, drifted {report.drifted}, "
            f"failed {report.failed}"
            + (f", refused {report.refused} (nothing written)" if report.refused else "")
        )
        for detail in report.details:
            print(f"  {detail}")
    return exit_for("passed", all(report.complete for report in reports))


def cmd_status(arguments: argparse.Namespace) -> int:
    from chaos.janitor.dead_letters import dead_letter_lines
    from chaos.journal import all_journals
    from chaos.run.restorers import RESTORE_ONLY_KINDS

    with journal_target(arguments) as (remote, clients):
        unfinished = [journal for journal in all_journals(remote) if journal.unfinished]
        dropped = dead_letter_lines(clients) if clients is not None else []
    for line in dropped:  # a janitor that never ran: what it should have restored is below
        print(line)
    if not unfinished:
        print("no unfinished runs; no locks held")
        return EXIT_PASSED
    for journal in unfinished:
        state = journal.liveness()
        status = "dead" if state == "dead" else journal.status
        print(
            f"run {journal.run_id} ({journal.experiment_name}) status={status} "
            f"pid={journal.pid} host={journal.hostname} region={journal.region}"
            + (f" endpoint={journal.endpoint_url}" if journal.endpoint_url else "")
            + (f" journal={journal.location}" if journal.location else "")
        )
        if state == "dead" and journal.status == "running":
            print(f"  its process is gone: gameday rollback --run-id {journal.run_id}")
        for line in journal.breaks:
            print(f"  journal: {line}")
        for entry in journal.entries:
            if not entry.needs_restore:
                continue
            if entry.fault_type in RESTORE_ONLY_KINDS:
                print(f"  janitor armed: {entry.target} ({entry.status})")
            else:
                print(f"  locked: {entry.target_arn} ({entry.fault_type}, {entry.status})")
    return EXIT_PASSED
