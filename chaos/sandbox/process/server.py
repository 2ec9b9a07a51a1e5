"""The sandbox process: a local AWS API (moto) and its data plane on 127.0.0.1, until SIGTERM.

Run by `gameday sandbox up` as `python -m chaos.sandbox.process.server --state-file PATH`.
moto runs in this process (not as a client of it) so that the data plane reads
moto's backend objects directly: the HTTP front (the REST API stage with the web
ACL's rules) and the function's execution environments follow whatever the toolkit
or a user changes through the AWS API, without restart.

Tuning (environment of the process): GAMEDAY_SANDBOX_WAF_CHECK_S (rate check period,
default 10), GAMEDAY_SANDBOX_POOL_MAX (environments per function, default 10),
GAMEDAY_SANDBOX_INTEGRATION_TIMEOUT_S (default: the integration's timeoutInMillis),
GAMEDAY_SANDBOX_POLL_S (how often the configuration is re-read, default 0.5).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from chaos.aws import AwsClients
from chaos.aws.partition import arn
from chaos.clock import utc_now
from chaos.errors import ConfigurationError
from chaos.files import write_atomically
from chaos.sandbox.apigateway.http_front import ApiGatewayFront, FrontServer, StageConfig
from chaos.sandbox.capacity.az_spread import drain_seconds
from chaos.sandbox.capacity.egress import EgressNetwork
from chaos.sandbox.capacity.placement import PlacementController
from chaos.sandbox.cloudwatch.alarms import evaluation_interval_s
from chaos.sandbox.cloudwatch.metrics import MetricsRecorder, MetricTiming
from chaos.sandbox.demo.janitor import deploy_sandbox_janitor
from chaos.sandbox.demo.seed import REGION, STAGE_NAME, SeededService, seed
from chaos.sandbox.eventbridge.scheduler import ScheduleExecutor, lambda_deliverer, sqs_sender
from chaos.sandbox.functions.async_invoke import AsyncLambda, event_invoke_config_reader
from chaos.sandbox.functions.invoke import LambdaService
from chaos.sandbox.functions.pool import DEFAULT_POOL_MAX, FunctionConcurrency, FunctionPool
from chaos.sandbox.functions.runtimes import RuntimeClients
from chaos.sandbox.process.control_plane import ControlPlane
from chaos.sandbox.process.moto_reader import MotoReader, fix_moto_dimension_order
from chaos.sandbox.realism import Realism
from chaos.sandbox.waf.engine import DEFAULT_CHECK_INTERVAL_S, WafEngine

log = logging.getLogger("chaos.sandbox")

WAF_CHECK_ENV = "GAMEDAY_SANDBOX_WAF_CHECK_S"
POOL_MAX_ENV = "GAMEDAY_SANDBOX_POOL_MAX"
INTEGRATION_TIMEOUT_ENV = "GAMEDAY_SANDBOX_INTEGRATION_TIMEOUT_S"
POLL_ENV = "GAMEDAY_SANDBOX_POLL_S"
DEFAULT_POLL_S = 0.5
SANDBOX_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


@dataclass(frozen=True)
class DataPlaneSettings:
    waf_check_s: float = DEFAULT_CHECK_INTERVAL_S
    pool_max: int = DEFAULT_POOL_MAX
    integration_timeout_s: float | None = None  # None: the integration's own timeout
    poll_s: float = DEFAULT_POLL_S

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> DataPlaneSettings:
        def number(key: str, default: float | None) -> float | None:
            raw = environ.get(key)
            if raw is None or raw == "":
                return default
            try:
                value = float(raw)
            except ValueError:
                value = -1.0
            if value <= 0:
                raise ConfigurationError(f"{key}={raw!r}: expected a positive number")
            return value

        return cls(
            waf_check_s=number(WAF_CHECK_ENV, DEFAULT_CHECK_INTERVAL_S) or 0.0,
            pool_max=int(number(POOL_MAX_ENV, DEFAULT_POOL_MAX) or 0),
            integration_timeout_s=number(INTEGRATION_TIMEOUT_ENV, None),
            poll_s=number(POLL_ENV, DEFAULT_POLL_S) or 0.0,
        )


class DataPlane:
    """HTTP front + WAF + execution environments, following moto's current state."""

    def __init__(
        self,
        reader: MotoReader,
        service: SeededService,
        endpoint_url: str,
        settings: DataPlaneSettings,
        work_dir: Path,
        realism: Realism | None = None,
    ) -> None:
        realism = realism or Realism()
        self.reader = reader
        self.service = service
        self.settings = settings
        self.work_dir = work_dir
        self.metrics = MetricsRecorder(
            reader.put_metric_data, timing=MetricTiming.for_realism(realism)
        )
        self.waf = WafEngine.for_realism(realism, settings.waf_check_s)
        self.alarm_interval_s = evaluation_interval_s(realism)
        self.placement = PlacementController.for_sandbox(
            reader.region, reader.account_id, realism, drain_seconds(os.environ)
        )
        self._base_env = {"AWS_ENDPOINT_URL": endpoint_url}
        self.egress = EgressNetwork(endpoint_url)
        self.runtimes = RuntimeClients()
        self.lambdas = LambdaService(
            reader,
            self._new_pool,
            pool_max=settings.pool_max,
            routing=realism.random("alias-routing"),
        )
        self._poll_lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        stage = StageConfig(
            api_id=service.rest_api_id,
            api_name=reader.rest_api_name(service.rest_api_id) or "",
            stage=STAGE_NAME,
            region=reader.region,
            account_id=reader.account_id,
        )
        self.front = ApiGatewayFront(
            stage,
            routes=lambda: reader.route_table(service.rest_api_id, STAGE_NAME),
            functions=self.lambdas,
            waf=self.waf,
            metrics=self.metrics,
            status=self.status,
            timeout_override_s=settings.integration_timeout_s,
        )
        self.server: FrontServer | None = None

    def start(self, port: int = 0) -> str:
        """Start following the configuration and serving; returns the front's URL."""
        self.poll_once()
        self.server = FrontServer(self.front, port=port)
        self.server.start()
        self.metrics.start()
        self.placement.start()
        self._loop("sandbox-poll", self.settings.poll_s, self.poll_once)
        self._loop("sandbox-waf-check", self.waf.check_interval_s, self._waf_check)
        self._loop("sandbox-alarms", self.alarm_interval_s, self._evaluate_alarms)
        return self.server.url

    def _loop(self, name: str, interval_s: float, tick: Any) -> None:
        def run() -> None:
            while not self._stop.wait(interval_s):
                try:
                    tick()
                except Exception:  # noqa: BLE001 - keep serving on a transient read error
                    log.warning("%s failed", name, exc_info=True)

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _evaluate_alarms(self) -> None:
        for name, state in self.reader.evaluate_alarms(datetime.now(timezone.utc)).items():
            log.info("alarm %s: %s", name, state)

    def _waf_check(self) -> None:
        self.waf.configure(self.reader.web_acl_for(self.service.stage_arn))
        self.waf.check()

    def poll_once(self) -> None:
        """Re-read the invoked functions' configuration, the network ACLs and the web ACL."""
        with self._poll_lock:
            self.lambdas.refresh()
            self.egress.apply(self.reader.blackholed_subnets())
            self.waf.configure(self.reader.web_acl_for(self.service.stage_arn))

    def _new_pool(
        self, function_name: str, version: str, concurrency: FunctionConcurrency
    ) -> FunctionPool:
        return FunctionPool(
            function_name,
            version,
            work_dir=self.work_dir,
            metrics=self.metrics,
            concurrency=concurrency,
            base_env=self._base_env,
            egress=self.egress,
            runtimes=self.runtimes,
            reserved_env={**SANDBOX_CREDENTIALS, "AWS_DEFAULT_REGION": self.reader.region},
            region=self.reader.region,
            account_id=self.reader.account_id,
        )

    def status(self) -> dict[str, Any]:
        """What runs where: for `/_sandbox/status` on the front."""
        return {
            "functions": self.lambdas.status(),
            "waf": self.waf.status(),
            "metrics": self.metrics.status(),
            "placement": self.placement.status(),
            "runtimes": self.runtimes.status(),
        }

    def stop(self) -> None:
        self._stop.set()
        self.placement.stop()
        if self.server is not None:
            self.server.stop()
        for thread in self._threads:
            thread.join(timeout=5)
        self.lambdas.close()
        self.egress.close()
        self.metrics.stop()


