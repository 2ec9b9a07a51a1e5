"""`gameday schedule PLAN`: next run times of a game-day plan and ready-made triggers."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from croniter import croniter

from chaos.errors import InputError

# EventBridge Scheduler counts days of week 1-7 from Sunday; cron counts 0-6 (7 = Sunday too).
_EVENTBRIDGE_DOW = {str(day): str(day + 1) for day in range(7)} | {"7": "1"}


@dataclass(frozen=True)
class Schedule:
    plan_path: Path
    plan_name: str
    cron: str  # five fields, UTC

    def next_runs(self, count: int = 5, after: datetime | None = None) -> list[datetime]:
        start = after or datetime.now(timezone.utc)
        iterator = croniter(self.cron, start)
        return [iterator.get_next(datetime) for _ in range(count)]

    def command(self) -> str:
        return (f"gameday run {shlex.quote(str(self.plan_path))} --yes "
                f"--report-dir reports/{self.plan_name}")

    def crontab_line(self, workdir: Path) -> str:
        return f"{self.cron} cd {shlex.quote(str(workdir))} && {self.command()}"

    def github_actions(self) -> str:
        return "\n".join([
            f"name: gameday-{self.plan_name}",
            "on:",
            "  schedule:",
            f"    - cron: '{self.cron}'  # UTC",
            "  workflow_dispatch: {}",
            "jobs:",
            "  gameday:",
            "    runs-on: ubuntu-latest",
            "    steps:",
            "      - uses: actions/checkout@v4",
            "      - uses: actions/setup-python@v5",
            "        with: {python-version: '3.12'}",
            "      - run: pip install chaos-gameday",
            f"      - run: {self.command()}",
            "      - uses: actions/upload-artifact@v4",
            "        if: always()",
            f"        with: {{name: gameday-reports, path: reports/{self.plan_name}}}",
        ])

    def eventbridge_input(self, target_arn: str, role_arn: str) -> dict[str, object]:
        """The `aws scheduler create-schedule --cli-input-json` document."""
        return {
            "Name": f"gameday-{self.plan_name}"[:64],
            "ScheduleExpression": f"cron({eventbridge_cron(self.cron)})",
            "ScheduleExpressionTimezone": "UTC",
            "FlexibleTimeWindow": {"Mode": "OFF"},
            "Target": {
                "Arn": target_arn,
                "RoleArn": role_arn,
                "Input": json.dumps({"command": self.command()}),
            },
        }


def eventbridge_cron(cron: str) -> str:
    """Five-field cron → EventBridge's six fields (minutes hours dom month dow year)."""
    minute, hour, day_of_month, month, day_of_week = cron.split()
    if day_of_month != "*" and day_of_week != "*":
        raise InputError(f"schedule {cron!r}: EventBridge cannot combine a day of month and a "
                         "day of week; use one of them")
    if day_of_week == "*":
        day_of_week = "?"
    else:
        day_of_month = "?"
        day_of_week = _translate_days_of_week(day_of_week)
    return f"{minute} {hour} {day_of_month} {month} {day_of_week} *"


def _translate_days_of_week(field: str) -> str:
    def one(token: str) -> str:
        return _EVENTBRIDGE_DOW.get(token, token.upper())

    parts = []
    for item in field.split(","):
        if "/" in item:
            raise InputError(f"day-of-week step {item!r} has no EventBridge equivalent")
        parts.append("-".join(one(token) for token in item.split("-")))
    return ",".join(parts)
