"""`gameday`: the command line. Errors the user can cause print as one line, exit 2."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from chaos import __version__
from chaos.errors import GamedayError, InputError, redact_aws_message
from chaos.outcome import EXIT_INVALID, EXIT_PASSED, EXIT_ROLLBACK_INCOMPLETE, exit_for

if TYPE_CHECKING:
    from chaos.aws import AwsClients
    from chaos.experiment import Experiment
    from chaos.gameday.runner import GamedayRun
    from chaos.journal import JournalLocation, S3JournalStore
    from chaos.metrics.settle import CloudWatchLag

Handler = Callable[[argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if arguments.debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not hasattr(arguments, "handler"):
        parser.print_help()
        return EXIT_INVALID
    try:
        result: int = arguments.handler(arguments)
        return result
    except GamedayError as error:
        if arguments.debug:
            raise
        print(f"gameday: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("gameday: interrupted", file=sys.stderr)
        return 130
    except ClientError as error:
        if arguments.debug:
            raise
        details = error.response.get("Error", {})
        print(f"gameday: AWS refused {error.operation_name}: {details.get('Code', '?')}: "
              f"{redact_aws_message(str(details.get('Message', '')))}", file=sys.stderr)
        return EXIT_INVALID
    except Exception as error:  # noqa: BLE001 - the CLI edge: one line, traceback with --debug
        if arguments.debug:
            raise
        print(f"gameday: unexpected error: {type(error).__name__}: {error} "
              "(rerun with --debug for the traceback)", file=sys.stderr)
        return EXIT_INVALID


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gameday",
        description="Chaos and resilience experiments for AWS serverless services.",
    )
    parser.add_argument("--version", action="version", version=f"gameday {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                         help=argparse.SUPPRESS)
        sub.set_defaults(handler=handler)
        return sub

    sub = command("validate", cmd_validate, "validate experiment / game-day YAML files")
    sub.add_argument("paths", nargs="+", type=Path, metavar="PATH")

    command("schema", cmd_schema, "print the JSON Schema of the YAML formats")

    sub = command("plan", cmd_plan, "read-only dry run: every resource and change")
    sub.add_argument("experiment", type=Path, metavar="EXPERIMENT")
    _target_options(sub)
    _journal_option(sub)
    _no_janitor_option(sub)

    sub = command("run", cmd_run, "run an experiment: baseline, fault, recovery, result")
    sub.add_argument("experiment", type=Path, metavar="EXPERIMENT_OR_PLAN")
    _target_options(sub)
    sub.add_argument("--report-dir", type=Path, help="where to write the reports")
    sub.add_argument("--yes", action="store_true",
                     help="apply changes without asking (also GAMEDAY_ASSUME_YES=1)")
    sub.add_argument("--load-master-bind", metavar="HOST:PORT",
                     help="where the Locust master listens for workers, e.g. 0.0.0.0:5557 "
                     "(overrides load.master_bind)")
    _journal_option(sub)
    _no_janitor_option(sub)

    sub = command("rollback", cmd_rollback, "restore everything recorded in unfinished journals")
    which = sub.add_mutually_exclusive_group(required=True)
    which.add_argument("--run-id", help="one run")
    which.add_argument("--all", action="store_true", help="every unfinished run")
    sub.add_argument("--force", action="store_true",
                     help="also roll back runs whose process is still alive")
    _journal_option(sub)
    _target_options(sub, region=True)

    sub = command("status", cmd_status, "unfinished journals and the resources they lock")
    _journal_option(sub)
    _target_options(sub, region=True)

    sub = command("report", cmd_report, "re-render reports (html, md, junit) from a result.json")
    sub.add_argument("result", type=Path, metavar="RESULT_JSON")
    sub.add_argument("--format", dest="report_formats", action="append",
                     choices=["html", "md", "junit"],
                     help="format to write (repeatable; default: all three)")
    sub.add_argument("--out", type=Path, default=None,
                     help="output directory (default: the folder of RESULT_JSON)")
    sub.add_argument("--refresh", action="store_true",
                     help="read the server-side (CloudWatch) SLIs again now that they have "
                     "settled, judge the SLOs again and re-render every report")
    sub.add_argument("--profile", help="AWS profile for --refresh")

    sub = command("iam-policy", cmd_iam_policy,
                  "the least-privilege IAM policy a run of an experiment needs")
    sub.add_argument("experiment", type=Path, metavar="EXPERIMENT")
    sub.add_argument("--account-id", help="account of the ARNs (default: target.account_id)")
    sub.add_argument("--offline", action="store_true",
                     help="do not read the targets (their layers and KMS keys are then named "
                     "by --layer-arn / --kms-key-arn, or by placeholders to replace)")
    sub.add_argument("--layer-arn", dest="layer_arns", action="append", default=[],
                     metavar="ARN", help="a layer version the targets already carry, when "
                     "they are not read (repeatable)")
    sub.add_argument("--kms-key-arn", dest="kms_key_arns", action="append", default=[],
                     metavar="ARN", help="the KMS key of the targets' environment, when they "
                     "are not read (repeatable)")
    sub.add_argument("--partition", choices=["aws", "aws-cn", "aws-us-gov"],
                     help="the ARNs' partition (default: the target Region's, or the caller "
                     "identity's when the targets are read)")
    _target_options(sub)
    _journal_option(sub)
    _no_janitor_option(sub)

    sub = command("schedule", cmd_schedule,
                  "next run times of a game-day plan and cron / CI / EventBridge snippets")
    sub.add_argument("plan", type=Path, metavar="PLAN")
    sub.add_argument("--count", type=int, default=5, help="how many next run times")
    sub.add_argument("--format", choices=["all", "crontab", "github", "eventbridge"],
                     default="all")
    sub.add_argument("--journal", metavar="s3://BUCKET/PREFIX",
                     help="the S3 journal the snippets name (default: the plan's `journal`, "
                     "else a placeholder; $GAMEDAY_JOURNAL is not read: it may be the sandbox's)")
    sub.add_argument("--runner-role-arn", help="role the GitHub Actions job assumes (default: "
                     "role/gameday-runner in the experiments' account, in their Region's "
                     "partition: arn:PARTITION:iam::ACCOUNT_ID:role/gameday-runner)")
    sub.add_argument("--cluster-arn", "--target-arn", dest="cluster_arn",
                     help="ECS cluster EventBridge Scheduler runs the task in")
    sub.add_argument("--task-definition-arn", help="task definition of the gameday image "
                     "(its container is named by --container-name)")
    sub.add_argument("--subnet", dest="subnets", action="append", default=[],
                     help="subnet of the Fargate task (repeatable)")
    sub.add_argument("--security-group", dest="security_groups", action="append", default=[],
                     help="security group of the Fargate task (repeatable)")
    sub.add_argument("--container-name", default="gameday",
                     help="the task definition's container running the gameday image")
    sub.add_argument("--role-arn", help="role EventBridge Scheduler assumes to run the task "
                     "(default: arn:PARTITION:iam::ACCOUNT_ID:role/gameday-scheduler, the "
                     "partition of the experiments' Region)")

    sub = command("az-map", cmd_az_map, "the account's AZ name <-> AZ ID mapping")
    _target_options(sub, region=True)

    sub = command("az-audit", cmd_az_audit,
                  "per AZ ID: which workloads have capacity there and which would lose all")
    sub.add_argument("--sandbox", action="store_true", help="audit the local sandbox")
    sub.add_argument("--region", default=None, help="AWS region")
    sub.add_argument("--profile", action="append", dest="profiles", metavar="PROFILE",
                     help="AWS profile of one account (repeat to line up several accounts)")
    sub.add_argument("--json", action="store_true", help="print JSON instead of a table")
    sub.add_argument("--depends-on", action="append", default=[], metavar="SERVICE=DEPENDENCY",
                     help="flag SERVICE if DEPENDENCY runs in other AZ IDs (repeatable; "
                     "NAME, KIND:NAME or PROFILE:NAME)")
    sub.add_argument("--fail-on-findings", action="store_true",
                     help="exit 1 when a workload lives in one AZ ID or a dependency's AZ IDs "
                     "differ (a CI gate)")

    extension = commands.add_parser("extension", help="the fault-injection layer")
    extension_commands = extension.add_subparsers(title="extension commands", metavar="COMMAND")
    sub = extension_commands.add_parser(
        "build", help="build one layer zip per architecture (prints each path, sha256)")
    sub.add_argument("--out", type=Path, default=Path("."), help="output directory")
    sub.set_defaults(handler=cmd_extension_build)
    sub = extension_commands.add_parser(
        "verify", help="rebuild the binaries from source with the pinned Go; exit 0 only when "
        "they equal the packaged ones")
    sub.set_defaults(handler=cmd_extension_verify)
    sub = extension_commands.add_parser("publish", help="publish the layer (reuses same hash)")
    _target_options(sub, region=True)
    sub.set_defaults(handler=cmd_extension_publish)

    janitor = commands.add_parser("janitor", help="the function that restores expired runs")
    janitor_commands = janitor.add_subparsers(title="janitor commands", metavar="COMMAND")
    sub = janitor_commands.add_parser(
        "deploy", help="install (idempotently) the janitor function and its roles in the "
        "target account; prints what it created or reused")
    _journal_option(sub)
    _target_options(sub, region=True)
    sub.set_defaults(handler=cmd_janitor_deploy)
    sub = janitor_commands.add_parser(
        "iam-policy", help="the least-privilege IAM policy `janitor deploy` needs (the "
        "janitor's own roles are what deploy creates)")
    _journal_option(sub)
    sub.add_argument("--region", required=True, help="AWS region")
    sub.add_argument("--account-id", required=True, help="the target account")
    sub.set_defaults(handler=cmd_janitor_iam_policy)

    load = commands.add_parser("load", help="Locust load of a running experiment")
    load_commands = load.add_subparsers(title="load commands", metavar="COMMAND")
    sub = load_commands.add_parser(
        "worker", help="a Locust worker for a running experiment's master (any machine)")
    sub.add_argument("--master", required=True, metavar="HOST:PORT",
                     help="the run's Locust master (its load.master_bind)")
    sub.add_argument("--locustfile", type=Path, default=None,
                     help="a local copy of the experiment's locustfile (required unless "
                     "--trust-master-code)")
    sub.add_argument("--trust-master-code", action="store_true",
                     help="without --locustfile, run the master's locustfile: Python sent over "
                     "Locust's unauthenticated channel, executed by this worker")
    sub.set_defaults(handler=cmd_load_worker)

    sandbox = commands.add_parser("sandbox", help="the embedded local target")
    sandbox_commands = sandbox.add_subparsers(title="sandbox commands", metavar="COMMAND")
    sub = sandbox_commands.add_parser("up", help="start the sandbox in the background")
    sub.add_argument("--realism", choices=["fast", "aws"], default=None,
                     help="aws: as slow and imprecise as AWS where verdicts depend on it "
                     "(default: $GAMEDAY_SANDBOX_REALISM, else fast)")
    sub.set_defaults(handler=cmd_sandbox_up)
    for name, handler, help_text in (
        ("down", cmd_sandbox_down, "stop it"),
        ("status", cmd_sandbox_status, "is it running, where"),
        ("env", cmd_sandbox_env, "export lines for the shell"),
    ):
        sandbox_commands.add_parser(name, help=help_text).set_defaults(handler=handler)
    return parser


def _journal_option(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--journal", metavar="s3://BUCKET/PREFIX",
                     default=os.environ.get("GAMEDAY_JOURNAL") or None,
                     help="keep (and find) run journals in S3 in the target account, readable "
                     "from any machine (default: $GAMEDAY_JOURNAL)")


def _no_janitor_option(sub: argparse.ArgumentParser) -> None:
    from chaos.janitor import NO_JANITOR_ENV

    sub.add_argument("--no-janitor", action="store_true",
                     default=os.environ.get(NO_JANITOR_ENV) == "1",
                     help="schedule no janitor: nothing restores the run by itself if it "
                     "dies, az-loss faults never expire (default: $GAMEDAY_NO_JANITOR=1)")


def _target_options(sub: argparse.ArgumentParser, *, region: bool = False) -> None:
    sub.add_argument("--sandbox", action="store_true", help="target the local sandbox")
    sub.add_argument("--profile", help="AWS profile")
    if region:
        sub.add_argument("--region", default=None, help="AWS region")


# -- commands -------------------------------------------------------------------------


def cmd_validate(arguments: argparse.Namespace) -> int:
    from chaos.experiment import validate_paths

    errors = validate_paths(arguments.paths)
    for line in errors:
        print(line, file=sys.stderr)
    if errors:
        return EXIT_INVALID
    print(f"ok: {len(arguments.paths)} path(s) valid")
    return EXIT_PASSED


def cmd_schema(arguments: argparse.Namespace) -> int:
    from chaos.experiment import json_schema

    print(json.dumps(json_schema(), indent=2))
    return EXIT_PASSED


def cmd_plan(arguments: argparse.Namespace) -> int:
    from chaos.run.lifecycle import RunOptions, prepare_run
    from chaos.run.plan_view import print_plan

    experiment = _load_for_target(arguments, arguments.experiment)
    options = RunOptions(sandbox=arguments.sandbox, profile=arguments.profile,
                         journal=arguments.journal, no_janitor=arguments.no_janitor)
    context, planned = prepare_run(experiment, arguments.experiment, options)
    try:
        print_plan(context, planned)
    finally:
        context.target.close()
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
        gameday = GamedayRun(document.name,
                             arguments.report_dir or default_report_dir(document.name),
                             runbook=document.runbook, stop_on_failure=document.stop_on_failure)
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


def _load_for_target(arguments: argparse.Namespace, path: Path) -> Experiment:
    """Load an experiment; an AZ name where an AZ ID belongs gets the account's mapping."""
    from chaos.experiment import load_experiment

    return _with_az_hint(arguments, lambda: load_experiment(path))


