"""docs/reference.md is what the schema and the SLI catalog say today."""

from __future__ import annotations

from pathlib import Path

from chaos.experiment.reference import render_reference
from chaos.metrics.catalog import CATALOG

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def test_the_committed_reference_page_is_current() -> None:
    assert PAGE.read_text() == render_reference(), (
        "docs/reference.md is stale: python -m chaos.experiment.reference > docs/reference.md"
    )


def test_the_page_names_every_sli_and_the_bounds_of_a_rate() -> None:
    page = render_reference()
    assert all(f"| `{name}` |" in page for name in CATALOG)
    error_rate_row = next(line for line in page.splitlines() if line.startswith("| `rate` |"))
    assert ">= 0.0, <= 1.0" in error_rate_row
