"""Every SLI of the catalog resolves to a number in a result assembled by the real path.

The catalog (chaos.metrics.catalog) says where each SLI lives in result.json; the SLO gate
reads it there (chaos.verdict.slo.observe). A catalog entry whose place the assembly does not fill,
or fills under another name, would make every check of that SLI fail as "not measured".
"""

from __future__ import annotations

from typing import Any

import pytest

from chaos.metrics.catalog import CATALOG, FAULT_EFFECT, KNOWN_SLIS, Sli
from chaos.verdict.slo import observe
from tests.unit.assembled import assembled

PHASES = ("baseline", "fault", "recovery")


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    # settled CloudWatch figures, responses the clients saw marked, WAF blocks and unblock
    return assembled(
        tmp_path_factory.mktemp("assembled"), server="settled", injected=7.0, marked_in_fault=5
    )


def phases_of(sli: Sli) -> list[str | None]:
    """Every phase a check of `sli` may name (None: no phase, the whole run)."""
    if sli.phases == "none":
        return [None]
    if sli.phases in ("fault", "recovery"):
        return [sli.phases]
    return [*PHASES, None]


@pytest.mark.parametrize("name", KNOWN_SLIS)
def test_every_sli_resolves_in_an_assembled_result(result: dict[str, Any], name: str) -> None:
    sli = CATALOG[name]
    if sli.family == "fault":  # judged by the automatic check, one per fault
        checks = [check for check in result["slo"] if check["sli"] == name]
        assert checks and all(isinstance(check["observed"], (int, float)) for check in checks)
        return
    for phase in phases_of(sli):
        value, note = observe(name, phase, result)
        assert note is None and isinstance(value, (int, float)) and not isinstance(value, bool), (
            f"{name} in {phase or 'the run'}: {note}"
        )


def test_the_catalog_is_walked_whole() -> None:
    assert FAULT_EFFECT in KNOWN_SLIS and len(KNOWN_SLIS) == len(CATALOG) >= 25
    assert {sli.family for sli in CATALOG.values()} == {
        "phase",
        "server",
        "waf",
        "recovery",
        "fault",
    }


def test_a_value_the_assembly_left_out_would_be_found(result: dict[str, Any]) -> None:
    crippled = {
        **result,
        "waf": {key: value for key, value in result["waf"].items() if key != "time_to_unblock_s"},
    }
    value, note = observe("waf_time_to_unblock_s", None, crippled)
    assert value is None and note is not None and note.startswith("not measured")