T = TypeVar("T")


def _with_az_hint(arguments: argparse.Namespace, load: Callable[[], T]) -> T:
    from chaos.az.hint import explain_az_names

    try:
        return load()
    except InputError as error:
        raise explain_az_names(error, lambda region: aws_clients(arguments, region)) from None


@contextmanager
def journal_store(arguments: argparse.Namespace) -> Iterator[S3JournalStore | None]:
    """The S3 journal store of --journal / $GAMEDAY_JOURNAL, None without one."""
    with journal_target(arguments) as (store, _):
        yield store


@contextmanager
def journal_target(arguments: argparse.Namespace
                   ) -> Iterator[tuple[S3JournalStore | None, AwsClients | None]]:
    """The S3 journal store of --journal (in the caller's account: ExpectedBucketOwner) and
    the clients it reads with; (None, None) without one."""
    from chaos.journal import JournalLocation, S3JournalStore

    if not getattr(arguments, "journal", None):
        yield None, None
        return
    location = JournalLocation.parse(arguments.journal)
    region = (getattr(arguments, "region", None) or os.environ.get("AWS_DEFAULT_REGION")
              or "us-east-1")
    with aws_clients(arguments, region) as clients:
        yield S3JournalStore(clients.client("s3"), location,
                             expected_owner=clients.caller_account_id()), clients


