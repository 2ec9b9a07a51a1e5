"""report.html shows the last runs of the experiment on the target, this one marked."""

from __future__ import annotations

import re

from chaos.history import history_record, trend_rows
from chaos.report import render_html
from tests.report.synthetic import HOSTILE_NAME, synthetic_result
from tests.report.test_html import parse
from tests.unit.test_history import KEY, result


def with_history(current_outcome: str = "failed") -> dict[str, object]:
    records = [
        history_record(result(f"r{day}", f"2026-12-0{day}T00:00:00Z", latency=20.0 + day), KEY)
        for day in (1, 2, 3)
    ]
    records.append(
        history_record(result("now", "2026-12-04T00:00:00Z", current_outcome, latency=90.0), KEY)
    )
    rendered = synthetic_result()
    rendered["history"] = {"key": {}, "recorded_in": [], "runs": trend_rows(records, "now")}
    return rendered


def test_history_section_lists_the_runs_and_marks_this_one() -> None:
    page = render_html(with_history())
    section = page[page.index('<section id="history">') :]
    section = section[: section.index("</section>")]
    rows = re.findall(r"<tr class=\"([^\"]*)\"[^>]*>(.*?)</tr>", section)
    assert [mark for mark, _ in rows] == ["pass", "pass", "pass", "fail current"]
    assert "▶" in rows[3][1] and "90 [89, 91] passed" in rows[3][1]
    assert "▶" not in rows[0][1] and "21 [20, 22]" in rows[0][1]
    circles = parse(section).having("circle")
    assert len(circles) == 4 and circles[3]["r"] == "5" and circles[3]["fill"] != circles[0]["fill"]


def test_no_history_no_section_and_names_are_escaped() -> None:
    assert 'id="history"' not in render_html(synthetic_result())
    rendered = with_history()
    rendered["history"]["runs"][0]["run_id"] = HOSTILE_NAME  # type: ignore[index]
    rendered["history"]["runs"][0]["checks"][0]["sli"] = HOSTILE_NAME  # type: ignore[index]
    page = render_html(rendered)
    assert HOSTILE_NAME not in page
