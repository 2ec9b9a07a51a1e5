"""Rollback never harms what it does not own: another run's live fault, a live run, a
sandbox that is gone; and a stop request never runs listeners inside a signal handler."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from gameday_chaos import config as extension_config

from chaos.aws import AwsClients
from chaos.experiment import load_experiment
from chaos.faults import FaultContext, LambdaExtensionFault
from chaos.journal import Journal, JournalEntry, runs_dir
from chaos.run.restore import restore_journal, rollback_unfinished
from chaos.run.stop import StopRequested, StopSignal
from tests.integration.conftest import REGION, create_function, experiment_yaml


def new_journal(run_id: str, **fields: object) -> Journal:
    values: dict[str, object] = dict(
        run_id=run_id,
        experiment_name="x",
        experiment_path="x.yaml",
        region=REGION,
        endpoint_url=None,
        profile=None,
        account_id=None,
    )
    values.update(fields)
    return Journal.create(runs_dir() / run_id, **values)


@pytest.mark.usefixtures("aws")
def test_a_dead_runs_rollback_leaves_another_runs_live_fault_alone(tmp_path: Path) -> None:
    arn = create_function("orders")["FunctionArn"]
    clients = AwsClients(region=REGION)
    before = clients.lambda_.get_function_configuration(FunctionName="orders")
    # Run A journaled its change and died before locking or changing anything.
    dead = new_journal("run-a")
    dead.record(
        JournalEntry(
            entry_id=f"lambda-extension:{arn}",
            fault_type="lambda-extension",
            target="orders",
            target_arn=arn,
            original={"layers": [], "environment": before["Environment"]["Variables"]},
            intended={
                "layer_arn": "arn:aws:lambda:us-east-1:123456789012:layer:gameday-chaos:1",
                "environment": {
                    extension_config.EXEC_WRAPPER_ENV_KEY: extension_config.WRAPPER_PATH,
                    extension_config.CONFIG_ENV_KEY: "run A's config",
                },
            },
        )
    )
    # Run B then injected the same fault for real.
    path = tmp_path / "b.yaml"
    path.write_text(experiment_yaml())
    spec = load_experiment(path).faults[0]
    fault = LambdaExtensionFault(spec, FaultContext(clients, "run-b", time.time() + 600))
    [change] = fault.plan()
    fault.prepare()
    fault.apply(change, new_journal("run-b"))
    during = clients.lambda_.get_function_configuration(FunctionName="orders")

    report = restore_journal(dead, clients)

    after = clients.lambda_.get_function_configuration(FunctionName="orders")
    assert (after["Layers"], after["Environment"]) == (during["Layers"], during["Environment"])
    assert clients.lambda_.list_tags(Resource=arn)["Tags"]["gameday:run-id"] == "run-b"
    assert report.drifted == 1 and "locked by run run-b" in report.details[0]


@pytest.mark.usefixtures("gameday_home")
def test_a_live_run_is_not_rolled_back_without_force() -> None:
    alive = subprocess.Popen(["sleep", "30"])
    try:
        journal = new_journal("live-run", sandbox=True, endpoint_url="http://127.0.0.1:9")
        journal.pid = alive.pid
        journal.record(
            JournalEntry("e", "lambda-extension", "orders", "arn:x", {}, {}, status="applied")
        )
        skipped: list[str] = []
        assert rollback_unfinished(on_skip=skipped.append) == []
        assert "still running" in skipped[0]
        assert Journal.load(journal.path).entries[0].status == "applied"  # type: ignore[arg-type]
        [report] = rollback_unfinished(force=True)
        assert report.complete
    finally:
        alive.kill()
        alive.wait()


@pytest.mark.usefixtures("gameday_home")
def test_rollback_of_a_run_on_a_sandbox_that_is_gone_is_quick_and_complete() -> None:
    journal = new_journal("sandbox-run", sandbox=True, endpoint_url="http://127.0.0.1:9")
    journal.pid = 2**22 + 1  # no such process
    journal.save()
    journal.record(
        JournalEntry("e", "lambda-extension", "orders", "arn:x", {}, {}, status="applied")
    )
    started = time.monotonic()
    [report] = rollback_unfinished()
    assert report.complete and report.drifted == 1
    assert "sandbox it changed is gone" in report.details[0]
    assert time.monotonic() - started < 10, "no retries against a dead endpoint"
    assert rollback_unfinished() == []


def test_stop_listeners_run_on_the_runs_thread_not_in_the_signal_handler() -> None:
    stop = StopSignal(60)
    heard: list[str] = []
    stop.listeners.append(heard.append)
    stop.request("signal SIGINT")  # what the handler calls
    assert heard == []
    with pytest.raises(StopRequested):
        stop.check()
    with pytest.raises(StopRequested):
        stop.check()
    assert heard == ["signal SIGINT"]


def test_max_duration_counts_from_the_start_of_the_run() -> None:
    stop = StopSignal(0.2)
    time.sleep(0.3)  # planning and the confirmation prompt
    stop.restart_clock()
    stop.check()  # not exceeded: the clock restarted