def serve(state_file: Path, port: int, front_port: int = 0) -> None:
    settings = DataPlaneSettings.from_env(os.environ)
    realism = Realism.from_env(os.environ)
    work_dir = Path(tempfile.mkdtemp(prefix="gameday-sandbox-"))
    # Environments make their own temp dirs: keep them under ours, so nothing outlives us.
    tempfile.tempdir = str(work_dir)
    fix_moto_dimension_order()
    control = ControlPlane(REGION, realism, port)
    endpoint_url = control.start()
    plane: DataPlane | None = None
    schedules: ScheduleExecutor | None = None
    async_lambda: AsyncLambda | None = None
    try:
        seeded = seed(AwsClients(region=REGION, endpoint_url=endpoint_url))
        deploy_sandbox_janitor(
            AwsClients(region=REGION, endpoint_url=endpoint_url), seeded.journal_bucket
        )
        plane = DataPlane(control.reader, seeded, endpoint_url, settings, work_dir, realism)
        control.follow(plane.poll_once)
        front_url = plane.start(front_port)
        own_api = AwsClients(region=REGION, endpoint_url=endpoint_url)
        account_id = control.reader.account_id
        async_lambda = AsyncLambda(
            plane.lambdas.invoke,
            event_invoke_config_reader(own_api),
            sqs_sender(own_api),
            realism,
            function_arn=lambda name: arn("lambda", REGION, account_id, f"function:{name}"),
        )
        schedules = ScheduleExecutor(
            account_id,
            REGION,
            lambda_deliverer(plane.lambdas, async_lambda),
            send=sqs_sender(own_api),
        ).start()
        control.open_to_clients()

        stopping = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
        state = {
            "pid": os.getpid(),
            "endpoint_url": endpoint_url,
            "region": REGION,
            "started_at": utc_now(),
            "http_front": front_url,
            "service": seeded.to_dict(),
            "work_dir": str(work_dir),
            "realism": realism.mode,
            # How late its CloudWatch shows a minute's datapoints (the toolkit waits that
            # long before reading them, as it waits for AWS's).
            "cloudwatch_lag_s": cloudwatch_lag_s(realism),
        }
        write_atomically(state_file, json.dumps(state, indent=2))
        log.info("sandbox ready: AWS API %s, HTTP front %s/%s", endpoint_url, front_url, STAGE_NAME)
        while not stopping.wait(1.0):
            if not state_file.exists():  # `down` from a stale state or a wiped home
                break
    finally:
        _remove_own_state(state_file)
        if schedules is not None:
            schedules.stop()
        if async_lambda is not None:
            async_lambda.stop()
        if plane is not None:
            plane.stop()
        control.stop()
        shutil.rmtree(work_dir, ignore_errors=True)


def cloudwatch_lag_s(realism: Realism) -> dict[str, float]:
    """The metrics recorder's visibility lag: none when fast, AWS's (scaled) under aws."""
    if not realism.aws:
        return {"standard": 0.0, "emf": 0.0}
    return {"standard": realism.delay(60.0), "emf": realism.delay(120.0)}


def _remove_own_state(state_file: Path) -> None:
    try:
        current = json.loads(state_file.read_text())
        if current.get("pid") == os.getpid():
            state_file.unlink()
    except (OSError, ValueError):
        pass


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m chaos.sandbox.process.server")
    parser.add_argument("--state-file", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--front-port", type=int, default=0)
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    started = time.monotonic()
    serve(arguments.state_file, arguments.port, arguments.front_port)
    print(f"sandbox stopped after {time.monotonic() - started:.0f}s", flush=True)


if __name__ == "__main__":
    main()
