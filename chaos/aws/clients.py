"""Boto3 clients for one target (region, optional profile, optional endpoint)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chaos.aws.credentials import CredentialLifetime, credential_lifetime
from chaos.aws.rate_limit import pace_lambda
from chaos.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

# moto's fixed account: the sandbox is the only target allowed to skip the account check.
SANDBOX_ACCOUNT_ID = "123456789012"

_CLIENT_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 8},
    connect_timeout=5,
    read_timeout=30,
    user_agent_extra="chaos-gameday",
)


@dataclass
class AwsClients:
    """Lazily created clients, shared by every thread; `endpoint_url` points at the sandbox.

    Each thread has its own boto3 Session: "Similar to Resource objects, Session objects are
    not thread safe and should not be shared across threads and processes. It's recommended
    to create a new Session object for each thread" (boto3 guide, Session, "Multithreading
    or multiprocessing with sessions", https://boto3.amazonaws.com/v1/documentation/api/
    latest/guide/session.html; boto/boto3#2750), while a client, once created, may be
    shared ("Multithreading or multiprocessing with clients", same guide, clients.html).
    A client is created under a lock, from the creating thread's own session.
    """

    region: str
    endpoint_url: str | None = None
    profile: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    _sessions: threading.local = field(default_factory=threading.local, repr=False, compare=False)
    _creating: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def session(self) -> boto3.Session:
        """This thread's session (made on first use)."""
        session: boto3.Session | None = getattr(self._sessions, "session", None)
        if session is None:
            session = self._sessions.session = self._new_session()
        return session

    def _new_session(self) -> boto3.Session:
        try:
            if self.endpoint_url:
                return boto3.Session(
                    aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
                    aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
                    region_name=self.region,
                )
            return boto3.Session(profile_name=self.profile, region_name=self.region)
        except BotoCoreError as error:
            raise ConfigurationError(f"AWS session: {error}") from error

    def client(self, service: str) -> Any:
        cached = self._cache.get(service)
        if cached is not None:
            return cached
        with self._creating:
            if service not in self._cache:
                created = self.session.client(
                    service,  # type: ignore[call-overload]
                    region_name=self.region,
                    endpoint_url=self.endpoint_url,
                    config=_CLIENT_CONFIG,
                )
                self._cache[service] = pace_lambda(created) if service == "lambda" else created
            return self._cache[service]

    @property
    def lambda_(self) -> LambdaClient:
        client: LambdaClient = self.client("lambda")
        return client

    def refreshed(self) -> AwsClients:
        """New clients on a new session: credentials resolved again from their source.

        Taken before every restore, so that credentials renewed outside this process
        (a refreshed credentials file, a new SSO login) are used.
        """
        return AwsClients(region=self.region, endpoint_url=self.endpoint_url, profile=self.profile)

    def credential_lifetime(self) -> CredentialLifetime:
        return credential_lifetime(self.session)

    def caller_account_id(self) -> str:
        try:
            return str(self.client("sts").get_caller_identity()["Account"])
        except (BotoCoreError, ClientError) as error:
            raise ConfigurationError(f"cannot identify the AWS caller (sts): {error}") from error


def error_code(error: ClientError) -> str:
    """The AWS error code of a ClientError ('' when absent)."""
    return str(error.response.get("Error", {}).get("Code", ""))
