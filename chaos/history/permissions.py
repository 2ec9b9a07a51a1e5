"""What a run needs to keep its history beside the S3 journal (for `gameday iam-policy`)."""

from __future__ import annotations

from chaos.history.store import history_location
from chaos.journal import JournalLocation
from chaos.journal.permissions import bucket_arn
from chaos.policy import PolicyStatement

__all__ = ["history_permissions"]


def history_permissions(journal: JournalLocation, partition: str) -> list[PolicyStatement]:
    """Writing a run's record (``If-None-Match: *``) and reading the experiment's records
    under the history prefix beside the journals (never the journals' own prefix)."""
    location = history_location(journal)
    bucket = bucket_arn(JournalLocation(location.bucket, location.prefix), partition)
    return [
        PolicyStatement(
            "HistoryRecords", ("s3:PutObject", "s3:GetObject"), (f"{bucket}/{location.prefix}*",)
        ),
        PolicyStatement(
            "HistoryListing",
            ("s3:ListBucket",),
            (bucket,),
            (("StringLike", "s3:prefix", f"{location.prefix}*"),),
        ),
    ]
