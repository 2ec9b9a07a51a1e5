"""Fixtures of the harness tests: the real layer zip, function code, environments with the
layer under the real Python (awslambdaric) and Node.js (aws-lambda-ric) runtime clients."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gameday_chaos import config as chaos_config

from chaos.faults.lambda_extension.layer import write_layer_zip
from chaos.sandbox.functions.local import ExecutionEnvironment, free_port
from chaos.sandbox.functions.local.node_ric import NodeRuntimeClient, install_node_ric

sys.path.insert(0, str(Path(__file__).parent))
from harness_support import APP, NODE_APP, STREAM_RUNTIME  # noqa: E402

EnvFactory = Callable[..., ExecutionEnvironment]


@pytest.fixture(scope="session")
def layer_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_layer_zip(tmp_path_factory.mktemp("layer"), "x86_64")


@pytest.fixture(scope="session")
def code_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("function")
    (path / "app.py").write_text(APP)
    (path / "index.mjs").write_text(NODE_APP)
    (path / "stream_runtime.py").write_text(STREAM_RUNTIME)
    return path


@pytest.fixture(scope="session")
def node_client() -> NodeRuntimeClient:
    """The real Node.js runtime client; a machine without it fails these tests (no skip)."""
    return install_node_ric()


@pytest.fixture
def make_env(
    layer_zip: Path, code_dir: Path, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[EnvFactory]:
    created: list[ExecutionEnvironment] = []

    def factory(
        config: str | None = None,
        *,
        runtime: str = "python",
        layer: bool | Path = True,
        extra_env: dict[str, str] | None = None,
        streaming: bool = False,
        timeout_s: float = 3.0,
    ) -> ExecutionEnvironment:
        env: dict[str, str] = {chaos_config.DISK_DIR_ENV_KEY: str(tmp_path)}
        if layer:
            env[chaos_config.EXEC_WRAPPER_ENV_KEY] = chaos_config.WRAPPER_PATH
            env[chaos_config.PORT_ENV_KEY] = str(free_port())
        if config is not None:
            env[chaos_config.CONFIG_ENV_KEY] = config
        env.update(extra_env or {})
        handler, command = "app.handler", None
        if streaming:
            command = [sys.executable, str(code_dir / "stream_runtime.py")]
        elif runtime == "node":
            client: NodeRuntimeClient = request.getfixturevalue("node_client")
            handler = "index.handler"
            command = client.command(handler)
        layers = [] if not layer else [layer if isinstance(layer, Path) else layer_zip]
        environment = ExecutionEnvironment(
            code_dir,
            handler,
            env=env,
            timeout_s=timeout_s,
            layers=layers,
            function_name="orders-create",
            runtime_command=command,
        )
        created.append(environment)
        return environment

    yield factory
    for environment in created:
        environment.close()
