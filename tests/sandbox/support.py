"""Helpers of the live sandbox tests: HTTP calls to the front, concurrent rounds, waits."""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chaos.aws import AwsClients
from chaos.sandbox.process import control

AZ_IDS = ("use1-az1", "use1-az2", "use1-az3")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    elapsed_s: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Sandbox:
    home: Path
    state: control.SandboxState
    clients: AwsClients

    @property
    def rest_api_id(self) -> str:
        return str(self.state.service["rest_api_id"])

    @property
    def endpoint(self) -> str:
        assert self.state.api_endpoint is not None
        return self.state.api_endpoint

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 15,
    ) -> Reply:
        return call(
            self.endpoint + path, method=method, body=body, headers=headers, timeout=timeout
        )

    def status(self) -> dict[str, Any]:
        assert self.state.http_front is not None
        return dict(call(self.state.http_front + "/_sandbox/status").json())

    def environment_az_ids(self) -> set[str]:
        """AZ IDs of the live (not retiring) environments of `orders`."""
        [pool] = [p for p in self.status()["functions"] if p["function"] == "orders"]
        return {env["az_id"] for env in pool["environments"] if not env["retired"]}

    def health_round(self, size: int = 6) -> list[Reply]:
        """`size` concurrent GET /health requests."""
        with ThreadPoolExecutor(size) as pool:
            return list(pool.map(lambda _: self.request("/health"), range(size)))


def call(
    url: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 15,
) -> Reply:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=timeout
    )
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    started = time.monotonic()
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        return Reply(
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            data,
            time.monotonic() - started,
        )
    finally:
        connection.close()


def wait_for(
    predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.2
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@contextmanager
def environ(**values: str) -> Iterator[None]:
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def metric_sum(
    clients: AwsClients, namespace: str, name: str, dimensions: dict[str, str], stat: str = "Sum"
) -> float:
    """The statistic over the last 10 minutes, through boto3's get_metric_data."""
    now = time.time()
    result = clients.client("cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": "m",
                "MetricStat": {
                    "Metric": {
                        "Namespace": namespace,
                        "MetricName": name,
                        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                    },
                    "Period": 600,
                    "Stat": stat,
                },
            }
        ],
        StartTime=now - 600,
        EndTime=now + 60,
    )
    return float(sum(result["MetricDataResults"][0]["Values"]))


@contextmanager
def live_sandbox(home: Path, **settings: str) -> Iterator[Sandbox]:
    """A sandbox started in its own GAMEDAY_HOME with `settings` in its environment (the
    sandbox process keeps them), stopped when the block ends."""
    with environ(GAMEDAY_HOME=str(home)):
        with environ(**settings):
            state, _ = control.up()
        try:
            yield Sandbox(home, state, state.clients())
        finally:
            control.down()
