"""The stage bucket in Terraform: private, encrypted, TLS only, versioned, expiring by prefix.

Owns the bucket's resources and its notifications to the stage queues (``queues.py`` owns the
queues). Retention is one lifecycle rule per prefix, from the stage's deploy settings;
``backups/`` has no rule, so nothing ever expires a backup.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib import keys
from chalicelib.pipeline.runner import STAGES
from chalicelib.pipeline.triggers import TRIGGERS

if TYPE_CHECKING:
    from deploy.stage import Stage

BUCKET_ID = "${aws_s3_bucket.ingest.id}"
BUCKET_ARN = "${aws_s3_bucket.ingest.arn}"
# Intermediate files: useless once the upload is loaded, kept a few days for re-drives.
WORK_PREFIXES = (keys.CHUNKS, keys.CLEAN, keys.MANIFESTS, keys.LOADS, keys.SPLITS)
# uploads/ holds each upload's state and done markers: small, and the upload listing reads it.
KEPT_PREFIXES = (keys.UPLOADS,)


def _expiring(rule_id: str, prefix: str, days: int | None, noncurrent_days: int) -> dict[str, Any]:
    rule: dict[str, Any] = {
        "id": rule_id,
        "status": "Enabled",
        "filter": [{"prefix": prefix}],
        "noncurrent_version_expiration": [{"noncurrent_days": noncurrent_days}],
    }
    if days is not None:
        rule["expiration"] = [{"days": days}]
    return rule


def lifecycle_rules(stage: Stage) -> list[dict[str, Any]]:
    """One rule per pipeline prefix, and one for unfinished multipart uploads and old markers."""
    s = stage.settings
    nc = s.noncurrent_version_days
    rules = [_expiring(f"work-{p.rstrip('/')}", p, s.work_files_days, nc) for p in WORK_PREFIXES]
    rules.append(_expiring("rejected", keys.REJECTED, s.rejected_days, nc))
    rules.append(_expiring("raw", keys.RAW, s.raw_days, nc))
    rules += [_expiring(f"state-{p.rstrip('/')}", p, None, nc) for p in KEPT_PREFIXES]
    rules.append(
        {
            "id": "incomplete-multipart-and-expired-delete-markers",
            "status": "Enabled",
            "filter": [{"prefix": ""}],
            "abort_incomplete_multipart_upload": [
                {"days_after_initiation": s.incomplete_multipart_days}
            ],
            # A delete marker with no version left behind it: removing it frees nothing but
            # the listing; a backup's versions are untouched.
            "expiration": [{"expired_object_delete_marker": True}],
        }
    )
    return rules


def _tls_only_policy() -> str:
    statement = {
        "Sid": "DenyPlainHttp",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [BUCKET_ARN, f"{BUCKET_ARN}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]})


def _encryption(stage: Stage) -> dict[str, Any]:
    key = stage.settings.kms_key_arn
    default: dict[str, Any] = (
        {"sse_algorithm": "aws:kms", "kms_master_key_id": key}
        if key
        else {"sse_algorithm": "AES256"}
    )
    rule: dict[str, Any] = {"apply_server_side_encryption_by_default": [default]}
    if key:
        rule["bucket_key_enabled"] = True  # one KMS request per object per hour, not per read
    return {"bucket": BUCKET_ID, "rule": [rule]}


def notification(stage: Stage) -> dict[str, Any]:
    """Each trigger's ObjectCreated events to its stage's queue (after the queue lets S3 send)."""
    queues = []
    for trigger in TRIGGERS:
        queue: dict[str, Any] = {
            "id": trigger.filter_id,
            "queue_arn": f"${{aws_sqs_queue.{trigger.stage}.arn}}",
            "events": ["s3:ObjectCreated:*"],
            "filter_prefix": trigger.prefix,
        }
        if trigger.suffix:
            queue["filter_suffix"] = trigger.suffix
        queues.append(queue)
    return {
        "bucket": BUCKET_ID,
        "queue": queues,
        "depends_on": [f"aws_sqs_queue_policy.{s}" for s in STAGES],
    }


def resources(stage: Stage) -> dict[str, Any]:
    """The bucket and everything attached to it."""
    return {
        "aws_s3_bucket": {"ingest": {"bucket": stage.bucket}},
        "aws_s3_bucket_public_access_block": {
            "ingest": {
                "bucket": BUCKET_ID,
                "block_public_acls": True,
                "block_public_policy": True,
                "ignore_public_acls": True,
                "restrict_public_buckets": True,
            }
        },
        "aws_s3_bucket_ownership_controls": {
            "ingest": {"bucket": BUCKET_ID, "rule": [{"object_ownership": "BucketOwnerEnforced"}]}
        },
        "aws_s3_bucket_server_side_encryption_configuration": {"ingest": _encryption(stage)},
        "aws_s3_bucket_versioning": {
            "ingest": {"bucket": BUCKET_ID, "versioning_configuration": [{"status": "Enabled"}]}
        },
        "aws_s3_bucket_lifecycle_configuration": {
            "ingest": {
                "bucket": BUCKET_ID,
                "rule": lifecycle_rules(stage),
                # Rules on an unversioned bucket would act differently on the first day.
                "depends_on": ["aws_s3_bucket_versioning.ingest"],
            }
        },
        "aws_s3_bucket_policy": {
            "ingest": {
                "bucket": BUCKET_ID,
                "policy": _tls_only_policy(),
                "depends_on": ["aws_s3_bucket_public_access_block.ingest"],
            }
        },
        "aws_s3_bucket_notification": {"ingest": notification(stage)},
    }
