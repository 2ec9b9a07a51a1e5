from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from chaos.report import render_html
from tests.report.synthetic import HOSTILE_NAME, synthetic_result


class Elements(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {key: value or "" for key, value in attrs}))

    def having(self, tag: str, css_class: str = "") -> list[dict[str, str]]:
        return [attrs for name, attrs in self.tags
                if name == tag and css_class in attrs.get("class", "").split() + [""]]


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
    csp = [attrs for attrs in elements.having("meta")
           if attrs.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0]["content"]


def test_html_has_charts_with_phases_faults_and_series() -> None:
    result = synthetic_result()
    elements = parse(render_html(result))
    charts = elements.having("svg", "chart")
    assert [chart["id"] for chart in charts] == ["chart-throughput", "chart-latency",
                                                  "chart-errors"]
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
        "slo-table", "phase-table", "server-side-table", "waf-table", "fault-table"}
    assert len([a for a in elements.having("tr", "fail")]) >= 2
    assert not elements.having("script") and not elements.having("img")
    assert "orders&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;|`*" in text
    assert HOSTILE_NAME not in text


def test_html_without_load_still_renders() -> None:
    text = render_html({"outcome": "aborted", "run_id": "r", "abort_reason": "signal SIGTERM",
                        "slo": [], "faults": [], "timeline": []})
    assert "No per-second measurements" in text and "signal SIGTERM" in text
    assert 'class="verdict verdict-aborted"' in text
