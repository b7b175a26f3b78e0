"""The role Redshift assumes for COPY and UNLOAD, limited to the prefixes it reads and writes.

Owns that role and its policy only; the cluster or workgroup itself is not the template's (it
is created once, docs/deploy.md step 3, and the role is attached to it after the stack).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deploy.cfn import Json, bucket_arn

if TYPE_CHECKING:
    from deploy.stage import Stage

ROLE = "RedshiftRole"
# COPY reads the load manifests and cleaned chunks; UNLOAD writes backups, restore reads them.
REDSHIFT_READS = ("manifests/", "clean/", "backups/")
REDSHIFT_WRITES = ("backups/",)


def resources(stage: Stage) -> Json:
    access: list[Json] = [
        {
            "Sid": "ReadLoadFilesAndBackups",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [bucket_arn(stage, f"/{p}*") for p in REDSHIFT_READS],
        },
        {
            "Sid": "WriteBackups",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": [bucket_arn(stage, f"/{p}*") for p in REDSHIFT_WRITES],
        },
        {
            "Sid": "ListThosePrefixes",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn(stage),
            "Condition": {"StringLike": {"s3:prefix": [f"{p}*" for p in REDSHIFT_READS]}},
        },
        {
            "Sid": "FindBucket",
            "Effect": "Allow",
            "Action": "s3:GetBucketLocation",
            "Resource": bucket_arn(stage),
        },
    ]
    if stage.settings.kms_key_arn:
        access.append(
            {
                "Sid": "UseBucketKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": stage.settings.kms_key_arn,
            }
        )
    trust = {
        "Effect": "Allow",
        "Principal": {"Service": ["redshift.amazonaws.com", "redshift-serverless.amazonaws.com"]},
        "Action": "sts:AssumeRole",
    }
    return {
        ROLE: {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [trust]},
                "Policies": [
                    {
                        "PolicyName": "copy-unload",
                        "PolicyDocument": {"Version": "2012-10-17", "Statement": access},
                    }
                ],
            },
        }
    }
