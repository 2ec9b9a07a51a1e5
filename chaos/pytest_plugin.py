"""pytest plugin: experiments as test items, and a `gameday` fixture.

Installed through the `pytest11` entry point. Opt in with `--gameday` (YAML files
among the paths given to pytest) or the ini option `gameday_paths`. An item passes
when the run's outcome is `passed`, fails with the SLO table when an SLO is
breached, and errors on invalid input, a refused preflight or an incomplete
rollback. Runs are serialized with a file lock under GAMEDAY_HOME, so experiments
never overlap, also across pytest-xdist workers.

Only `kind: experiment` files become items. A game-day plan (`kind: gameday`) is
skipped: its experiments are files of their own, collected where they live, and a
plan's schedule and consolidated report belong to `gameday run` / `gameday schedule`.

pytest loads this plugin in every session of every project where the package is installed:
at start it imports only pytest and the light vocabulary (chaos.errors, chaos.outcome);
the run and its AWS clients are imported inside the functions that use them, when an
experiment is collected or the `gameday` fixture is used.
"""

from __future__ import annotations

import fcntl
import re
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from chaos.errors import GamedayError, RollbackIncomplete
from chaos.outcome import EXIT_ROLLBACK_INCOMPLETE

if TYPE_CHECKING:
    from chaos.result import RunResult
    from chaos.run.context import RunOutcome
    from chaos.run.start import Run


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gameday", "chaos-gameday experiments")
    group.addoption(
        "--gameday",
        action="store_true",
        help="collect experiment YAML files among the given paths as tests",
    )
    group.addoption(
        "--gameday-sandbox",
        action="store_true",
        help="run experiments against the embedded sandbox",
    )
    group.addoption(
        "--gameday-report-dir",
        type=Path,
        default=None,
        help="write each run's reports under this directory",
    )
    group.addoption(
        "--gameday-dry-run",
        action="store_true",
        help="plan only: preflight every experiment, change nothing",
    )
    parser.addini(
        "gameday_paths",
        type="paths",
        default=[],
        help="experiment files/directories collected as tests",
    )
    parser.addini(
        "gameday_sandbox",
        type="bool",
        default=False,
        help="run experiments against the embedded sandbox",
    )


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml") or not _opted_in(file_path, parent.config):
        return None
    if document_kind(file_path) != "experiment":
        return None
    collector: ExperimentFile = ExperimentFile.from_parent(parent, path=file_path)
    return collector


def _opted_in(path: Path, config: pytest.Config) -> bool:
    if config.getoption("--gameday"):
        return True
    roots = [Path(root).resolve() for root in config.getini("gameday_paths")]
    resolved = path.resolve()
    return any(resolved == root or root in resolved.parents for root in roots)


_KIND = re.compile(r"""^kind:[ \t]*["']?([A-Za-z0-9_-]+)""", re.MULTILINE)


def document_kind(path: Path) -> str | None:
    """The top-level `kind:` of a YAML file (`experiment`, `gameday`, ...), or None.

    A top-level `kind:` line is read from the text, so that an experiment that is not
    valid YAML is still an item (it errors with its one-line message); a comment or a
    nested key never counts. A flow-style document (`{kind: experiment, ...}`) is parsed.
    """
    import yaml

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    match = _KIND.search(text[:4096])
    if match:
        return match.group(1)
    if not text.lstrip().startswith("{"):
        return None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    kind = document.get("kind") if isinstance(document, dict) else None
    return kind if isinstance(kind, str) else None


def _sandbox(config: pytest.Config) -> bool:
    return bool(config.getoption("--gameday-sandbox") or config.getini("gameday_sandbox"))


