"""Fixtures for harness tests: the real layer zip, function code, environments with the layer."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from gameday_chaos import config as chaos_config

from chaos.lambda_local import ExecutionEnvironment, free_port
from chaos.layer import write_layer_zip

sys.path.insert(0, str(Path(__file__).parent))
from harness_support import APP, STREAM_RUNTIME  # noqa: E402

EnvFactory = Callable[..., ExecutionEnvironment]


@pytest.fixture(scope="session")
def layer_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_layer_zip(tmp_path_factory.mktemp("layer"))


@pytest.fixture(scope="session")
def code_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("function")
    (path / "app.py").write_text(APP)
    (path / "stream_runtime.py").write_text(STREAM_RUNTIME)
    return path


@pytest.fixture
def make_env(layer_zip: Path, code_dir: Path) -> Iterator[EnvFactory]:
    created: list[ExecutionEnvironment] = []

    def factory(
        config: str | None = None,
        *,
        layer: bool = True,
        extra_env: dict[str, str] | None = None,
        streaming: bool = False,
        timeout_s: float = 3.0,
    ) -> ExecutionEnvironment:
        env: dict[str, str] = {}
        if layer:
            env[chaos_config.EXEC_WRAPPER_ENV_KEY] = chaos_config.WRAPPER_PATH
            env[chaos_config.PORT_ENV_KEY] = str(free_port())
        if config is not None:
            env[chaos_config.CONFIG_ENV_KEY] = config
        env.update(extra_env or {})
        runtime = [sys.executable, str(code_dir / "stream_runtime.py")] if streaming else None
        environment = ExecutionEnvironment(
            code_dir,
            "app.handler",
            env=env,
            timeout_s=timeout_s,
            layers=[layer_zip] if layer else [],
            function_name="orders-create",
            runtime_command=runtime,
        )
        created.append(environment)
        return environment

    yield factory
    for environment in created:
        environment.close()
