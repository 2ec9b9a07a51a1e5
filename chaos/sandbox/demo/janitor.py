"""The sandbox's janitor: deployed at start, through boto3, exactly as `gameday janitor deploy`.

The function's code is the real janitor package (chaos.janitor.package); its journal
location is the sandbox's journal bucket (what `gameday sandbox env` exports as
GAMEDAY_JOURNAL), versioned as docs/janitor.md recommends (an overwritten revision stays
readable, and the janitor reads each one as first written). Its execution environments
reach the sandbox's AWS API through AWS_ENDPOINT_URL, as every sandbox function does.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from chaos.aws.clients import SANDBOX_ACCOUNT_ID
from chaos.janitor.deploy import JanitorDeployment, deploy_janitor
from chaos.journal import JournalLocation
from chaos.sandbox.demo.seed import JOURNAL_PREFIX

if TYPE_CHECKING:
    from chaos.aws import AwsClients

log = logging.getLogger(__name__)


def deploy_sandbox_janitor(clients: AwsClients, journal_bucket: str) -> JanitorDeployment:
    location = JournalLocation.parse(f"s3://{journal_bucket}/{JOURNAL_PREFIX}")
    clients.client("s3").put_bucket_versioning(
        Bucket=journal_bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    return deploy_janitor(clients, SANDBOX_ACCOUNT_ID, location, say=log.info)
