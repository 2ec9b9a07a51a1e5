"""One catalog per vocabulary: SLI names, outcomes, phases and traffic kinds are each
defined once, and the modules that use them derive them instead of spelling them again."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest

import chaos
from chaos.experiment import PHASE_NAMES
from chaos.load.identity import ADDRESS_POOLS
from chaos.metrics.catalog import CATALOG, KNOWN_SLIS
from chaos.metrics.rows import TRAFFIC_KINDS, Traffic
from chaos.outcome import OUTCOMES
from chaos.phases import PHASES, SEGMENTS, TRANSITION
from chaos.report.markdown import ICONS
from chaos.report.sections import PHASE_ORDER, VERDICTS

ROOT = Path(chaos.__file__).resolve().parent

#: The modules that judge, watch or read SLIs: they name none, the catalog does.
WITHOUT_SLI_LITERALS = (
    "run/stop_conditions.py",
    "verdict/slo.py",
    "run/lifecycle.py",
    "metrics/cloudwatch.py",
    "metrics/server_side.py",
    "result/refresh.py",
)


def string_literals(path: Path) -> set[str]:
    """Every string constant of a module except docstrings."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    }


@pytest.mark.parametrize("module", WITHOUT_SLI_LITERALS)
def test_no_sli_name_is_spelled_outside_the_catalog(module: str) -> None:
    assert string_literals(ROOT / module) & set(KNOWN_SLIS) == set()


def test_the_check_sees_a_spelled_sli(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text(
        '"""lambda_errors in a docstring counts not."""\nif sli == "error_rate":\n    pass\n',
        encoding="utf-8",
    )
    assert string_literals(source) & set(KNOWN_SLIS) == {"error_rate"}


def test_every_server_side_sli_names_its_cloudwatch_metric() -> None:
    server = [sli for sli in CATALOG.values() if sli.family == "server"]
    assert server and all(sli.metric is not None for sli in server)
    assert all(sli.metric is None for sli in CATALOG.values() if sli.family != "server")


def test_reports_have_a_word_for_every_outcome_and_no_other() -> None:
    assert set(VERDICTS) == set(OUTCOMES)
    assert set(ICONS) == set(OUTCOMES)


def test_phases_are_one_vocabulary() -> None:
    assert PHASE_NAMES is PHASES and PHASE_ORDER is PHASES
    assert [segment for segment in SEGMENTS if segment != TRANSITION] == list(PHASES)


def test_every_traffic_kind_has_its_address_pool_and_no_other() -> None:
    assert set(ADDRESS_POOLS) == set(TRAFFIC_KINDS) == set(get_args(Traffic))
