"""`gameday validate`, `schema`, `plan` and `run`: experiments and game-day plans."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from chaos.cli.options import Commands, journal_option, no_janitor_option, target_options
from chaos.cli.targets import aws_clients
from chaos.errors import GamedayError, InputError
from chaos.outcome import EXIT_INVALID, EXIT_PASSED, EXIT_ROLLBACK_INCOMPLETE
from chaos.run.progress import attach_progress

if TYPE_CHECKING:
    from chaos.experiment import Experiment
    from chaos.gameday.runner import GamedayRun


def register(commands: Commands) -> None:
    sub = commands.command("validate", cmd_validate, "validate experiment / game-day YAML files")
    sub.add_argument("paths", nargs="+", type=Path, metavar="PATH")

    commands.command("schema", cmd_schema, "print the JSON Schema of the YAML formats")

    sub = commands.command("plan", cmd_plan, "read-only dry run: every resource and change")
    sub.add_argument("experiment", type=Path, metavar="EXPERIMENT")
    target_options(sub)
    journal_option(sub)
    no_janitor_option(sub)

    sub = commands.command("run", cmd_run, "run an experiment: baseline, fault, recovery, result")
    sub.add_argument("experiment", type=Path, metavar="EXPERIMENT_OR_PLAN")
    target_options(sub)
    sub.add_argument("--report-dir", type=Path, help="where to write the reports")
    sub.add_argument(
        "--yes",
        action="store_true",
        help="apply changes without asking (also GAMEDAY_ASSUME_YES=1)",
    )
    sub.add_argument(
        "--load-master-bind",
        metavar="HOST:PORT",
        help="where the Locust master listens for workers, e.g. 0.0.0.0:5557 "
        "(overrides load.master_bind)",
    )
    journal_option(sub)
    no_janitor_option(sub)


def cmd_validate(arguments: argparse.Namespace) -> int:
    """Errors exit 2; warnings (stderr) leave the exit code alone."""
    from chaos.experiment import validate_paths
    from chaos.experiment.waf_phases import short_waf_phase_warnings
    from chaos.run.plan_view import evidence_warnings

    errors = validate_paths(arguments.paths)
    for line in errors:
        print(line, file=sys.stderr)
    if errors:
        return EXIT_INVALID
    for line in [
        *short_waf_phase_warnings(arguments.paths),
        *evidence_warnings(arguments.paths),
    ]:
        print(line, file=sys.stderr)
    print(f"ok: {len(arguments.paths)} path(s) valid")
    return EXIT_PASSED


def cmd_schema(arguments: argparse.Namespace) -> int:
    from chaos.experiment import json_schema

    print(json.dumps(json_schema(), indent=2))
    return EXIT_PASSED


def cmd_plan(arguments: argparse.Namespace) -> int:
    from chaos.run.context import RunOptions
    from chaos.run.plan_view import print_plan
    from chaos.run.start import start_run

    experiment = _load_for_target(arguments, arguments.experiment)
    options = RunOptions(
        sandbox=arguments.sandbox,
        profile=arguments.profile,
        journal=arguments.journal,
        no_janitor=arguments.no_janitor,
    )
    with start_run(experiment, arguments.experiment, options) as run:
        print_plan(run.context, run.planned)
    return EXIT_PASSED


def cmd_run(arguments: argparse.Namespace) -> int:
    """One experiment, or each experiment of a directory / game-day plan in order."""
    from chaos.experiment import GamedayPlan, load_document, yaml_files
    from chaos.gameday.runner import GamedayRun, default_report_dir

    path: Path = arguments.experiment
    if path.is_dir():
        paths = yaml_files(path)
        if not paths:
            raise InputError(f"{path}: no experiment files (*.yaml) in this directory")
        gameday = GamedayRun(path.name, arguments.report_dir or default_report_dir(path.name))
        return _run_many(arguments, paths, gameday)
    document = _with_az_hint(arguments, lambda: load_document(path))
    if isinstance(document, GamedayPlan):
        arguments.journal = arguments.journal or document.journal
        arguments.plan_gate = document.gate  # the plan's gate applies to all its experiments
        gameday = GamedayRun(
            document.name,
            arguments.report_dir or default_report_dir(document.name),
            runbook=document.runbook,
            stop_on_failure=document.stop_on_failure,
        )
        return _run_many(arguments, list(document.experiment_paths()), gameday)
    return _run_one(arguments, path)[0]


def _run_many(arguments: argparse.Namespace, paths: list[Path], gameday: GamedayRun) -> int:
    from chaos.experiment import load_experiment

    for candidate in paths:  # validate all before changing anything
        load_experiment(candidate)

    def run_one(candidate: Path, report_dir: Path) -> tuple[int, Path | None]:
        print(f"== {candidate}")
        try:
            return _run_one(arguments, candidate, report_dir)
        except GamedayError as error:  # one refused experiment does not hide the others
            print(f"gameday: {candidate}: {error}", file=sys.stderr)
            return error.exit_code, None

    code = gameday.execute(paths, run_one)
    for skipped in gameday.skipped:
        print(f"skipped (stop_on_failure): {skipped}")
    print(f"game day {gameday.name}: exit {code}; report: {gameday.report_dir / 'gameday.md'}")
    return code


def _run_one(
    arguments: argparse.Namespace, path: Path, report_dir: Path | None = None
) -> tuple[int, Path | None]:
    from chaos.run.context import RunOptions
    from chaos.run.start import start_run

    experiment = _load_for_target(arguments, path)
    if arguments.load_master_bind:
        experiment = _with_load_master_bind(experiment, arguments.load_master_bind)
    options = RunOptions(
        sandbox=arguments.sandbox,
        report_dir=report_dir or arguments.report_dir,
        assume_yes=arguments.yes,
        profile=arguments.profile,
        confirm=_ask,
        journal=arguments.journal,
        no_janitor=arguments.no_janitor,
    )
    with start_run(experiment, path, options) as run:
        run.confirm()  # refused without a janitor before asking anything
        progress = attach_progress(run.context)
        run.context.events.row_received.add_listener(lambda row, **_: progress.on_row(row))
        try:
            outcome = run.execute()
        finally:
            progress.close()
    print(
        f"run {outcome.run_id}: {outcome.outcome}"
        + (f" ({outcome.result['abort_reason']})" if outcome.result.get("abort_reason") else "")
    )
    for fault in outcome.result["faults"]:
        print(
            f"  {fault['type']} {fault['target']}: {fault['restore_status']}"
            + (f" - {fault['detail']}" if fault["detail"] else "")
        )
    failing = [check for check in outcome.result.get("slo", []) if not check.get("passed")]
    if failing:
        from chaos.report import slo_text

        print(f"failed checks ({len(failing)} of {len(outcome.result['slo'])}):")
        print(slo_text({**outcome.result, "slo": failing}))
    html = outcome.result_path.with_name("report.html")
    if html.exists():
        print(f"report: {html}")
    print(f"result: {outcome.result_path}")  # last: scripts read the path after "result: "
    if outcome.exit_code == EXIT_ROLLBACK_INCOMPLETE:
        print(
            f"gameday: rollback incomplete; journal kept: {outcome.journal_path} "
            f"(run `gameday rollback --run-id {outcome.run_id}`)",
            file=sys.stderr,
        )
    return outcome.exit_code, outcome.result_path


def _load_for_target(arguments: argparse.Namespace, path: Path) -> Experiment:
    """Load an experiment; an AZ name where an AZ ID belongs gets the account's mapping."""
    from chaos.experiment import load_experiment

    experiment = _with_az_hint(arguments, lambda: load_experiment(path))
    plan_gate = getattr(arguments, "plan_gate", None)
    return experiment if plan_gate is None else experiment.model_copy(update={"gate": plan_gate})


T = TypeVar("T")


def _with_az_hint(arguments: argparse.Namespace, load: Callable[[], T]) -> T:
    from chaos.az.hint import explain_az_names

    try:
        return load()
    except InputError as error:
        raise explain_az_names(error, lambda region: aws_clients(arguments, region)) from None


def _with_load_master_bind(experiment: Experiment, master_bind: str) -> Experiment:
    """`experiment` with `load.master_bind` replaced (--load-master-bind); no load: as is."""
    from pydantic import ValidationError

    from chaos.experiment.model import Load

    if experiment.load is None:
        return experiment
    try:
        load = Load.model_validate({**experiment.load.model_dump(), "master_bind": master_bind})
    except ValidationError as error:
        raise InputError(f"--load-master-bind: {error.errors()[0]['msg']}") from None
    return experiment.model_copy(update={"load": load})


def _ask(question: str) -> bool:
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False
