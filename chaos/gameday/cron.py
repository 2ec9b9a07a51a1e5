"""`gameday schedule PLAN`: next run times of a game-day plan and triggers that run as printed.

Every snippet names the plan by its path from the repository root (the nearest folder
above the plan holding `.git` or `pyproject.toml`), never by where this machine keeps
it. A plan against AWS keeps its journal in S3 (`GAMEDAY_JOURNAL`), so the janitor and
`gameday rollback --all` can restore from anywhere, and every shell trigger runs
`gameday rollback --all` after the run whatever its exit code, keeping that exit code.
A plan whose experiments all target the sandbox needs no AWS account: its triggers
start the sandbox instead of assuming a role.
"""

from __future__ import annotations

import json
import math
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from croniter import croniter

from chaos.aws.partition import arn, partition_of_region
from chaos.errors import GamedayError, InputError
from chaos.experiment import Experiment, GamedayPlan, load_experiment

# EventBridge Scheduler counts days of week 1-7 from Sunday; cron counts 0-6 (7 = Sunday too).
_EVENTBRIDGE_DOW = {str(day): str(day + 1) for day in range(7)} | {"7": "1"}

PLACEHOLDER_REGION = "REGION"
PLACEHOLDER_ACCOUNT = "ACCOUNT_ID"
# Upper case is not valid in a bucket name: an unfilled placeholder fails loudly.
PLACEHOLDER_JOURNAL = "s3://YOUR-JOURNAL-BUCKET/gameday/"
PLACEHOLDER_REPO = "/path/to/your/clone"
PLACEHOLDER_PROFILE = "gameday"
CONTAINER_NAME = "gameday"
# Checkout, install, sandbox start: what a CI job spends besides the runs themselves.
SETUP_ALLOWANCE_S = 600.0
# AssumeRoleWithWebIdentity's default session; longer needs the role's MaxSessionDuration.
DEFAULT_SESSION_S = 3600
MAX_SESSION_S = 43200


#: The job installs the project as the README does, from this repository's checkout (a
#: clone of chaos-gameday with the experiments beside it): it is not published on a
#: package index, so `pip install chaos-gameday` would find nothing (or someone else's).
INSTALL_STEP = "      - run: pip install .  # this repository, as the README installs it"


@dataclass(frozen=True)
class PlanTargets:
    """What the plan's experiments target, as far as their files say."""

    regions: tuple[str, ...] = ()
    account_ids: tuple[str, ...] = ()
    sandbox_only: bool = False
    # The longest a run of the whole plan can take: each experiment's max_duration and
    # settle_timeout in turn, then the largest expiry margin (apply/restore are bounded by it).
    bound_s: float = 0.0

    @property
    def region(self) -> str:
        return self.regions[0] if self.regions else PLACEHOLDER_REGION

    @property
    def account_id(self) -> str:
        return self.account_ids[0] if len(self.account_ids) == 1 else PLACEHOLDER_ACCOUNT


def read_plan_targets(plan: GamedayPlan) -> PlanTargets:
    """Regions, accounts and time bound of the plan's experiments (unreadable ones: defaults)."""
    experiments: list[Experiment] = []
    unreadable = 0
    for path in plan.experiment_paths():
        try:
            experiments.append(load_experiment(path))
        except GamedayError:
            unreadable += 1
    aws = [experiment.target for experiment in experiments if not experiment.target.is_sandbox]
    return PlanTargets(
        regions=_distinct(target.region for target in aws),
        account_ids=_distinct(target.account_id for target in aws if target.account_id),
        sandbox_only=bool(experiments) and not aws and not unreadable,
        bound_s=_plan_bound_s(experiments, unreadable),
    )


