from __future__ import annotations

from chaos.report import render_markdown
from tests.report.synthetic import synthetic_result


def test_markdown_has_verdict_slo_table_phases_waf_and_faults() -> None:
    result = synthetic_result()
    text = render_markdown(result)
    lines = text.splitlines()
    assert lines[0].startswith("### ❌ gameday orders-az-loss: FAILED")
    assert "#### SLOs (6/8 met)" in text
    assert "| **FAIL** | `availability` | fault | `>= 99%` | 93.868% |  |" in lines
    assert any(line.startswith("| fault | 1321 | 44.033 | 93.868% |") for line in lines)
    assert "| time to block (s) | 12 |" in lines
    assert "#### Faults: changed and restored" in text and "| drifted |" in text
    # every table row has as many cells as its header
    for table_start in [i for i, line in enumerate(lines) if line.startswith("|---")]:
        width = lines[table_start].count("|")
        row = table_start + 1
        while row < len(lines) and lines[row].startswith("|"):
            assert lines[row].replace("\\|", "").count("|") == width, lines[row]
            row += 1
    assert len(text) < 65_536  # GitHub's comment limit


def test_markdown_escapes_names() -> None:
    text = render_markdown(synthetic_result())
    assert "<img" not in text
    assert "orders&lt;img src=x onerror=\"alert(1)\"&gt;&amp;\\|\\`\\*" in text
