"""The sandbox's layout: each group says which AWS service it emulates."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import chaos.sandbox

SANDBOX = Path(chaos.sandbox.__file__).resolve().parent
GROUPS = sorted(path.parent.name for path in SANDBOX.glob("*/__init__.py"))


def test_the_groups_are_the_services_and_the_process() -> None:
    assert GROUPS == [
        "apigateway",
        "capacity",
        "cloudwatch",
        "demo",
        "eventbridge",
        "functions",
        "process",
        "waf",
    ]


@pytest.mark.parametrize("group", GROUPS)
def test_each_group_says_what_it_emulates(group: str) -> None:
    docstring = ast.get_docstring(ast.parse((SANDBOX / group / "__init__.py").read_text()))
    # A sentence, not the group's name ("waf."): what it emulates and what moto lacks there.
    assert docstring is not None and len(docstring.split()) >= 15, docstring
