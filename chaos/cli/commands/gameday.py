"""`gameday schedule`: when a game-day plan runs, and the snippets that run it."""

from __future__ import annotations

import argparse
from pathlib import Path

from chaos.cli.options import Commands
from chaos.outcome import EXIT_PASSED


def register(commands: Commands) -> None:
    sub = commands.command(
        "schedule",
        cmd_schedule,
        "next run times of a game-day plan and cron / CI / EventBridge snippets",
    )
    sub.add_argument("plan", type=Path, metavar="PLAN")
    sub.add_argument("--count", type=int, default=5, help="how many next run times")
    sub.add_argument("--format", choices=["all", "crontab", "github", "eventbridge"], default="all")
    sub.add_argument(
        "--journal",
        metavar="s3://BUCKET/PREFIX",
        help="the S3 journal the snippets name (default: the plan's `journal`, "
        "else a placeholder; $GAMEDAY_JOURNAL is not read: it may be the sandbox's)",
    )
    sub.add_argument(
        "--runner-role-arn",
        help="role the GitHub Actions job assumes (default: "
        "role/gameday-runner in the experiments' account, in their Region's "
        "partition: arn:PARTITION:iam::ACCOUNT_ID:role/gameday-runner)",
    )
    sub.add_argument(
        "--cluster-arn",
        "--target-arn",
        dest="cluster_arn",
        help="ECS cluster EventBridge Scheduler runs the task in",
    )
    sub.add_argument(
        "--task-definition-arn",
        help="task definition of the gameday image (its container is named by --container-name)",
    )
    sub.add_argument(
        "--subnet",
        dest="subnets",
        action="append",
        default=[],
        help="subnet of the Fargate task (repeatable)",
    )
    sub.add_argument(
        "--security-group",
        dest="security_groups",
        action="append",
        default=[],
        help="security group of the Fargate task (repeatable)",
    )
    sub.add_argument(
        "--container-name",
        default="gameday",
        help="the task definition's container running the gameday image",
    )
    sub.add_argument(
        "--role-arn",
        help="role EventBridge Scheduler assumes to run the task "
        "(default: arn:PARTITION:iam::ACCOUNT_ID:role/gameday-scheduler, the "
        "partition of the experiments' Region)",
    )


def cmd_schedule(arguments: argparse.Namespace) -> int:
    from chaos.experiment import load_plan
    from chaos.gameday.cron import SnippetOptions, render_all, render_snippet, schedule_for_plan

    plan = load_plan(arguments.plan)
    schedule = schedule_for_plan(arguments.plan, plan, Path.cwd(), journal=arguments.journal)
    options = SnippetOptions(
        runner_role_arn=arguments.runner_role_arn,
        scheduler_role_arn=arguments.role_arn,
        cluster_arn=arguments.cluster_arn,
        task_definition_arn=arguments.task_definition_arn,
        subnets=tuple(arguments.subnets),
        security_groups=tuple(arguments.security_groups),
        container_name=arguments.container_name,
    )
    if arguments.format == "all":
        print(render_all(schedule, arguments.count, options))
    else:
        print(render_snippet(schedule, arguments.format, options))
    return EXIT_PASSED
