"""The sandbox's AWS API: moto in this process, made as strict as AWS where verdicts depend on it.

* Lambda (:mod:`chaos.sandbox.functions.control_plane`): the 4 KB environment limit, immutable
  versions, RevisionId; with realism ``aws`` updates InProgress 2-5 s.
* API Gateway: a stage serves its deployment (snapshots taken at CreateDeployment), and
  GetExport of a stage describes that deployment (:mod:`chaos.sandbox.apigateway.stage_export`).
* Throttling (:mod:`chaos.sandbox.process.throttling`): with realism ``aws`` a share of the
  control-plane calls is throttled, once the sandbox's own seeding is done.
* S3 refuses a request whose ExpectedBucketOwner is not the sandbox's account
  (:func:`expected_bucket_owner`).
* A call that changes what the data plane follows is in force when it returns
  (:class:`FollowWrites`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from chaos.sandbox.apigateway.stage_export import StageExports
from chaos.sandbox.functions.control_plane import LambdaHooks, LambdaUpdates, install
from chaos.sandbox.process.moto_app import (
    FollowWrites,
    SandboxMotoServer,
    expected_bucket_owner,
    serialize_conditional_writes,
)
from chaos.sandbox.process.moto_reader import MotoReader, remember_deployments
from chaos.sandbox.process.throttling import ControlPlaneThrottling, throttle_rate
from chaos.sandbox.realism import Realism
from chaos.sandbox.wsgi import WsgiApp

# The services whose writes change what the data plane follows (functions, aliases,
# subnets and network ACLs, API deployments, web ACLs).
FOLLOWED_SERVICES = frozenset({"lambda", "ec2", "apigateway", "wafv2"})


class ControlPlane:
    """moto's server for one region, with the sandbox's hooks and middlewares."""

    def __init__(
        self, region: str, realism: Realism, port: int = 0, environ: Mapping[str, str] | None = None
    ) -> None:
        self.realism = realism
        self.reader = MotoReader(region)
        self._follow: Callable[[], None] | None = None
        self.updates = (
            LambdaUpdates(
                realism,
                self.reader.stored_function_config,
                on_applied=lambda _name: self._data_plane_follows(),
            )
            if realism.aws
            else None
        )
        if self.updates is not None:
            self.reader.in_progress_config = self.updates.previous_config
        self.throttling = ControlPlaneThrottling(
            throttle_rate(os.environ if environ is None else environ, realism),
            realism.random("throttling"),
        )
        self._server = SandboxMotoServer(
            [
                self.throttling.wrap,
                expected_bucket_owner(self.reader.account_id),
                serialize_conditional_writes,
                self._follow_writes,
                self._stage_exports,
            ],
            ip_address="127.0.0.1",
            port=port,
        )

    def start(self) -> str:
        """Install the hooks and serve; returns the endpoint URL."""
        remember_deployments(self.reader)
        install(LambdaHooks(self.updates))
        self._server.start()
        host, port = self._server.get_host_and_port()
        return f"http://{host}:{port}"

    def follow(self, callback: Callable[[], None]) -> None:
        """``callback`` (the data plane re-reading moto) runs after every followed write."""
        self._follow = callback

    def open_to_clients(self) -> None:
        """Seeding is over: from now on calls may be throttled."""
        self.throttling.enabled = True

    def stop(self) -> None:
        self._server.stop()

    def _follow_writes(self, app: WsgiApp) -> WsgiApp:
        return FollowWrites(app, self._data_plane_follows, FOLLOWED_SERVICES)

    def _stage_exports(self, app: WsgiApp) -> WsgiApp:
        return StageExports(app, self.reader)

    def _data_plane_follows(self) -> None:
        if self._follow is not None:
            self._follow()
