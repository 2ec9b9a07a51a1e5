from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

E2E = Path(__file__).parent / "e2e"
#: End-to-end modules run as a second group, beside the first: one group of every e2e
#: module took longer than CI allows once every mode ran on two runtimes. The
#: wall-clock-sensitive tests are marked `alone` and still run with nothing beside them.
E2E_SECOND_WORKER = {
    "test_node_sandbox_faults.py",
    "test_lambda_modes_e2e.py",
    "test_history_regression.py",
    "test_gate_verdicts.py",
    "test_throttled_availability.py",
}
LIVE_SANDBOX = Path(__file__).parent / "sandbox"


#: The suite's own parallelism. Not in pyproject's addopts: those apply to every pytest run
#: in the checkout, and a user's `pytest --gameday ...` after the quick start's install
#: (no pytest-xdist) would stop at "unrecognized arguments: -n".
SUITE_WORKERS = 2
#: pytest-timeout's limit per test, in seconds.
SUITE_TIMEOUT_S = 300


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """The suite runs on two xdist workers, end-to-end tests grouped on one, unless the
    command line says otherwise (`-n 0`, `-n 4`, `--dist ...`). This conftest is loaded
    before xdist reads its options (it is in the folder pytest was given) and its hook
    runs before xdist's, so xdist sees these as if they had been typed."""
    option = config.option
    if not hasattr(option, "numprocesses") or hasattr(config, "workerinput"):
        return
    if option.numprocesses is None:
        option.numprocesses = SUITE_WORKERS
    if option.dist == "no" and option.numprocesses:
        option.dist = "loadgroup"


@pytest.hookimpl(optionalhook=True)  # an xdist hook: absent without pytest-xdist
def pytest_configure_node(node: Any) -> None:
    """xdist's workers parse the command line again, not the options set above: tell them
    the distribution mode, or they never suffix node ids with their group and every
    `xdist_group` is silently ignored (the e2e modules then ran on both workers at once)."""
    node.workerinput[DIST_KEY] = node.config.option.dist


DIST_KEY = "gameday_dist"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """End-to-end tests run one after another on one xdist worker (`--dist loadgroup`):
    each drives a sandbox, Locust and the CLI, and several at once on a small CI machine
    would measure each other; each live-sandbox module runs on one worker. The other tests
    share the remaining workers.

    First: xdist's worker turns the `xdist_group` marks into its scheduling groups in its
    own hook, registered after this conftest and so (hooks run newest first) called before
    it; marks added later were never seen, and a module's tests went to both workers."""
    for item in items:
        if E2E in item.path.parents:
            second = item.path.name in E2E_SECOND_WORKER
            item.add_marker(pytest.mark.xdist_group("e2e-2" if second else "e2e"))
        elif LIVE_SANDBOX in item.path.parents:
            # A module shares one live sandbox (a module-scoped fixture) and some of its
            # tests read what an earlier one sent: the module's tests stay together, in order.
            item.add_marker(pytest.mark.xdist_group(f"sandbox:{item.path.name}"))


def pytest_runtest_setup(item: pytest.Item) -> None:
    """On an xdist worker with `--dist loadgroup`, a test with an `xdist_group` mark must
    carry its group (xdist suffixes the node id with it): otherwise the groups are silently
    ignored and a live sandbox's module is split over workers. pytest 9.2 stores node ids
    in a form xdist 3.8 no longer changes (pytest-dev/pytest-xdist#1386); pyproject caps
    pytest below it."""
    if (
        getattr(item.config.option, "loadgroup", False)
        and item.get_closest_marker("xdist_group")
        and "@" not in item.nodeid
    ):
        pytest.fail(
            f"--dist loadgroup ignored this test's xdist_group: the mark came after "
            f"xdist read it, or pytest {pytest.__version__} keeps xdist from grouping "
            "(pytest-dev/pytest-xdist#1386)",
            pytrace=False,
        )


#: The folder of the test lock, made by the run's main process and inherited by its
#: xdist workers (they start after `pytest_configure`).
LOCK_DIR_ENV = "CHAOS_GAMEDAY_TEST_LOCK_DIR"


