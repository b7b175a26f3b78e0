"""The stage bucket as a template resource: private, encrypted, TLS only, versioned, expiring by
prefix, notifying the stage queues.

Owns the bucket, its policy, its CORS rule (the console's origin only) and its notifications to
the stage queues (``queues.py`` owns the queues). Retention is one lifecycle rule per prefix,
from the stage's deploy settings; ``backups/`` has no rule, so nothing ever expires a backup.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib import console, keys
from chalicelib.pipeline.runner import STAGES
from chalicelib.pipeline.triggers import TRIGGERS
from deploy import parameters, queues
from deploy.cfn import Json, bucket_arn, bucket_name, get_att, ref, sub

if TYPE_CHECKING:
    from deploy.stage import Stage

# Intermediate files: useless once the upload is loaded, kept a few days for re-drives.
WORK_PREFIXES = (keys.CHUNKS, keys.CLEAN, keys.MANIFESTS, keys.LOADS, keys.SPLITS)
# uploads/ holds each upload's state and done markers: small, and the upload listing reads it.
KEPT_PREFIXES = (keys.UPLOADS,)
# The origin the stage's API, and so its console page, is served at (a regional endpoint).
CONSOLE_ORIGIN = "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}"


def _expiring(rule_id: str, prefix: str, days: int | None, noncurrent_days: int) -> Json:
    rule: Json = {
        "Id": rule_id,
        "Status": "Enabled",
        "Prefix": prefix,
        "NoncurrentVersionExpiration": {"NoncurrentDays": noncurrent_days},
    }
    if days is not None:
        rule["ExpirationInDays"] = days
    return rule


def lifecycle_rules(stage: Stage) -> list[Json]:
    """One rule per pipeline prefix, and one for unfinished multipart uploads and old markers."""
    s = stage.settings
    nc = s.noncurrent_version_days
    rules = [_expiring(f"work-{p.rstrip('/')}", p, s.work_files_days, nc) for p in WORK_PREFIXES]
    rules.append(_expiring("rejected", keys.REJECTED, s.rejected_days, nc))
    rules.append(_expiring("raw", keys.RAW, s.raw_days, nc))
    rules += [_expiring(f"state-{p.rstrip('/')}", p, None, nc) for p in KEPT_PREFIXES]
    rules.append(
        {
            "Id": "incomplete-multipart-and-expired-delete-markers",
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": s.incomplete_multipart_days},
            # A delete marker with no version left behind it: removing it frees nothing but
            # the listing; a backup's versions are untouched.
            "ExpiredObjectDeleteMarker": True,
        }
    )
    return rules


def _encryption(stage: Stage) -> Json:
    key = stage.settings.kms_key_arn
    if not key:
        return {"SSEAlgorithm": "AES256"}
    return {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}


def notifications() -> list[Json]:
    """Each trigger's ObjectCreated events to its stage's queue."""
    found = []
    for trigger in TRIGGERS:
        rules = [{"Name": "prefix", "Value": trigger.prefix}]
        if trigger.suffix:
            rules.append({"Name": "suffix", "Value": trigger.suffix})
        found.append(
            {
                "Event": "s3:ObjectCreated:*",
                "Queue": get_att(queues.queue_id(trigger.stage), "Arn"),
                "Filter": {"S3Key": {"Rules": rules}},
            }
        )
    return found


def _cors() -> Json:
    # Browsers on the console's page send files straight to the bucket (presigned POST, part
    # PUTs whose ETag they read) and download rejects files; no other origin may.
    (rule,) = console.cors_rules([CONSOLE_ORIGIN])
    origins: Any = {
        "Fn::If": [
            parameters.HAS_CONSOLE_ORIGINS,
            {
                "Fn::Split": [
                    ",",
                    {
                        "Fn::Join": [
                            ",",
                            [sub(CONSOLE_ORIGIN), {"Fn::Join": [",", ref("ConsoleOrigins")]}],
                        ]
                    },
                ]
            },
            [sub(CONSOLE_ORIGIN)],
        ]
    }
    return {
        "CorsRules": [
            {
                "AllowedOrigins": origins,
                "AllowedMethods": rule["AllowedMethods"],
                "AllowedHeaders": rule["AllowedHeaders"],
                "ExposedHeaders": rule["ExposeHeaders"],
                "MaxAge": rule["MaxAgeSeconds"],
            }
        ]
    }


def resources(stage: Stage) -> Json:
    """The bucket and its policy."""
    encryption: Json = {"ServerSideEncryptionByDefault": _encryption(stage)}
    if stage.settings.kms_key_arn:
        encryption["BucketKeyEnabled"] = True  # one KMS request per object per hour, not per read
    tls_only = {
        "Sid": "DenyPlainHttp",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn(stage), bucket_arn(stage, "/*")],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    return {
        "Bucket": {
            "Type": "AWS::S3::Bucket",
            # The uploads, rejects and backups outlive the stack: deleting it leaves the bucket.
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            # S3 checks it may send to each queue when the notification is set.
            "DependsOn": [f"{queues.queue_id(s)}Policy" for s in STAGES],
            "Properties": {
                "BucketName": sub(bucket_name(stage)),
                "VersioningConfiguration": {"Status": "Enabled"},
                "BucketEncryption": {"ServerSideEncryptionConfiguration": [encryption]},
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "LifecycleConfiguration": {"Rules": lifecycle_rules(stage)},
                "NotificationConfiguration": {"QueueConfigurations": notifications()},
                "CorsConfiguration": _cors(),
            },
        },
        "BucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": ref("Bucket"),
                "PolicyDocument": {"Version": "2012-10-17", "Statement": [tls_only]},
            },
        },
    }
