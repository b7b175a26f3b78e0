"""Terraform for what ``chalice package`` leaves out, and two fixes to what it writes.

Owns ``ingest.tf.json`` next to Chalice's ``chalice.tf.json``: the stage's bucket (private,
encrypted, with CORS rules for the web console's origin only), the API key and usage plan that
``api_key_required`` routes need, and the role Redshift assumes for COPY/UNLOAD, limited to the
prefixes it reads and writes. It also edits
``chalice.tf.json`` in place: lifts Chalice's ``terraform < 1.4.0`` pin, and makes S3
notifications wait for the bucket and the Lambda permissions (Terraform refuses ``depends_on``
in override files, so an override cannot do it). Values come from ``.chalice/config.json``;
nothing here talks to AWS. ``make package`` runs it: ``python -m deploy.terraform --stage dev
--out build/dev``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib import console

CONFIG = Path(__file__).resolve().parent.parent / ".chalice" / "config.json"
# Chalice 1.34 writes required_version ">= 0.12.26, < 1.4.0", which Terraform 1.4+ refuses. The
# providers stay as Chalice pins them (aws >= 3.61, < 5; null < 4): Terraform 1.x runs those.
TERRAFORM_VERSION = ">= 1.0, < 2.0"
# COPY reads the load manifests and cleaned chunks; UNLOAD writes backups, restore reads them.
REDSHIFT_READS = ("manifests/", "clean/", "backups/")
REDSHIFT_WRITES = ("backups/",)


@dataclass(frozen=True)
class Stage:
    """What the extra resources need to know about one Chalice stage."""

    app: str
    name: str
    bucket: str
    redshift_role: str

    @property
    def prefix(self) -> str:
        return f"{self.app}-{self.name}"


def read_stage(config: dict[str, Any], name: str) -> Stage:
    """The stage's bucket and Redshift role name, from its environment variables.

    Raises:
        SystemExit: the stage or one of its settings is missing.
    """
    stage = config.get("stages", {}).get(name)
    if stage is None:
        raise SystemExit(f"no stage {name!r} in .chalice/config.json")
    env = {**config.get("environment_variables", {}), **stage.get("environment_variables", {})}
    bucket, role_arn = env.get("INGEST_BUCKET"), env.get("INGEST_REDSHIFT_IAM_ROLE", "")
    if not bucket or ":role/" not in role_arn:
        raise SystemExit(f"stage {name!r} needs INGEST_BUCKET and INGEST_REDSHIFT_IAM_ROLE")
    return Stage(config["app_name"], name, bucket, role_arn.rsplit("/", 1)[-1])


def _policy(statements: list[dict[str, Any]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def _redshift_role(stage: Stage) -> dict[str, Any]:
    bucket_arn = f"arn:aws:s3:::{stage.bucket}"
    trust: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Principal": {
                "Service": ["redshift.amazonaws.com", "redshift-serverless.amazonaws.com"]
            },
            "Action": "sts:AssumeRole",
        }
    ]
    access: list[dict[str, Any]] = [
        {
            "Sid": "ReadLoadFilesAndBackups",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [f"{bucket_arn}/{p}*" for p in REDSHIFT_READS],
        },
        {
            "Sid": "WriteBackups",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": [f"{bucket_arn}/{p}*" for p in REDSHIFT_WRITES],
        },
        {
            "Sid": "ListThosePrefixes",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": [f"{p}*" for p in REDSHIFT_READS]}},
        },
        {
            "Sid": "FindBucket",
            "Effect": "Allow",
            "Action": "s3:GetBucketLocation",
            "Resource": bucket_arn,
        },
    ]
    return {
        "aws_iam_role": {
            "redshift": {"name": stage.redshift_role, "assume_role_policy": _policy(trust)}
        },
        "aws_iam_role_policy": {
            "redshift": {
                "name": "copy-unload",
                "role": "${aws_iam_role.redshift.id}",
                "policy": _policy(access),
            }
        },
    }


def console_origin() -> str:
    """The origin the stage's API, and so its console page, is served at (a regional endpoint)."""
    return (
        "https://${aws_api_gateway_rest_api.rest_api.id}.execute-api."
        "${data.aws_region.console.name}.amazonaws.com"
    )


