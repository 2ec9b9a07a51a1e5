"""Journal first, in one place: every mutation goes through `FaultKind.journaled()`.

Statically, over the whole package: no code but `FaultKind.journaled` appends a journal
entry or marks one applied, and every registered kind (the faults and the restore-only
journaled changes) calls `journaled()`. Dynamically for the janitor's schedule: the entry
is durable, `applying`, when the schedule is created.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import chaos
from chaos.faults import FAULT_KINDS, FaultContext, FaultKind
from chaos.janitor.timer import JanitorEvent, JanitorSchedule
from chaos.janitor.timer_change import JanitorScheduleKind
from chaos.journal import Journal
from chaos.run.restorers import RESTORE_ONLY_KINDS

ROOT = Path(chaos.__file__).resolve().parent
BASE = ROOT / "faults" / "base.py"
JOURNAL_PACKAGE = ROOT / "journal"  # the journal's own code writes it, of course
APPENDS = ("append", "extend", "insert")


def journal_writes(tree: ast.AST) -> Iterator[tuple[ast.Call, str | None]]:
    """Calls that add a journal entry or mark one applied, with their enclosing function.

    ``<...journal...>.record(...)``, ``<...journal...>.entries.append|extend|insert(...)``
    and ``<...journal...>.update(entry, "applied", ...)`` (or ``status="applied"``).
    """

    def visit(node: ast.AST, function: str | None) -> Iterator[tuple[ast.Call, str | None]]:
        for child in ast.iter_child_nodes(node):
            inside = (
                child.name
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
                else function
            )
            if isinstance(child, ast.Call) and _writes_journal(child):
                yield child, function
            yield from visit(child, inside)

    yield from visit(tree, None)


def _writes_journal(call: ast.Call) -> bool:
    func = call.func
    if not isinstance(func, ast.Attribute):
        return False
    receiver = ast.unparse(func.value).lower()
    if func.attr == "record":
        return "journal" in receiver
    if func.attr in APPENDS:
        return receiver.endswith(".entries") and "journal" in receiver
    if func.attr == "update" and "journal" in receiver:
        status = (
            call.args[1]
            if len(call.args) > 1
            else next((keyword.value for keyword in call.keywords if keyword.arg == "status"), None)
        )
        return isinstance(status, ast.Constant) and status.value == "applied"
    return False


def violations(source: str, path: Path) -> list[str]:
    """The journal writes in `source` that are not FaultKind.journaled's own."""
    found = []
    for call, function in journal_writes(ast.parse(source)):
        if path == BASE and function == "journaled":
            continue
        found.append(
            f"{path.relative_to(ROOT.parent)}:{call.lineno} {ast.unparse(call)[:80]} "
            f"(in {function or 'module'})"
        )
    return found


def test_only_journaled_writes_journal_entries() -> None:
    found = [
        problem
        for path in sorted(ROOT.rglob("*.py"))
        if JOURNAL_PACKAGE not in path.parents
        for problem in violations(path.read_text(encoding="utf-8"), path)
    ]
    assert found == []
    # and the helper itself is seen
    assert len(list(journal_writes(ast.parse(BASE.read_text(encoding="utf-8"))))) == 2


def test_a_write_outside_journaled_would_be_found() -> None:
    by_hand = (
        "def apply(self, change, journal):\n"
        "    entry = journal.record(JournalEntry('e', 't', 'x', 'arn', {}, {}))\n"
        "    mutate()\n"
        "    journal.update(entry, 'applied', injected_at=now)\n"
        "    self.context.journal.entries.append(entry)\n"
        "    journal.update(entry, status='applied')\n"
        "    journal.update(entry, effective_at=now)  # not a write of the protocol\n"
    )
    found = violations(by_hand, ROOT / "faults" / "new_kind.py")
    assert [line.split()[0] for line in found] == [
        "chaos/faults/new_kind.py:2",
        "chaos/faults/new_kind.py:4",
        "chaos/faults/new_kind.py:5",
        "chaos/faults/new_kind.py:6",
    ]
    assert violations(by_hand.replace("def apply", "def journaled"), BASE) == []


@pytest.mark.parametrize(
    "kind", [*FAULT_KINDS.values(), *RESTORE_ONLY_KINDS.values()], ids=lambda kind: kind.type_name
)
def test_every_registered_kind_applies_through_journaled(kind: type[FaultKind[Any]]) -> None:
    assert kind.apply is not FaultKind.apply, f"{kind.type_name} has no apply"
    source = inspect.getsource(inspect.getmodule(kind))  # type: ignore[arg-type]
    calls = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "journaled"
    ]
    assert calls, f"{kind.type_name} ({kind.__module__}) never calls journaled()"


class Scheduler:
    """EventBridge Scheduler's CreateSchedule: reads the journal from disk when called."""

    def __init__(self, journal_path: Path) -> None:
        self.journal_path = journal_path
        self.seen: list[tuple[str, str]] = []

    def create_schedule(self, **request: Any) -> dict[str, str]:
        [entry] = Journal.load(self.journal_path).entries
        self.seen.append((entry.entry_id, entry.status))
        return {
            "ScheduleArn": f"arn:aws:scheduler:us-east-1:123456789012:schedule/default/"
            f"{request['Name']}"
        }


class Clients:
    region = "us-east-1"

    def __init__(self, scheduler: Scheduler) -> None:
        self.scheduler = scheduler

    def client(self, service: str) -> Scheduler:
        assert service == "scheduler"
        return self.scheduler


def test_the_janitor_schedule_is_journaled_applying_before_it_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = Journal.create(
        tmp_path / "run",
        run_id="run-x",
        experiment_name="x",
        experiment_path="x.yaml",
        region="us-east-1",
        endpoint_url=None,
        profile=None,
        account_id="123456789012",
    )
    assert journal.path is not None
    scheduler = Scheduler(journal.path)
    through: list[str] = []
    original = FaultKind.journaled

    def journaled(self: FaultKind[Any], *args: Any, **kwargs: Any) -> Any:
        through.append(self.type_name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(FaultKind, "journaled", journaled)
    schedule = JanitorSchedule(
        name="gameday-20300101-abc",
        at=1_900_000_000.0,
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:gameday-janitor",
        role_arn="arn:aws:iam::123456789012:role/gameday-janitor-scheduler",
        event=JanitorEvent("run-x", "s3://gameday-journal/runs/"),
    )
    kind = JanitorScheduleKind(
        schedule,
        FaultContext(clients=Clients(scheduler), run_id="run-x", expires_at=1_900_000_000.0),
    )  # type: ignore[arg-type]
    [change] = kind.plan()
    entry = kind.apply(change, journal)
    assert through == [JanitorScheduleKind.type_name]
    assert scheduler.seen == [("janitor-schedule:gameday-20300101-abc", "applying")]
    [saved] = Journal.load(journal.path).entries
    assert (saved.status, saved.fault_index) == ("applied", None)  # no fault of the experiment
    assert saved.injected_at and saved.effective_at and entry.status == "applied"
