from __future__ import annotations

from chaos.report import render_markdown
from tests.report.synthetic import synthetic_result, unsettled


def test_markdown_has_verdict_slo_table_phases_waf_and_faults() -> None:
    result = synthetic_result()
    text = render_markdown(result)
    lines = text.splitlines()
    assert lines[0].startswith("### ❌ gameday orders-az-loss: FAILED")
    assert "#### SLOs (6/8 met)" in text
    assert "| **FAIL** | `availability` | fault | `>= 99%` | 93.868% |  | failed |  |" in lines
    assert any(line.startswith("| fault | 1321 | 44.033 | 93.868% |") for line in lines)
    assert "| time to block (s, estimate) | 12 |" in lines
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
    assert 'orders&lt;img src=x onerror="alert(1)"&gt;&amp;\\|\\`\\*' in text


def test_markdown_labels_waf_timings_as_estimates_and_shows_other_403() -> None:
    lines = render_markdown(synthetic_result()).splitlines()
    assert "| time to block (s, estimate) | 12 |" in lines
    assert "| time to unblock (s, estimate) | not measured |" in lines
    assert "| other 403s (not the rate rule's: other\\_403) | 7 |" in lines
    assert any(line.startswith("WAF timings are estimates: AWS WAF estimates") for line in lines)


def test_markdown_shows_per_figure_whether_settled_and_the_minutes_it_covers() -> None:
    lines = render_markdown(synthetic_result()).splitlines()
    assert "| CloudWatch | baseline | fault | recovery | run |" in lines
    assert "| lambda\\_errors | 0 | 80 | 0 | 80 |" in lines
    assert "| settled | yes | yes | yes | yes |" in lines
    assert (
        "| CloudWatch minutes | 22:13-22:14 UTC (1 min) | 22:13-22:15 UTC (2 min) | "
        "22:14-22:15 UTC (1 min) | 22:13-22:15 UTC (2 min) |"
    ) in lines
    assert not any("(not settled)" in line for line in lines)


def test_markdown_says_how_server_side_figures_are_split_between_the_phases() -> None:
    lines = render_markdown(synthetic_result()).splitlines()
    (note,) = [line for line in lines if line.startswith("Server-side figures are attributed")]
    assert "by per-minute share: each CloudWatch datapoint is split between the phases" in note
    assert note.endswith(
        "minutes across a phase boundary: 22:13 UTC baseline 75%, fault 25%; "
        "22:14 UTC fault 40%, recovery 60%."
    )


def test_markdown_marks_every_unsettled_figure() -> None:
    text = render_markdown(unsettled(synthetic_result()))
    lines = text.splitlines()
    assert (
        "| lambda\\_errors | 0 (not settled) | 80 (not settled) | 0 (not settled) | "
        "80 (not settled) |"
    ) in lines
    assert "| **settled** | NO | NO | NO | NO |" in lines
    assert "| blocked requests in CloudWatch | 1540 (not settled) |" in lines
    assert "fail as not settled" in text and "--refresh" in text
