"""The IAM statements of a journal location: what writes and reads its revisions.

One place for the runner's policy (`gameday iam-policy --journal`, which `status` and
`rollback --journal` use too) and the janitor's execution role (chaos.janitor.policy).
S3 authorizes ListObjectsV2 as ``s3:ListBucket``, ListObjectVersions as
``s3:ListBucketVersions`` and a GetObject naming a VersionId as ``s3:GetObjectVersion``
("Actions, resources, and condition keys for Amazon S3", https://docs.aws.amazon.com/
service-authorization/latest/reference/list_amazons3.html); ``s3:prefix`` limits both
listings to the location.
"""

from __future__ import annotations

from chaos.journal.s3 import JournalLocation
from chaos.policy import PolicyStatement

__all__ = ["revision_statements", "version_statements"]


def bucket_arn(location: JournalLocation, partition: str) -> str:
    return f"arn:{partition}:s3:::{location.bucket}"


def revision_statements(location: JournalLocation, partition: str) -> list[PolicyStatement]:
    """Writing revisions (``If-None-Match: *``) and reading the current ones."""
    bucket = bucket_arn(location, partition)
    return [
        PolicyStatement(
            "JournalRevisions", ("s3:PutObject", "s3:GetObject"), (f"{bucket}/{location.prefix}*",)
        ),
        PolicyStatement(
            "JournalListing",
            ("s3:ListBucket",),
            (bucket,),
            (("StringLike", "s3:prefix", f"{location.prefix}*"),),
        ),
    ]


def version_statements(location: JournalLocation, partition: str) -> list[PolicyStatement]:
    """Reading each revision as first written, on a versioned bucket: a restorer that can
    list the versions sees a revision overwritten or deleted, and uses its first version
    (chaos.journal.s3.S3JournalStore.history); without them it reads the current objects,
    blind to an overwrite."""
    bucket = bucket_arn(location, partition)
    return [
        PolicyStatement(
            "JournalVersionListing",
            ("s3:ListBucketVersions",),
            (bucket,),
            (("StringLike", "s3:prefix", f"{location.prefix}*"),),
        ),
        PolicyStatement(
            "JournalRevisionVersions", ("s3:GetObjectVersion",), (f"{bucket}/{location.prefix}*",)
        ),
    ]