def _distinct(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _plan_bound_s(experiments: list[Experiment], unreadable: int) -> float:
    def default(name: str) -> float:
        return float(Experiment.model_fields[name].default)

    runs = sum(experiment.max_duration + experiment.settle_timeout for experiment in experiments)
    runs += unreadable * (default("max_duration") + default("settle_timeout"))
    margin = max(
        (experiment.expiry_margin for experiment in experiments), default=default("expiry_margin")
    )
    return runs + margin


def repository_root(plan: Path, cwd: Path) -> Path:
    """The nearest folder above `plan` with `.git` or `pyproject.toml`; else `cwd`."""
    for folder in plan.resolve().parents:
        if (folder / ".git").exists() or (folder / "pyproject.toml").is_file():
            return folder
    return cwd.resolve()


def path_from_root(plan: Path, cwd: Path) -> PurePosixPath:
    """`plan` relative to its repository root, as every clone and CI checkout names it."""
    root = repository_root(plan, cwd)
    try:
        return PurePosixPath(plan.resolve().relative_to(root).as_posix())
    except ValueError:
        raise InputError(
            f"{plan}: not inside a repository (no .git or pyproject.toml above it) nor under "
            "the current directory; the snippets name the plan from the root of your clone"
        ) from None


@dataclass(frozen=True)
class EcsTask:
    """Where EventBridge Scheduler runs the plan: a Fargate task of the gameday image."""

    cluster_arn: str
    task_definition_arn: str
    subnets: tuple[str, ...]
    security_groups: tuple[str, ...]
    container_name: str = CONTAINER_NAME

    @classmethod
    def placeholders(cls, region: str, account_id: str) -> EcsTask:
        """The task in the Region's partition (`aws-cn`, `aws-us-gov`, ...; chaos.aws.partition)."""
        return cls(
            cluster_arn=arn("ecs", region, account_id, "cluster/gameday"),
            task_definition_arn=arn("ecs", region, account_id, "task-definition/gameday:REVISION"),
            subnets=("SUBNET_ID",),
            security_groups=("SECURITY_GROUP_ID",),
        )


@dataclass(frozen=True)
class Schedule:
    plan_path: PurePosixPath  # from the repository root
    plan_name: str
    cron: str  # five fields, UTC
    targets: PlanTargets = field(default_factory=PlanTargets)
    journal: str = PLACEHOLDER_JOURNAL

    def next_runs(self, count: int = 5, after: datetime | None = None) -> list[datetime]:
        start = after or datetime.now(timezone.utc)
        iterator = croniter(self.cron, start)
        return [iterator.get_next(datetime) for _ in range(count)]

    @property
    def report_dir(self) -> str:
        return f"reports/{self.plan_name}"

    def run_arguments(self) -> list[str]:
        """`gameday`'s arguments for one run of the plan (the image's entrypoint is `gameday`)."""
        return ["run", str(self.plan_path), "--yes", "--report-dir", self.report_dir]

    def run_command(self) -> str:
        return shlex.join(["gameday", *self.run_arguments()])

    # ------------------------------------------------------------------ crontab

    def crontab(self) -> str:
        lines = [
            f"# gameday plan {self.plan_name}: the schedule is UTC (run cron in UTC, or set "
            "CRON_TZ=UTC where your cron supports it)",
            "# GAMEDAY_REPO: your clone of the repository (fill it in); PATH: where `gameday` "
            "is installed",
            f"GAMEDAY_REPO={PLACEHOLDER_REPO}",
            "PATH=/usr/local/bin:/usr/bin:/bin",
        ]
        if not self.targets.sandbox_only:
            lines += [
                "# credentials of the target account, and the journal kept there (the janitor "
                "restores from it: gameday janitor deploy, once per account)",
                f"AWS_PROFILE={PLACEHOLDER_PROFILE}",
                f"GAMEDAY_JOURNAL={self.journal}",
            ]
        lines.append(f"{self.cron} {_crontab_command(self._shell_script())}")
        return "\n".join(lines)

    def _shell_script(self) -> str:
        """The run, then a rollback whatever happened; the run's exit code is the script's."""
        if self.targets.sandbox_only:
            return (
                'cd "$GAMEDAY_REPO" && gameday sandbox up && eval "$(gameday sandbox env)" '
                f"&& {{ {self.run_command()}; code=$?; gameday rollback --all; "
                "gameday sandbox down; exit $code; }"
            )
        return (
            f'cd "$GAMEDAY_REPO" && {{ {self.run_command()}; code=$?; '
            "gameday rollback --all; exit $code; }"
        )

    # ------------------------------------------------------------------ GitHub Actions

    @property
    def job_timeout_minutes(self) -> int:
        """Above the plan's own bound, so the job never cuts a run that is still restoring."""
        return math.ceil((self.targets.bound_s + SETUP_ALLOWANCE_S) / 60)

    def github_actions(self, runner_role_arn: str) -> str:
        sandbox = self.targets.sandbox_only
        group = f"gameday-{self.plan_name}" if sandbox else f"gameday-{self.targets.account_id}"
        lines = [
            f"name: gameday-{self.plan_name}",
            "on:",
            "  schedule:",
            f"    - cron: '{self.cron}'  # UTC",
            "  workflow_dispatch: {}",
            "# one run of this plan at a time; never cancel a running one"
            if sandbox
            else (
                "# one game day (or gate) per target account at a time; never cancel a running one"
            ),
            f"concurrency: {{group: {group}, cancel-in-progress: false}}",
            "permissions: {contents: read}"
            if sandbox
            else "permissions: {id-token: write, contents: read}",
            "jobs:",
            "  gameday:",
            "    runs-on: ubuntu-latest",
            f"    timeout-minutes: {self.job_timeout_minutes}",
        ]
        if not sandbox:
            lines += ["    env:", f"      GAMEDAY_JOURNAL: {self.journal}"]
        lines += [
            "    steps:",
            "      - uses: actions/checkout@v4",
            "      - uses: actions/setup-python@v5",
            "        with: {python-version: '3.12'}",
        ]
        lines += (
            self._github_sandbox_start() if sandbox else self._github_credentials(runner_role_arn)
        )
        lines += [
            "      - name: game day",
            f"        run: {self.run_command()}",
            "      - name: roll back what a failed or cancelled run left (a no-op otherwise)",
            "        if: always()",
            "        run: gameday rollback --all",
        ]
        if sandbox:
            lines += [
                "      - name: stop the sandbox",
                "        if: always()",
                "        run: gameday sandbox down",
            ]
        lines += [
            "      - name: reports (never the journal)",
            "        if: always()",
            "        uses: actions/upload-artifact@v4",
            f"        with: {{name: gameday-{self.plan_name}, path: {self.report_dir}}}",
        ]
        return "\n".join(lines)

    def _github_credentials(self, runner_role_arn: str) -> list[str]:
        session_s = min(MAX_SESSION_S, max(DEFAULT_SESSION_S, self.job_timeout_minutes * 60))
        return [
            "      - uses: aws-actions/configure-aws-credentials@v4",
            "        with:",
            f"          role-to-assume: {runner_role_arn}  # its policy: gameday iam-policy",
            f"          aws-region: {self.targets.region}",
            f"          role-duration-seconds: {session_s}  # outlives the job",
            INSTALL_STEP,
        ]

    @staticmethod
    def _github_sandbox_start() -> list[str]:
        return [
            INSTALL_STEP,
            "      - name: start the sandbox (a local AWS API; no account, no credentials)",
            "        run: gameday sandbox up && gameday sandbox env | sed 's/^export //' >> "
            '"$GITHUB_ENV"',
        ]

    # ------------------------------------------------------------------ EventBridge Scheduler

    def container_overrides(self, task: EcsTask) -> dict[str, Any]:
        """RunTask `overrides`: the container runs the plan (its command follows the
        image's entrypoint `gameday`, as ECS replaces only the image's CMD)."""
        override: dict[str, Any] = {"name": task.container_name, "command": self.run_arguments()}
        if not self.targets.sandbox_only:
            override["environment"] = [{"name": "GAMEDAY_JOURNAL", "value": self.journal}]
        return {"containerOverrides": [override]}

    def eventbridge_input(self, task: EcsTask, role_arn: str) -> dict[str, Any]:
        """The `aws scheduler create-schedule --cli-input-json` document: an ECS RunTask.

        Shapes: the templated ECS RunTask target (`Target.Arn` the cluster,
        `Target.EcsParameters`), https://docs.aws.amazon.com/scheduler/latest/UserGuide/
        managing-targets-templated.html and .../APIReference/API_EcsParameters.html;
        `Target.Input` carries the RunTask task override
        (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_TaskOverride.html).
        """
        return {
            "Name": f"gameday-{self.plan_name}"[:64],
            "Description": f"game-day plan {self.plan_name}: {self.run_command()}"[:512],
            "ScheduleExpression": f"cron({eventbridge_cron(self.cron)})",
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {
                "Arn": task.cluster_arn,
                "RoleArn": role_arn,
                "EcsParameters": {
                    "TaskDefinitionArn": task.task_definition_arn,
                    "TaskCount": 1,
                    "LaunchType": "FARGATE",
                    "PlatformVersion": "LATEST",
                    "NetworkConfiguration": {
                        "awsvpcConfiguration": {
                            "Subnets": list(task.subnets),
                            "SecurityGroups": list(task.security_groups),
                            "AssignPublicIp": "DISABLED",
                        }
                    },
                },
                "Input": json.dumps(self.container_overrides(task), separators=(",", ":")),
                # The default retries for 24 h: a game day must not start hours after its slot.
                "RetryPolicy": {"MaximumEventAgeInSeconds": 900, "MaximumRetryAttempts": 3},
            },
        }


@dataclass(frozen=True)
class SnippetOptions:
    """What the user names on the command line; None: a placeholder (or the plan's own)."""

    runner_role_arn: str | None = None
    scheduler_role_arn: str | None = None
    cluster_arn: str | None = None
    task_definition_arn: str | None = None
    subnets: tuple[str, ...] = ()
    security_groups: tuple[str, ...] = ()
    container_name: str = CONTAINER_NAME

    def ecs_task(self, targets: PlanTargets) -> EcsTask:
        default = EcsTask.placeholders(targets.region, targets.account_id)
        return EcsTask(
            cluster_arn=self.cluster_arn or default.cluster_arn,
            task_definition_arn=self.task_definition_arn or default.task_definition_arn,
            subnets=self.subnets or default.subnets,
            security_groups=self.security_groups or default.security_groups,
            container_name=self.container_name,
        )

    def role_arn(self, given: str | None, name: str, targets: PlanTargets) -> str:
        """`given`, else role `name` in the plan's account, in its Region's partition."""
        return given or arn(
            "iam",
            "",
            targets.account_id,
            f"role/{name}",
            partition=partition_of_region(targets.region),
        )


def schedule_for_plan(
    plan_file: Path, plan: GamedayPlan, cwd: Path, journal: str | None = None
) -> Schedule:
    """The plan's schedule, its path from the repository root and what it targets."""
    if not plan.schedule:
        raise InputError(f"{plan_file}: the plan has no `schedule` (a cron expression)")
    return Schedule(
        plan_path=path_from_root(plan_file, cwd),
        plan_name=plan.name,
        cron=plan.schedule,
        targets=read_plan_targets(plan),
        journal=journal or plan.journal or PLACEHOLDER_JOURNAL,
    )


def render_snippet(schedule: Schedule, kind: str, options: SnippetOptions) -> str:
    """One trigger: `crontab`, `github` or `eventbridge` (JSON, nothing else)."""
    targets = schedule.targets
    if kind == "crontab":
        return schedule.crontab()
    if kind == "github":
        return schedule.github_actions(
            options.role_arn(options.runner_role_arn, "gameday-runner", targets)
        )
    if kind == "eventbridge":
        document = schedule.eventbridge_input(
            options.ecs_task(targets),
            options.role_arn(options.scheduler_role_arn, "gameday-scheduler", targets),
        )
        return json.dumps(document, indent=2)
    raise InputError(f"unknown snippet format {kind!r}")


def render_all(schedule: Schedule, count: int, options: SnippetOptions) -> str:
    """Next run times, then every trigger under a comment that says where it goes."""
    targets = schedule.targets
    unknown = targets.account_id == PLACEHOLDER_ACCOUNT or targets.region == PLACEHOLDER_REGION
    where = (
        "the sandbox (no AWS account)"
        if targets.sandbox_only
        else f"AWS account {targets.account_id}, region {targets.region}"
        + (" (the experiments do not say: fill in the placeholders)" if unknown else "")
    )
    lines = [f"plan {schedule.plan_name}: schedule '{schedule.cron}' (UTC); next runs:"]
    lines += [f"  {when.isoformat()}" for when in schedule.next_runs(count)]
    lines += [
        f"plan file (from the repository root): {schedule.plan_path}; targets: {where}",
        "",
        "# crontab (crontab -e)",
        render_snippet(schedule, "crontab", options),
        "",
        f"# GitHub Actions: .github/workflows/gameday-{schedule.plan_name}.yml",
        render_snippet(schedule, "github", options),
        "",
        "# EventBridge Scheduler: an ECS RunTask of the image built from the repository's "
        "Dockerfile",
        f"#   gameday schedule {schedule.plan_path} --format eventbridge > schedule.json",
        "#   aws scheduler create-schedule --cli-input-json file://schedule.json",
        render_snippet(schedule, "eventbridge", options),
    ]
    return "\n".join(lines)


def _crontab_command(script: str) -> str:
    # cron turns an unescaped % into a newline (crontab(5)).
    return script.replace("%", r"\%")


def eventbridge_cron(cron: str) -> str:
    """Five-field cron → EventBridge's six fields (minutes hours dom month dow year)."""
    minute, hour, day_of_month, month, day_of_week = cron.split()
    if day_of_month != "*" and day_of_week != "*":
        raise InputError(
            f"schedule {cron!r}: EventBridge cannot combine a day of month and a "
            "day of week; use one of them"
        )
    if day_of_week == "*":
        day_of_week = "?"
    else:
        day_of_month = "?"
        day_of_week = _translate_days_of_week(day_of_week)
    return f"{minute} {hour} {day_of_month} {month} {day_of_week} *"


def _translate_days_of_week(days: str) -> str:
    def one(token: str) -> str:
        return _EVENTBRIDGE_DOW.get(token, token.upper())

    parts = []
    for item in days.split(","):
        if "/" in item:
            raise InputError(f"day-of-week step {item!r} has no EventBridge equivalent")
        parts.append("-".join(one(token) for token in item.split("-")))
    return ",".join(parts)