@contextmanager
def exclusive_run() -> Iterator[None]:
    """Hold the machine-wide experiment lock (blocks until the running experiment ends)."""
    from chaos.journal import gameday_home

    home = gameday_home()
    home.mkdir(parents=True, exist_ok=True)
    with (home / "pytest.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class ExperimentFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        yield ExperimentItem.from_parent(self, name=self.path.stem)


class ExperimentFailed(Exception):
    def __init__(self, outcome: RunOutcome) -> None:
        super().__init__(outcome.outcome)
        self.outcome = outcome


class ExperimentItem(pytest.Item):
    """One experiment file = one test."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._lock: Any = None
        self._prepared = ExitStack()  # the prepared run's target, closed at teardown
        self._run: Run | None = None
        self._outcome: RunOutcome | None = None

    def setup(self) -> None:
        """Load and prepare (a refusal is an error of the item, not a failure)."""
        from chaos.experiment import load_experiment
        from chaos.run.context import RunOptions
        from chaos.run.start import start_run

        experiment = load_experiment(self.path)
        self._lock = exclusive_run()
        self._lock.__enter__()
        options = RunOptions(
            sandbox=_sandbox(self.config), assume_yes=True, report_dir=self._report_dir()
        )
        self._run = self._prepared.enter_context(start_run(experiment, self.path, options))

    def runtest(self) -> None:
        if self.config.getoption("--gameday-dry-run"):
            return
        assert self._run is not None
        self._outcome = self._run.execute()
        self.user_properties.append(("gameday_run_id", self._outcome.run_id))
        self.user_properties.append(("gameday_result", str(self._outcome.result_path)))
        if self._outcome.exit_code == EXIT_ROLLBACK_INCOMPLETE:
            return  # reported as an error in teardown
        if self._outcome.outcome != "passed":
            raise ExperimentFailed(self._outcome)

    def teardown(self) -> None:
        try:
            self._prepared.close()
        finally:
            if self._lock is not None:
                self._lock.__exit__(None, None, None)
                self._lock = None
        if self._outcome is not None and self._outcome.exit_code == EXIT_ROLLBACK_INCOMPLETE:
            raise RollbackIncomplete(
                f"rollback incomplete for run {self._outcome.run_id}: journal kept at "
                f"{self._outcome.journal_path}; run `gameday rollback --run-id "
                f"{self._outcome.run_id}`"
            )

    def _report_dir(self) -> Path | None:
        base: Path | None = self.config.getoption("--gameday-report-dir")
        return base / self.path.stem if base else None

    def repr_failure(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> str | Any:
        from chaos.errors import GamedayError
        from chaos.report import slo_text

        if isinstance(excinfo.value, ExperimentFailed):
            outcome = excinfo.value.outcome
            reason = outcome.result.get("abort_reason")
            header = f"experiment {self.path.name}: {outcome.outcome}" + (
                f" ({reason})" if reason else ""
            )
            return f"{header}\n{slo_text(outcome.result)}\nresult: {outcome.result_path}"
        if isinstance(excinfo.value, GamedayError):
            return f"{self.path}: {excinfo.value}"
        return super().repr_failure(excinfo)

    # pytest formats setup/teardown errors through this hook, not repr_failure.
    def _repr_failure_py(
        self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None
    ) -> Any:
        if isinstance(excinfo.value, GamedayError):
            return f"{self.path}: {excinfo.value}"
        return super()._repr_failure_py(excinfo, style=style)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, 0, f"gameday experiment {self.path.name}"


class GamedayRunner:
    """The `gameday` fixture: run an experiment and get a typed result."""

    def __init__(self, config: pytest.Config) -> None:
        self._config = config

    def run(
        self,
        path: str | Path,
        *,
        sandbox: bool | None = None,
        report_dir: Path | None = None,
        **overrides: Any,
    ) -> RunResult:
        """Run `path` with `overrides` merged into its YAML (e.g. phases={"fault": "5s"})."""
        from chaos.experiment import Experiment, load_experiment
        from chaos.result import RunResult
        from chaos.run.context import RunOptions
        from chaos.run.start import run_experiment

        experiment = load_experiment(Path(path))
        if overrides:
            merged = _deep_merge(experiment.model_dump(by_alias=True, exclude_none=True), overrides)
            experiment = Experiment.model_validate(merged)
        options = RunOptions(
            sandbox=_sandbox(self._config) if sandbox is None else sandbox,
            assume_yes=True,
            report_dir=report_dir,
        )
        with exclusive_run():
            outcome = run_experiment(experiment, Path(path), options)
        reports = {
            path.stem: path
            for path in outcome.result_path.parent.glob("*")
            if path.name.startswith(("result", "report", "junit"))
        }
        return RunResult.from_dict(
            outcome.result, exit_code=outcome.exit_code, report_paths=reports
        )


def _deep_merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@pytest.fixture
def gameday(request: pytest.FixtureRequest) -> GamedayRunner:
    """Run experiments from a test: `gameday.run("experiments/x.yaml", **overrides)`."""
    return GamedayRunner(request.config)