@contextmanager
def aws_clients(arguments: argparse.Namespace, region: str | None) -> Iterator[AwsClients]:
    """The AWS a command talks to: the one way every command builds its clients.

    With --sandbox: the running sandbox, or one started for this command and stopped
    after it (as `gameday run --sandbox` does). Otherwise AWS in `region` with --profile.
    """
    from chaos.run.target import resolve_target

    sandbox = bool(getattr(arguments, "sandbox", False))
    if not sandbox and not region:
        raise InputError("--region is required (or --sandbox)")
    target = resolve_target(region or "us-east-1", None, None, sandbox=sandbox,
                            profile=getattr(arguments, "profile", None), require_account=False)
    try:
        yield target.clients
    finally:
        target.close()


def _run_one(arguments: argparse.Namespace, path: Path,
             report_dir: Path | None = None) -> tuple[int, Path | None]:
    from chaos.janitor.arming import arrange_janitor
    from chaos.run.lifecycle import RunOptions, confirm_mutation, execute, prepare_run
    from chaos.run.progress import attach_progress

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
    context, planned = prepare_run(experiment, path, options)
    progress = None
    try:
        arrange_janitor(context, planned)  # refused without one before asking anything
        confirm_mutation(context, planned)
        progress = attach_progress(context)
        context.events.row_received.add_listener(lambda row, **_: progress.on_row(row))
        outcome = execute(context, planned)
    finally:
        if progress is not None:
            progress.close()
        context.target.close()
    print(f"run {outcome.run_id}: {outcome.outcome}"
          + (f" ({outcome.result['abort_reason']})" if outcome.result.get("abort_reason") else ""))
    for fault in outcome.result["faults"]:
        print(f"  {fault['type']} {fault['target']}: {fault['restore_status']}"
              + (f" - {fault['detail']}" if fault["detail"] else ""))
    print(f"result: {outcome.result_path}")
    if outcome.exit_code == EXIT_ROLLBACK_INCOMPLETE:
        print(f"gameday: rollback incomplete; journal kept: {outcome.journal_path} "
              f"(run `gameday rollback --run-id {outcome.run_id}`)", file=sys.stderr)
    return outcome.exit_code, outcome.result_path


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


