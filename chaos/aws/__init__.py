"""AWS access: one session per run, clients with retries, waiters and backoff."""

from chaos.aws.clients import SANDBOX_ACCOUNT_ID, AwsClients
from chaos.aws.retry import call_with_backoff

__all__ = ["AwsClients", "SANDBOX_ACCOUNT_ID", "call_with_backoff"]
