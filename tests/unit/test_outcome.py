"""Outcomes and exit codes: one vocabulary (chaos.outcome), the PRODUCT.md table.

0 all SLOs met · 1 an SLO breached · 2 invalid input or preflight refused · 3 aborted by a
stop condition or signal, rollback complete · 4 rollback incomplete.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest

import chaos.errors
from chaos import cli
from chaos.outcome import (
    EXIT_ABORTED,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_MASTER_GONE,
    EXIT_ORCHESTRATOR_GONE,
    EXIT_PASSED,
    EXIT_ROLLBACK_INCOMPLETE,
    EXIT_SLO_BREACHED,
    OUTCOMES,
    Outcome,
    exit_for,
    label_of_exit,
    worst_exit,
)


def test_the_exit_codes_of_the_contract() -> None:
    assert (
        EXIT_PASSED,
        EXIT_SLO_BREACHED,
        EXIT_INVALID,
        EXIT_ABORTED,
        EXIT_ROLLBACK_INCOMPLETE,
    ) == (0, 1, 2, 3, 4)


def test_the_exit_codes_of_the_processes() -> None:
    assert (EXIT_ORCHESTRATOR_GONE, EXIT_MASTER_GONE, EXIT_INTERRUPTED) == (75, 76, 130)


def exit_code_definitions(source: str) -> list[str]:
    """`EXIT_X = 75` at a module's top level: an exit code defined there."""
    return [
        target.id
        for node in ast.parse(source).body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, int)
        for target in node.targets
        if isinstance(target, ast.Name) and target.id.startswith("EXIT_")
    ]


def test_exit_codes_are_defined_in_chaos_outcome_only() -> None:
    root = Path(chaos.errors.__file__).parent
    defined = {
        str(path.relative_to(root)): names
        for path in sorted(root.rglob("*.py"))
        if (names := exit_code_definitions(path.read_text(encoding="utf-8")))
    }
    assert list(defined) == ["outcome.py"]
    assert exit_code_definitions("EXIT_GONE = 75\nEXIT_OK: int = 0\nOTHER = 1\n") == ["EXIT_GONE"]


def test_the_outcomes_are_the_results_vocabulary() -> None:
    assert OUTCOMES == get_args(Outcome) == ("passed", "failed", "aborted", "error")


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        ("passed", 0),
        ("failed", 1),
        ("aborted", 3),
        ("error", 3),  # the run failed, but everything it changed was restored
    ],
)
def test_exit_for_each_outcome(outcome: str, code: int) -> None:
    assert exit_for(outcome) == code
    assert exit_for(outcome, rollback_complete=True) == code


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_an_incomplete_rollback_wins_over_any_outcome(outcome: str) -> None:
    assert exit_for(outcome, rollback_complete=False) == EXIT_ROLLBACK_INCOMPLETE


def test_an_unknown_outcome_is_never_a_pass() -> None:
    assert exit_for("surprise") == EXIT_ABORTED


def test_labels_and_the_worst_of_several_runs() -> None:
    assert [label_of_exit(code) for code in range(5)] == [
        "passed",
        "failed",
        "invalid",
        "aborted",
        "rollback_incomplete",
    ]
    assert label_of_exit(130) == "error"
    assert worst_exit([]) == EXIT_PASSED
    assert worst_exit([0, 1, 3]) == EXIT_ABORTED
    assert worst_exit([4, 1, 0]) == EXIT_ROLLBACK_INCOMPLETE


def test_every_error_exits_with_a_code_of_the_vocabulary() -> None:
    codes = {EXIT_SLO_BREACHED, EXIT_INVALID, EXIT_ABORTED, EXIT_ROLLBACK_INCOMPLETE}
    errors = [
        value
        for value in vars(chaos.errors).values()
        if isinstance(value, type) and issubclass(value, chaos.errors.GamedayError)
    ]
    assert len(errors) >= 5 and all(error.exit_code in codes for error in errors)


def spells_exit_code(value: ast.expr | None) -> bool:
    """`return 1`, `return 1 if x else 0`, `return x or 2`: a literal exit code."""
    if isinstance(value, ast.Constant):
        return isinstance(value.value, int) and not isinstance(value.value, bool)
    if isinstance(value, ast.IfExp):
        return spells_exit_code(value.body) or spells_exit_code(value.orelse)
    if isinstance(value, ast.BoolOp):
        return any(spells_exit_code(part) for part in value.values)
    return False


def literal_exit_codes(source: str) -> list[str]:
    return [
        f"{function.name}:{node.lineno} {ast.unparse(node)}"
        for function in ast.parse(source).body
        if isinstance(function, ast.FunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Return) and spells_exit_code(node.value)
    ]


def test_cli_commands_spell_no_exit_code() -> None:
    """`gameday`'s edge and commands return exit codes through chaos.outcome, never as
    literals (130 of Ctrl-C included)."""
    sources = sorted(Path(cli.__file__).parent.rglob("*.py"))
    assert len(sources) > 10  # the edge, the parser and one module per command group
    assert {
        str(path): literal_exit_codes(path.read_text(encoding="utf-8")) for path in sources
    } == {str(path): [] for path in sources}
    spelled = (
        "def cmd_a(x):\n    if x:\n        return 1\n    return exit_for('passed')\n"
        "def cmd_b(x):\n    return 1 if x else 0\n"
        "def cmd_c(x):\n    return run(x)[0]\n"
    )
    assert literal_exit_codes(spelled) == ["cmd_a:3 return 1", "cmd_b:6 return 1 if x else 0"]