def cmd_load_worker(arguments: argparse.Namespace) -> int:
    from chaos.load.remote_worker import run_worker

    return run_worker(arguments.master, arguments.locustfile,
                      trust_master_code=arguments.trust_master_code)


def cmd_rollback(arguments: argparse.Namespace) -> int:
    from chaos.run.restore import rollback_unfinished

    with journal_store(arguments) as remote:
        reports = rollback_unfinished(None if arguments.all else arguments.run_id,
                                      force=arguments.force, remote=remote,
                                      profile=arguments.profile,
                                      on_skip=lambda text: print(text, file=sys.stderr))
    if not reports:
        print("nothing to roll back")
        return EXIT_PASSED
    for report in reports:
        print(f"run {report.run_id}: restored {report.restored}, drifted {report.drifted}, "
              f"failed {report.failed}"
              + (f", refused {report.refused} (nothing written)" if report.refused else ""))
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
        print(f"run {journal.run_id} ({journal.experiment_name}) status={status} "
              f"pid={journal.pid} host={journal.hostname} region={journal.region}"
              + (f" endpoint={journal.endpoint_url}" if journal.endpoint_url else "")
              + (f" journal={journal.location}" if journal.location else ""))
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


def cmd_iam_policy(arguments: argparse.Namespace) -> int:
    from chaos.experiment import load_experiment
    from chaos.run.permissions import experiment_policy

    experiment = load_experiment(arguments.experiment)
    account_id = arguments.account_id or experiment.target.account_id
    if not account_id:
        raise InputError("the experiment has no target.account_id: pass --account-id")
    options = {"journal": arguments.journal, "janitor": not arguments.no_janitor,
               "partition": arguments.partition, "layer_arns": tuple(arguments.layer_arns),
               "kms_key_arns": tuple(arguments.kms_key_arns)}
    if arguments.offline:
        policy = experiment_policy(experiment, account_id, **options)
    else:
        try:
            with aws_clients(arguments, experiment.target.region) as clients:
                policy = experiment_policy(experiment, account_id, clients, **options)
        except GamedayError as error:
            print(f"gameday: the targets could not be read ({error}); their layers and KMS "
                  "keys are named by --layer-arn / --kms-key-arn or placeholders",
                  file=sys.stderr)
            policy = experiment_policy(experiment, account_id, **options)
    print(json.dumps(policy, indent=2))
    return EXIT_PASSED


