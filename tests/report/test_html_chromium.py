"""report.html in a real browser: headless Chromium, no console errors, charts rendered."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from chaos.report import write_reports
from tests.report.synthetic import synthetic_result

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))
BROWSER_TIMEOUT_S = 90


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed (apt-get install -y chromium)")
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


def run_browser(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        *extra,
        page.resolve().as_uri(),
    ]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=BROWSER_TIMEOUT_S,
        check=False,
        env={**os.environ, "HOME": str(profile)},
    )


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


class Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {key: value or "" for key, value in attrs}))

    def count(self, tag: str, css_class: str) -> int:
        return sum(
            1
            for name, attrs in self.tags
            if name == tag and css_class in attrs.get("class", "").split()
        )


def test_report_opens_in_chromium_without_console_errors(tmp_path: Path) -> None:
    paths = write_reports(synthetic_result(), tmp_path / "report")
    dumped = run_browser(paths["html"], tmp_path / "profile", "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    assert console_lines(dumped.stderr) == []
    dom = Dom()
    dom.feed(dumped.stdout)
    ids = [attrs.get("id") for name, attrs in dom.tags if name == "svg"]
    assert ids == ["chart-throughput", "chart-latency", "chart-errors"]
    assert dom.count("path", "series") >= 7
    assert dom.count("rect", "phase") == 9 and dom.count("g", "fault-inject") == 6
    assert not any(name in ("script", "img") for name, _ in dom.tags)
    assert 'id="slo-table"' in dumped.stdout and 'id="waf-table"' in dumped.stdout

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "report.png"
    screenshot.unlink(missing_ok=True)
    shot = run_browser(
        paths["html"],
        tmp_path / "profile",
        f"--screenshot={screenshot}",
        "--window-size=1280,2000",
        "--hide-scrollbars",
    )
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.stat().st_size > 20_000  # a real rendering, not a blank page
    shutil.copy(paths["html"], ARTIFACTS / "report.html")


def test_console_errors_are_detected(tmp_path: Path) -> None:
    """The check above can fail: a page that loads from the network logs a console error."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta http-equiv="Content-Security-Policy" '
        "content=\"default-src 'none'\"></head><body>"
        '<img src="http://127.0.0.1:9/x.png"></body></html>',
        encoding="utf-8",
    )
    dumped = run_browser(page, tmp_path / "profile", "--dump-dom")
    assert console_lines(dumped.stderr), dumped.stderr[-2000:]
