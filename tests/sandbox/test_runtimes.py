"""Which runtime client the sandbox starts for a function's Runtime (no processes started)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chaos.sandbox.functions.local import NodeRuntimeClient, NodeRuntimeUnavailable
from chaos.sandbox.functions.runtimes import RuntimeClients, RuntimeUnavailable


def test_python_runs_the_harness_default_and_node_the_installed_client() -> None:
    installs: list[int] = []

    def install() -> NodeRuntimeClient:
        installs.append(1)
        return NodeRuntimeClient(
            "/usr/bin/node", Path("/cache/node_modules/aws-lambda-ric"), "3.3.0"
        )

    clients = RuntimeClients(install)
    assert clients.node_state().state == "not needed yet"
    assert clients.command("python3.12", "app.handler") is None
    assert installs == []  # a Python function never builds the Node.js client
    command = clients.command("nodejs20.x", "index.handler")
    assert command == [
        "/usr/bin/node",
        "/cache/node_modules/aws-lambda-ric/bin/index.mjs",
        "index.handler",
    ]
    other = clients.command("nodejs20.x", "lib/other.handler")
    assert other is not None and other[-1] == "lib/other.handler"
    assert installs == [1]  # installed once, then reused
    assert clients.node_state().state == "ready"


def test_a_node_client_that_cannot_be_built_fails_every_node_function_with_one_reason() -> None:
    installs: list[int] = []

    def install() -> NodeRuntimeClient:
        installs.append(1)
        raise NodeRuntimeUnavailable("Node.js is not installed (node and npm are needed)")

    clients = RuntimeClients(install)
    for _ in range(2):
        with pytest.raises(RuntimeUnavailable) as refused:
            clients.command("nodejs20.x", "index.handler")
        assert str(refused.value) == (
            "Node.js functions cannot run: Node.js is not installed (node and npm are needed)"
        )
    assert installs == [1]  # not retried at every invocation
    state = clients.node_state()
    assert state.state == "unavailable" and "not installed" in state.reason
    assert clients.command("python3.12", "app.handler") is None  # Python is not affected


def test_a_runtime_the_sandbox_does_not_run_is_named() -> None:
    with pytest.raises(RuntimeUnavailable, match="runtime java21 is not run by the sandbox"):
        RuntimeClients().command("java21", "example.Handler::handleRequest")