def cmd_schedule(arguments: argparse.Namespace) -> int:
    from chaos.experiment import load_plan
    from chaos.gameday.cron import SnippetOptions, render_all, render_snippet, schedule_for_plan

    plan = load_plan(arguments.plan)
    schedule = schedule_for_plan(arguments.plan, plan, Path.cwd(), journal=arguments.journal)
    options = SnippetOptions(
        runner_role_arn=arguments.runner_role_arn, scheduler_role_arn=arguments.role_arn,
        cluster_arn=arguments.cluster_arn, task_definition_arn=arguments.task_definition_arn,
        subnets=tuple(arguments.subnets), security_groups=tuple(arguments.security_groups),
        container_name=arguments.container_name,
    )
    if arguments.format == "all":
        print(render_all(schedule, arguments.count, options))
    else:
        print(render_snippet(schedule, arguments.format, options))
    return EXIT_PASSED


def cmd_az_map(arguments: argparse.Namespace) -> int:
    from chaos.az.mapping import az_mapping

    with aws_clients(arguments, arguments.region) as clients:
        for zone in az_mapping(clients):
            print(f"{zone.name}\t{zone.zone_id}")
    return EXIT_PASSED


def cmd_az_audit(arguments: argparse.Namespace) -> int:
    from chaos.az import audit as az_audit

    dependencies = [az_audit.parse_dependency(text) for text in arguments.depends_on]
    if arguments.sandbox:
        with aws_clients(arguments, arguments.region) as clients:
            region = clients.region
            inventories = [az_audit.take_inventory(clients, "sandbox")]
    else:
        if not arguments.region:
            raise InputError("--region is required (or --sandbox)")
        region = arguments.region
        inventories = [
            az_audit.take_inventory(az_audit.clients_for_profile(profile, region),
                                    profile or "default")
            for profile in (arguments.profiles or [None])
        ]
    report = az_audit.audit(inventories, dependencies, region)
    if arguments.json:
        print(az_audit.render_json(report))
    else:
        az_audit.print_table(report)
    return exit_for("failed" if arguments.fail_on_findings and report.has_findings
                    else "passed")


