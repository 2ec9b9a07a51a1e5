"""Which AWS (or sandbox) a run talks to, and the guardrails on it."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from chaos.aws import AwsClients
from chaos.aws.credentials import CredentialLifetime
from chaos.errors import PreflightRefused
from chaos.metrics.settle import AWS_LAGS, CloudWatchLag
from chaos.sandbox.process import control as sandbox_control
from chaos.sandbox.process.control import SandboxState


@dataclass
class ResolvedTarget:
    clients: AwsClients
    sandbox: bool
    account_id: str | None
    api_endpoint: str | None
    # The sandbox's seeded service (function_arn, rest_api_id, ...); empty for AWS.
    sandbox_service: dict[str, Any] = field(default_factory=dict)
    credentials: CredentialLifetime | None = None  # None in the sandbox
    cloudwatch_lag: CloudWatchLag = AWS_LAGS
    # The sandbox this command started (stopped by close), never one it found running.
    started_sandbox: SandboxState | None = None

    def restore_clients(self) -> AwsClients:
        """Clients for a restore: in AWS, credentials resolved again from their source."""
        return self.clients if self.sandbox else self.clients.refreshed()

    def close(self) -> None:
        """Stop the sandbox if this run started it."""
        if self.started_sandbox is not None:
            sandbox_control.down(self.started_sandbox)


def resolve_target(
    region: str,
    account_id: str | None,
    endpoint: str | None,
    *,
    sandbox: bool,
    profile: str | None,
    start_sandbox: bool = True,
    require_account: bool = True,
) -> ResolvedTarget:
    """Connect to the target and check the caller's account (the sandbox excepted).

    `require_account=False` is for read-only commands that name no account (az-map).
    With the sandbox: the running one (this directory's, or the one the pointer under the
    user's home names), else one started for this command, said in one line on stderr,
    and stopped when the command ends.
    """
    if sandbox or endpoint == "sandbox":
        state = sandbox_control.read_state()
        started = False
        if state is None:
            if not start_sandbox:
                raise PreflightRefused("no sandbox is running (start one: gameday sandbox up)")
            state, started = sandbox_control.up()
            if started:
                print(
                    f"gameday: no sandbox running: started one for this command (pid "
                    f"{state.pid}), stopped when it ends (`gameday sandbox up` keeps one)",
                    file=sys.stderr,
                )
        try:
            clients = state.clients()
            return ResolvedTarget(
                clients,
                True,
                clients.caller_account_id(),
                state.api_endpoint,
                dict(state.service),
                cloudwatch_lag=CloudWatchLag.from_seconds(state.cloudwatch_lag_s),
                started_sandbox=state if started else None,
            )
        except BaseException:
            if started:
                sandbox_control.down(state)
            raise
    clients = AwsClients(region=region, profile=profile)
    if not account_id:
        if not require_account:
            return ResolvedTarget(clients, False, None, endpoint)
        raise PreflightRefused("target.account_id is required outside the sandbox")
    caller = clients.caller_account_id()
    if caller != account_id:
        raise PreflightRefused(
            f"the credentials are for account {caller}, the experiment "
            f"targets {account_id}: refusing"
        )
    return ResolvedTarget(
        clients, False, caller, endpoint, credentials=clients.credential_lifetime()
    )
