"""The pytest plugin collects `kind: experiment` files only: a game-day plan beside its
experiments is skipped (they are collected where they live), also when a comment in it
says `kind: experiment`; nothing runs here (--collect-only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.pytest_plugin import document_kind

pytest_plugins = ["pytester"]

EXPERIMENT = """\
version: 1
kind: experiment
name: {name}
target: {{region: us-east-1, endpoint: sandbox}}
phases: {{baseline: 1s, fault: 1s, recovery: 1s}}
faults: []
"""

PLAN = """\
# A plan, not an experiment (kind: experiment would be wrong here).
version: 1
kind: gameday
name: weekly
experiments: [first.yaml, second.yaml]
schedule: "0 9 * * TUE"
"""


def collected(pytester: pytest.Pytester, *args: str) -> list[str]:
    result = pytester.runpytest(
        "--gameday", "--collect-only", "-q", "-p", "no:cacheprovider", *args
    )
    return sorted(line.split("::")[-1] for line in result.outlines if "::" in line)


def test_plans_are_skipped_and_their_experiments_collected(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".yaml",
        first=EXPERIMENT.format(name="first"),
        second=EXPERIMENT.format(name="second"),
        **{"weekly-gameday": PLAN},
    )
    (pytester.path / "other.yaml").write_text("kind: something-else\n")
    (pytester.path / "flow.yaml").write_text(
        "{version: 1, kind: experiment, name: flow, target: {region: us-east-1}}\n"
    )
    assert collected(pytester, str(pytester.path)) == ["first", "flow", "second"]


def test_a_plan_named_alone_collects_nothing(pytester: pytest.Pytester) -> None:
    plan = pytester.makefile(".yaml", **{"weekly-gameday": PLAN})
    assert collected(pytester, str(plan)) == []


def test_an_invalid_experiment_is_still_an_item(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", broken="version: 1\nkind: experiment\nname: [unclosed\n")
    assert collected(pytester, str(pytester.path)) == ["broken"]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("version: 1\nkind: experiment\n", "experiment"),
        ("# kind: experiment\nkind: gameday\n", "gameday"),
        ("kind: 'gameday'\n", "gameday"),
        ("target:\n  kind: experiment\n", None),
        ("{kind: experiment}\n", "experiment"),
        ("not: [yaml\n", None),
    ],
)
def test_document_kind(tmp_path: Path, text: str, kind: str | None) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    assert document_kind(path) == kind