def cmd_extension_build(arguments: argparse.Namespace) -> int:
    from chaos.faults.lambda_extension.layer import sha256_hex, write_layer_zips

    for path in write_layer_zips(arguments.out).values():
        print(f"{path} sha256 {sha256_hex(path.read_bytes())}")
    return EXIT_PASSED


def cmd_extension_verify(arguments: argparse.Namespace) -> int:
    from chaos.faults.lambda_extension.toolchain import verify

    results = verify()
    for result in results:
        state = "same bytes" if result.matches else "DIFFERS from the packaged binary"
        print(f"{result.architecture}: built sha256 {result.built_sha256} "
              f"packaged {result.packaged_sha256 or 'missing'}: {state}")
    if all(result.matches for result in results):
        return EXIT_PASSED
    raise InputError("the packaged extension binaries are not built from this source: "
                     "python -c 'from chaos.faults.lambda_extension.toolchain import "
                     "refresh_packaged_binaries; "
                     "refresh_packaged_binaries()' rebuilds them")


def cmd_extension_publish(arguments: argparse.Namespace) -> int:
    from chaos.faults.lambda_extension.layer import (
        ARCHITECTURES,
        build_layer_zip,
        lambda_code_sha256,
    )
    from chaos.faults.lambda_extension.layer_versions import publish_layer

    with aws_clients(arguments, arguments.region) as clients:
        for architecture in ARCHITECTURES:  # one layer version per architecture
            data = build_layer_zip(architecture)
            version = publish_layer(clients, data, lambda_code_sha256(data), architecture)
            print(f"{architecture}: {version.arn} CodeSha256={version.code_sha256}")
    return EXIT_PASSED


def janitor_journal(arguments: argparse.Namespace) -> JournalLocation:
    from chaos.journal import JournalLocation

    if not arguments.journal:
        raise InputError("--journal s3://BUCKET/PREFIX is required (or GAMEDAY_JOURNAL): the "
                         "janitor reads and writes the runs' journals there, and only there")
    return JournalLocation.parse(arguments.journal)


def cmd_janitor_deploy(arguments: argparse.Namespace) -> int:
    from chaos.janitor.deploy import deploy_janitor

    location = janitor_journal(arguments)
    with aws_clients(arguments, arguments.region) as clients:
        deploy_janitor(clients, clients.caller_account_id(), location)
    return EXIT_PASSED


def cmd_janitor_iam_policy(arguments: argparse.Namespace) -> int:
    import re

    from chaos.experiment.model import ACCOUNT_ID_PATTERN
    from chaos.janitor.policy import deployer_policy

    if not re.fullmatch(ACCOUNT_ID_PATTERN, arguments.account_id):
        raise InputError(f"--account-id {arguments.account_id!r}: expected 12 digits")
    print(json.dumps(deployer_policy(arguments.region, arguments.account_id,
                                     janitor_journal(arguments)), indent=2))
    return EXIT_PASSED


def cmd_sandbox_up(arguments: argparse.Namespace) -> int:
    import dataclasses
    import os

    from chaos.sandbox.process import control
    from chaos.sandbox.realism import Realism

    realism = Realism.from_env(os.environ)
    if arguments.realism:
        realism = dataclasses.replace(realism, mode=arguments.realism)
    state, started = control.up(realism)
    print(f"sandbox {'started' if started else 'already running'}: {state.endpoint_url} "
          f"(pid {state.pid}, realism {state.realism}); `eval $(gameday sandbox env)` to use "
          "it from a shell")
    print(control.node_function_readiness(state, announce=lambda line: print(line, flush=True))[1])
    return EXIT_PASSED


def cmd_sandbox_down(arguments: argparse.Namespace) -> int:
    from chaos.sandbox.process import control

    print("sandbox stopped" if control.down() else "no sandbox running")
    return EXIT_PASSED