def _cors(bucket_id: str) -> dict[str, Any]:
    # Browsers on the console's page send files straight to the bucket (presigned POST, part
    # PUTs whose ETag they read) and download rejected-rows reports; no other origin may.
    (rule,) = console.cors_rules([console_origin()])
    return {
        "bucket": bucket_id,
        "cors_rule": [
            {
                "allowed_origins": rule["AllowedOrigins"],
                "allowed_methods": rule["AllowedMethods"],
                "allowed_headers": rule["AllowedHeaders"],
                "expose_headers": rule["ExposeHeaders"],
                "max_age_seconds": rule["MaxAgeSeconds"],
            }
        ],
    }


def extras(stage: Stage) -> dict[str, Any]:
    """``ingest.tf.json``: the resources a deployed stage needs that Chalice does not create."""
    bucket_id = "${aws_s3_bucket.ingest.id}"
    resources: dict[str, Any] = {
        "aws_s3_bucket": {"ingest": {"bucket": stage.bucket}},
        "aws_s3_bucket_public_access_block": {
            "ingest": {
                "bucket": bucket_id,
                "block_public_acls": True,
                "block_public_policy": True,
                "ignore_public_acls": True,
                "restrict_public_buckets": True,
            }
        },
        "aws_s3_bucket_server_side_encryption_configuration": {
            "ingest": {
                "bucket": bucket_id,
                "rule": [
                    {"apply_server_side_encryption_by_default": [{"sse_algorithm": "AES256"}]}
                ],
            }
        },
        "aws_s3_bucket_cors_configuration": {"ingest": _cors(bucket_id)},
        "aws_api_gateway_api_key": {"ingest": {"name": stage.prefix, "enabled": True}},
        "aws_api_gateway_usage_plan": {
            "ingest": {
                "name": stage.prefix,
                "api_stages": [
                    {
                        "api_id": "${aws_api_gateway_rest_api.rest_api.id}",
                        "stage": "${aws_api_gateway_deployment.rest_api.stage_name}",
                    }
                ],
                "throttle_settings": [{"burst_limit": 50, "rate_limit": 20}],
            }
        },
        "aws_api_gateway_usage_plan_key": {
            "ingest": {
                "key_id": "${aws_api_gateway_api_key.ingest.id}",
                "key_type": "API_KEY",
                "usage_plan_id": "${aws_api_gateway_usage_plan.ingest.id}",
            }
        },
        **_redshift_role(stage),
    }
    outputs = {
        "Bucket": {"value": bucket_id},
        "ApiKeyId": {"value": "${aws_api_gateway_api_key.ingest.id}"},
        "ApiKey": {"value": "${aws_api_gateway_api_key.ingest.value}", "sensitive": True},
        "RedshiftRoleArn": {"value": "${aws_iam_role.redshift.arn}"},
        "ConsoleUrl": {
            "value": f"{console_origin()}/${{aws_api_gateway_deployment.rest_api.stage_name}}/"
        },
    }
    return {"data": {"aws_region": {"console": {}}}, "resource": resources, "output": outputs}


def patch_chalice(chalice_tf: dict[str, Any]) -> dict[str, Any]:
    """``chalice.tf.json`` with the version pin lifted and S3 notifications ordered after the
    bucket and the permissions they need (S3 checks it may invoke each function when the
    notification is set)."""
    patched: dict[str, Any] = copy.deepcopy(chalice_tf)
    patched.setdefault("terraform", {})["required_version"] = TERRAFORM_VERSION
    resources = patched.get("resource", {})
    permissions = [
        f"aws_lambda_permission.{name}"
        for name, spec in sorted(resources.get("aws_lambda_permission", {}).items())
        if spec.get("principal") == "s3.amazonaws.com"
    ]
    for notification in resources.get("aws_s3_bucket_notification", {}).values():
        notification["depends_on"] = ["aws_s3_bucket.ingest", *permissions]
    return patched


def write(stage: Stage, out: Path) -> list[Path]:
    """Write ``ingest.tf.json`` and patch ``chalice.tf.json`` in ``out``; return both paths."""
    chalice_path, extras_path = out / "chalice.tf.json", out / "ingest.tf.json"
    chalice_tf = json.loads(chalice_path.read_text(encoding="utf-8"))
    for path, content in (
        (chalice_path, patch_chalice(chalice_tf)),
        (extras_path, extras(stage)),
    ):
        path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    return [chalice_path, extras_path]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--config", type=Path, default=CONFIG)
    args = parser.parse_args(argv)
    stage = read_stage(json.loads(args.config.read_text(encoding="utf-8")), args.stage)
    for path in write(stage, args.out):
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