def pytest_configure(config: pytest.Config) -> None:
    worker = getattr(config, "workerinput", None)
    if worker is not None and worker.get(DIST_KEY) == "loadgroup":
        config.option.loadgroup = True  # what xdist's worker reads when collecting
    # Every test's time limit (pytest-timeout) unless the command line or a test's mark
    # says otherwise: not in pyproject, where a user's pytest without pytest-timeout would
    # warn about an unknown option.
    if getattr(config.option, "timeout", "absent") is None:
        config.option.timeout = SUITE_TIMEOUT_S
    config.addinivalue_line(
        "markers",
        "alone: runs while no other test runs on another xdist worker: the "
        "wall-clock-sensitive tests (a shipped example's latency SLO, WAF block and unblock "
        "times) must not depend on what the other worker computes meanwhile",
    )
    if not hasattr(config, "workerinput") and LOCK_DIR_ENV not in os.environ:
        config.stash[_OWN_LOCK_DIR] = tempfile.mkdtemp(prefix="chaos-gameday-tests-")
        os.environ[LOCK_DIR_ENV] = config.stash[_OWN_LOCK_DIR]
    # `gameday sandbox up` points the user's other directories at its sandbox (a file under
    # $XDG_STATE_HOME): each test process keeps its own, so that a test's sandbox is
    # neither the user's nor found by a test on another worker.
    config.stash[_OWN_STATE_HOME] = tempfile.mkdtemp(prefix="chaos-gameday-state-")
    config.stash[_USER_STATE_HOME] = os.environ.get("XDG_STATE_HOME")
    os.environ["XDG_STATE_HOME"] = config.stash[_OWN_STATE_HOME]


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = config.stash.get(_OWN_LOCK_DIR, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop(LOCK_DIR_ENV, None)
    state_home = config.stash.get(_OWN_STATE_HOME, None)
    if state_home is not None:
        shutil.rmtree(state_home, ignore_errors=True)
        user_state_home = config.stash.get(_USER_STATE_HOME, None)
        if user_state_home is None:
            os.environ.pop("XDG_STATE_HOME", None)
        else:
            os.environ["XDG_STATE_HOME"] = user_state_home


_OWN_LOCK_DIR = pytest.StashKey[str]()
_OWN_STATE_HOME = pytest.StashKey[str]()
_USER_STATE_HOME = pytest.StashKey[str | None]()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """A test marked `alone` holds the run's test lock exclusively, every other test shares
    it: on a small machine, the other xdist worker waits while a latency-sensitive example
    runs (its fixtures' setup and teardown included). Outermost, so that waiting for the
    lock does not count in a test's own timeout."""
    folder = os.environ.get(LOCK_DIR_ENV)
    if folder is None or "PYTEST_XDIST_WORKER" not in os.environ:  # tests run one at a time
        yield
        return
    with test_lock(Path(folder), exclusive=item.get_closest_marker("alone") is not None):
        yield


@contextmanager
def test_lock(folder: Path, *, exclusive: bool) -> Iterator[None]:
    """A readers-writer lock over files in `folder`, shared by the workers of one test run
    (the folder goes with the run).

    The turnstile makes it writer-preferring: once an `alone` test waits, no new test
    starts beside it (flock alone would let back-to-back shared holders starve it).
    """
    with (folder / "turnstile").open("a") as turnstile, (folder / "lock").open("a") as lock:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            if not exclusive:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            if exclusive:
                fcntl.flock(turnstile, fcntl.LOCK_UN)


@pytest.fixture(autouse=True)
def runs_without_janitor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs in tests schedule no janitor (GAMEDAY_NO_JANITOR=1, inherited by the CLI in
    subprocesses): a run that changes something needs one deployed otherwise. The janitor's
    own tests remove the variable."""
    monkeypatch.setenv("GAMEDAY_NO_JANITOR", "1")


@pytest.fixture
def gameday_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated GAMEDAY_HOME (runs, journals, sandbox state) for one test."""
    home = tmp_path / "gameday-home"
    home.mkdir()
    monkeypatch.setenv("GAMEDAY_HOME", str(home))
    return home


@pytest.fixture
def fake_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and no endpoint/profile override: for moto's in-process mock."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