def cmd_sandbox_status(arguments: argparse.Namespace) -> int:
    from chaos.sandbox.process import control

    state = control.read_state()
    if not state:
        print("no sandbox running")
        return exit_for("failed")  # like `systemctl status` of a stopped unit
    print(f"running: pid {state.pid}, AWS API {state.endpoint_url}, since {state.started_at}, "
          f"realism {state.realism}")
    if state.api_endpoint:
        print(f"HTTP front: {state.api_endpoint}")
    return EXIT_PASSED


def cmd_sandbox_env(arguments: argparse.Namespace) -> int:
    from chaos.sandbox.process import control

    state = control.read_state()
    if not state:
        raise InputError("no sandbox running (start one: gameday sandbox up)")
    print("\n".join(control.env_lines(state)))
    return EXIT_PASSED


def cmd_report(arguments: argparse.Namespace) -> int:
    from chaos.report import write_report
    from chaos.report.result import write_result

    path: Path = arguments.result
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read: {error}") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path}:{error.lineno}:{error.colno}: not valid JSON: {error.msg}") \
            from None
    if not isinstance(result, dict) or "outcome" not in result:
        raise InputError(f"{path}: not a gameday result.json (no 'outcome')")
    out: Path = arguments.out or path.parent
    out.mkdir(parents=True, exist_ok=True)
    if arguments.refresh:
        before = result["outcome"]
        refresh_result(result, arguments.profile)
        print(write_result(out, result))
        settled = (result.get("server_side") or {}).get("settled")
        print(f"server-side SLIs read again ({'settled' if settled else 'NOT settled'}); "
              f"outcome {before} -> {result['outcome']}")
    for report_format in arguments.report_formats or ["html", "md", "junit"]:
        print(write_report(result, out, report_format))
    return EXIT_PASSED


def refresh_result(result: dict[str, Any], profile: str | None, *,
                   clock: Callable[[], float] = time.time,
                   sleep: Callable[[float], None] = time.sleep) -> None:
    """Read the run's server-side figures again into `result`, by the run's own rule.

    They are settled only once the run's last minute is the target CloudWatch's ingestion
    lag in the past and two successive reads agree (within the run's settle bound);
    otherwise they stay `settled: false` and SLOs on them keep failing as not settled.
    A CLOUDFRONT web ACL's WAF metrics are read in us-east-1, as the run reads them.
    """
    from chaos.metrics.server_side import (
        CLOUDFRONT_METRICS_REGION,
        ServerSideQuery,
        read_server_side,
        reads_global_waf_metrics,
    )
    from chaos.result.assemble import refresh_server_side

    raw = result.get("server_side_query")
    if not isinstance(raw, dict):
        raise InputError("this result has no server-side figures to refresh (no load and no "
                         "server-side SLO, or written by an older gameday)")
    query = ServerSideQuery.from_dict(raw)
    lag = _refresh_cloudwatch_lag(query.endpoint_url)
    target = argparse.Namespace(sandbox=query.endpoint_url is not None, profile=profile)
    with ExitStack() as stack:
        clients = stack.enter_context(aws_clients(target, query.targets.region))
        global_cloudwatch = None
        if reads_global_waf_metrics(query.targets):
            global_cloudwatch = stack.enter_context(
                aws_clients(target, CLOUDFRONT_METRICS_REGION)).client("cloudwatch")
        figures = read_server_side(
            clients.client("cloudwatch"), query, lag,
            on_wait=lambda text: print(text, file=sys.stderr),
            global_cloudwatch=global_cloudwatch, clock=clock, sleep=sleep)
    figures["query"] = raw
    refresh_server_side(result, figures)


def _refresh_cloudwatch_lag(endpoint_url: str | None) -> CloudWatchLag:
    """The ingestion lag of the CloudWatch that holds a run's figures: AWS's, or that of
    the sandbox the run used (refused when it is gone: its figures went with it)."""
    from chaos.metrics.settle import AWS_LAGS, CloudWatchLag
    from chaos.sandbox.process import control

    if endpoint_url is None:
        return AWS_LAGS
    state = control.read_state()
    if state is None or state.endpoint_url != endpoint_url:
        raise InputError(f"the sandbox this run used ({endpoint_url}) is not running: its "
                         "CloudWatch figures went with it")
    return CloudWatchLag.from_seconds(state.cloudwatch_lag_s)
