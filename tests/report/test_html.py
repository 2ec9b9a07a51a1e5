from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from chaos.report import render_html
from tests.report.synthetic import HOSTILE_NAME, synthetic_result, unsettled


class Elements(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {key: value or "" for key, value in attrs}))

    def having(self, tag: str, css_class: str = "") -> list[dict[str, str]]:
        return [
            attrs
            for name, attrs in self.tags
            if name == tag and css_class in attrs.get("class", "").split() + [""]
        ]


def parse(text: str) -> Elements:
    elements = Elements()
    elements.feed(text)
    return elements


def test_html_is_self_contained() -> None:
    text = render_html(synthetic_result())
    elements = parse(text)
    assert not elements.having("script") and not elements.having("link")
    assert not elements.having("img") and not elements.having("iframe")
    # no URL other than the SVG namespace: nothing to fetch
    urls = set(re.findall(r"(?:https?:)?//[\w.-]+[^\s\"')]*", text))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls
    csp = [
        attrs
        for attrs in elements.having("meta")
        if attrs.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp and "default-src 'none'" in csp[0]["content"]


def test_html_has_charts_with_phases_faults_and_series() -> None:
    result = synthetic_result()
    elements = parse(render_html(result))
    charts = elements.having("svg", "chart")
    assert [chart["id"] for chart in charts] == [
        "chart-throughput",
        "chart-latency",
        "chart-errors",
    ]
    assert len(elements.having("rect", "phase")) == 3 * 3
    assert len(elements.having("g", "fault-inject")) == 2 * 3
    assert len(elements.having("g", "fault-restore")) == 2 * 3
    series = {attrs["data-series"] for attrs in elements.having("path", "series")}
    assert {"requests/s", "p50", "p90", "p99", "failed/s"} <= series
    assert len(elements.having("rect", "hover")) == 3 * len(result["timeline"])


def test_html_tables_and_escaping() -> None:
    result: dict[str, Any] = synthetic_result()
    result["notes"].append("</section><script>alert(2)</script>")
    text = render_html(result)
    elements = parse(text)
    assert {attrs.get("id") for attrs in elements.having("table")} >= {
        "slo-table",
        "phase-table",
        "server-side-table",
        "waf-table",
        "fault-table",
    }
    assert len([a for a in elements.having("tr", "fail")]) >= 2
    assert not elements.having("script") and not elements.having("img")
    assert "orders&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;|`*" in text
    assert HOSTILE_NAME not in text


def test_html_without_load_still_renders() -> None:
    text = render_html(
        {
            "outcome": "aborted",
            "run_id": "r",
            "abort_reason": "signal SIGTERM",
            "slo": [],
            "faults": [],
            "timeline": [],
        }
    )
    assert "No per-second measurements" in text and "signal SIGTERM" in text
    assert 'class="verdict verdict-aborted"' in text


class TableCells(HTMLParser):
    """The text of every cell of one table (by id), row by row."""

    def __init__(self, table_id: str) -> None:
        super().__init__()
        self.table_id = table_id
        self.inside = False
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.inside = dict(attrs).get("id") == self.table_id
        elif self.inside and tag == "tr":
            self.rows.append([])
        elif self.inside and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        elif self.inside and tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(text: str, table_id: str) -> dict[str, list[str]]:
    cells = TableCells(table_id)
    cells.feed(text)
    return {row[0]: row[1:] for row in cells.rows if row}


def test_html_labels_waf_timings_as_estimates_and_shows_other_403() -> None:
    text = render_html(synthetic_result())
    waf = table_rows(text, "waf-table")
    assert waf["time to block (s, estimate)"] == ["12"]
    assert waf["time to unblock (s, estimate)"] == ["not measured"]
    assert waf["other 403s (not the rate rule's: other_403)"] == ["7"]
    assert 'id="waf-note">WAF timings are estimates: AWS WAF estimates' in text


def test_html_shows_per_figure_whether_settled_and_the_minutes_it_covers() -> None:
    text = render_html(synthetic_result())
    server = table_rows(text, "server-side-table")
    assert server["CloudWatch"] == ["baseline", "fault", "recovery", "run"]
    assert server["lambda_errors"] == ["0", "80", "0", "80"]
    assert server["settled"] == ["yes"] * 4
    assert server["CloudWatch minutes"] == [
        "22:13-22:14 UTC (1 min)",
        "22:13-22:15 UTC (2 min)",
        "22:14-22:15 UTC (1 min)",
        "22:13-22:15 UTC (2 min)",
    ]
    assert 'id="server-side-note"' not in text


def test_html_says_how_server_side_figures_are_split_between_the_phases() -> None:
    text = render_html(synthetic_result())
    assert (
        'id="server-side-attribution">Server-side figures are attributed by per-minute '
        "share: each CloudWatch datapoint is split between the phases"
    ) in text
    # the run starts 20 s into 22:13: 30 s of baseline, then 10 s of fault in that minute
    assert (
        "minutes across a phase boundary: 22:13 UTC baseline 75%, fault 25%; "
        "22:14 UTC fault 40%, recovery 60%."
    ) in text


def test_html_of_an_older_result_says_nothing_of_shares() -> None:
    result = synthetic_result()
    del result["server_side"]["attribution"]
    assert 'id="server-side-attribution"' not in render_html(result)


def test_html_marks_every_unsettled_figure() -> None:
    text = render_html(unsettled(synthetic_result()))
    server = table_rows(text, "server-side-table")
    assert server["lambda_errors"] == [
        "0 (not settled)",
        "80 (not settled)",
        "0 (not settled)",
        "80 (not settled)",
    ]
    assert server["settled"] == ["NO"] * 4
    assert table_rows(text, "waf-table")["blocked requests in CloudWatch"] == ["1540 (not settled)"]
    assert '<tr class="fail"><td>settled</td>' in text
    assert 'id="server-side-note">Figures marked (not settled)' in text
