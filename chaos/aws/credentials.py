"""How long the caller's AWS credentials last, and whether they renew themselves.

A game day lasts an hour or more; a restore that runs after the credentials expired
leaves the fault in place. Preflight therefore reports the credentials' lifetime when
botocore knows it, and refuses a run whose credentials expire before the run could
have restored everything — unless they refresh on their own.

botocore names the source of the credentials it resolved (``Credentials.method``).
Sources that mint new credentials when the old ones near expiry: an assumed role
(``role_arn`` + ``source_profile``, web identity), IAM Identity Center (SSO), a
``credential_process``, container and instance roles. Environment credentials with
``AWS_CREDENTIAL_EXPIRATION`` only re-read the same environment: they do not refresh.

Temporary credentials (a session token) whose expiry nobody told us - CI's OIDC role
credentials exported as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN
without AWS_CREDENTIAL_EXPIRATION - do expire (an assumed role's session lasts one hour
by default), but when is unknown: the plan and the run say so as a warning; the run is not
refused, since they may well last long enough.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError, NoCredentialsError
from botocore.utils import parse_timestamp

from chaos.durations import format_duration
from chaos.errors import ConfigurationError, PreflightRefused

__all__ = [
    "REFRESHING_SOURCES",
    "CredentialLifetime",
    "credential_lifetime",
    "is_expired_credentials_error",
    "refuse_short_lived",
]

REFRESHING_SOURCES = frozenset(
    {
        "assume-role",
        "assume-role-with-web-identity",
        "sso",
        "custom-process",
        "container-role",
        "iam-role",
        "login",
    }
)
#: Where an exporter of temporary credentials says when they expire (read by botocore's
#: environment provider too; read here as well for credentials it did not resolve itself).
EXPIRATION_ENV = "AWS_CREDENTIAL_EXPIRATION"
# Error codes AWS answers with when the signing credentials have expired.
_EXPIRED_CODES = frozenset(
    {"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"}
)


@dataclass(frozen=True)
class CredentialLifetime:
    source: str  # botocore's name of where the credentials came from
    expires_at: float | None  # epoch seconds; None when the credentials carry no expiry
    refreshes: bool
    temporary: bool = False  # a session token: they expire, even when nobody says when

    @property
    def expiry_unknown(self) -> bool:
        """Temporary, not renewed, and no known expiry: they may end mid-run."""
        return self.temporary and self.expires_at is None and not self.refreshes

    def remaining_s(self, now: float | None = None) -> float | None:
        if self.expires_at is None:
            return None
        return self.expires_at - (time.time() if now is None else now)

    def describe(self, now: float | None = None) -> str:
        """One line for `gameday plan` and the run's first message."""
        remaining = self.remaining_s(now)
        if self.expiry_unknown:
            return (
                f"! credentials: {self.source}, temporary (a session token) with NO KNOWN "
                f"EXPIRY: if they expire mid-run, the restore fails (set {EXPIRATION_ENV} "
                "when exporting them, or use a profile that renews them)"
            )
        if remaining is None:
            return f"credentials: {self.source}, no expiry"
        until = datetime.fromtimestamp(self.expires_at or 0, timezone.utc).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        renewal = "renewed automatically" if self.refreshes else "NOT renewed automatically"
        left = format_duration(max(0, int(remaining)))
        return f"credentials: {self.source}, valid for {left} (until {until}), {renewal}"


def credential_lifetime(session: Any) -> CredentialLifetime:
    """The lifetime of a boto3 session's credentials; raises ConfigurationError without any."""
    credentials = session.get_credentials()
    if credentials is None:
        raise ConfigurationError("no AWS credentials found (profile, environment, SSO, role)")
    source = str(getattr(credentials, "method", "unknown"))
    expiry = getattr(credentials, "_expiry_time", None)
    expires_at = expiry.timestamp() if isinstance(expiry, datetime) else None
    temporary = bool(getattr(credentials, "token", None))
    if expires_at is None and temporary and source == "env":
        expires_at = _expiration_from_environment()
    return CredentialLifetime(source, expires_at, source in REFRESHING_SOURCES, temporary)


def _expiration_from_environment() -> float | None:
    text = os.environ.get(EXPIRATION_ENV, "").strip()
    if not text:
        return None
    try:
        return parse_timestamp(text).timestamp()
    except (ValueError, TypeError) as error:
        raise ConfigurationError(
            f"{EXPIRATION_ENV}={text!r} is not a timestamp (ISO 8601, "
            f"e.g. 2030-01-01T12:00:00Z): {error}"
        ) from None


def refuse_short_lived(
    lifetime: CredentialLifetime, needed_s: float, now: float | None = None
) -> None:
    """Refuse (PreflightRefused) credentials that expire within `needed_s` and never renew."""
    remaining = lifetime.remaining_s(now)
    if lifetime.refreshes or remaining is None or remaining >= needed_s:
        return
    left = format_duration(max(0, int(remaining)))
    raise PreflightRefused(
        f"the AWS credentials ({lifetime.source}) expire in {left},"
        f" before this run could restore everything ({format_duration(needed_s)}: max_duration "
        "+ expiry_margin); use credentials that renew themselves (a profile with role_arn and "
        "source_profile, SSO, a container or instance role) or fresh ones that last longer"
    )


def is_expired_credentials_error(error: BaseException) -> bool:
    """Whether a failed call failed because the credentials expired (or vanished)."""
    if isinstance(error, NoCredentialsError):
        return True
    if isinstance(error, ClientError):
        return str(error.response.get("Error", {}).get("Code", "")) in _EXPIRED_CODES
    return "refreshed credentials are still expired" in str(error)
