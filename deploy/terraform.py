"""Terraform for what ``chalice package`` leaves out, and the fixes to what it writes.

Owns ``ingest.tf.json`` next to Chalice's ``chalice.tf.json``: the stage's bucket (``bucket.py``;
its CORS rules admit the web console's origin only), its queues and dead-letter queues
(``queues.py``), log groups, alarms and their topic (``alarms.py``), the API key and usage plan that
``api_key_required`` routes need, and the role Redshift assumes for COPY/UNLOAD, limited to the
prefixes it reads and writes. It also edits ``chalice.tf.json`` in place (Terraform refuses
``depends_on`` in override files): ties each event source mapping to its queue and caps the validate
function's concurrency, makes each function wait for its log group, and moves the ``terraform``
block, with a newer version pin, to ``versions.tf``. Values come from ``.chalice/config.json``
(``stage.py``); nothing here talks to AWS. ``make package`` runs it: ``python -m deploy.terraform
--stage dev --out build/dev``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

from chalicelib.pipeline.triggers import STAGE_TRIGGERS, TRIGGERS
from deploy import alarms, bucket, queues
from deploy.stage import Stage, read_stage

__all__ = ["Stage", "extras", "main", "patch_chalice", "read_stage", "versions_tf", "write"]
from chalicelib import console

CONFIG = Path(__file__).resolve().parent.parent / ".chalice" / "config.json"
# Chalice 1.34 writes required_version ">= 0.12.26, < 1.4.0", which Terraform 1.4+ refuses, and
# aws ">= 3.61.0, < 5"; the SQS event source's scaling_config needs aws 4.51 or later.
TERRAFORM_VERSION = ">= 1.0, < 2.0"
AWS_PROVIDER_VERSION = ">= 4.51, < 5"
CAPPED_HANDLER = "on_chunk_created"
# COPY reads the load manifests and cleaned chunks; UNLOAD writes backups, restore reads them.
REDSHIFT_READS = ("manifests/", "clean/", "backups/")
REDSHIFT_WRITES = ("backups/",)


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
    if stage.settings.kms_key_arn:
        access.append(
            {
                "Sid": "UseBucketKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": stage.settings.kms_key_arn,
            }
        )
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
    resources: dict[str, Any] = {
        **bucket.resources(stage),
        **queues.resources(stage),
        **alarms.resources(stage),
        "aws_s3_bucket_cors_configuration": {"ingest": _cors(bucket.BUCKET_ID)},
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
        "Bucket": {"value": bucket.BUCKET_ID},
        "ApiKeyId": {"value": "${aws_api_gateway_api_key.ingest.id}"},
        "ApiKey": {"value": "${aws_api_gateway_api_key.ingest.value}", "sensitive": True},
        "RedshiftRoleArn": {"value": "${aws_iam_role.redshift.arn}"},
        "AlarmTopicArn": {"value": alarms.TOPIC_ARN},
        **{
            f"{t.stage.capitalize()}DeadLetterQueueUrl": {
                "value": f"${{aws_sqs_queue.{t.stage}_dlq.id}}"
            }
            for t in STAGE_TRIGGERS
        },
        "ConsoleUrl": {
            "value": f"{console_origin()}/${{aws_api_gateway_deployment.rest_api.stage_name}}/"
        },
    }
    return {"data": {"aws_region": {"console": {}}}, "resource": resources, "output": outputs}


def patch_chalice(
    chalice_tf: dict[str, Any], stage: Stage
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``chalice.tf.json`` tied to the extra resources, and the ``terraform`` block moved out.

    Chalice names each queue in its event source mapping's ARN as a string, so Terraform would
    not know to create the queue first; each function waits for its log group, or Lambda could
    create the group first, without retention. The ``terraform`` block goes to ``versions.tf``
    (returned second) because checkov cannot parse it in JSON form.
    """
    patched: dict[str, Any] = copy.deepcopy(chalice_tf)
    settings = patched.pop("terraform", {})
    settings["required_version"] = TERRAFORM_VERSION
    providers = settings.setdefault("required_providers", {})
    providers.setdefault("aws", {})["version"] = AWS_PROVIDER_VERSION
    for provider in providers:
        providers[provider].setdefault("source", f"hashicorp/{provider}")
    resources = patched.get("resource", {})
    for name, function in resources.get("aws_lambda_function", {}).items():
        function["depends_on"] = [f"aws_cloudwatch_log_group.{name}"]
        if stage.settings.kms_key_arn:
            function["kms_key_arn"] = stage.settings.kms_key_arn  # its environment variables
    for api in resources.get("aws_api_gateway_rest_api", {}).values():
        # A replaced API is up before the old one goes, so the stage URL never answers 404s.
        api["lifecycle"] = {"create_before_destroy": True}
    mappings = resources.get("aws_lambda_event_source_mapping", {})
    policies = [f"aws_iam_role_policy.{name}" for name in resources.get("aws_iam_role_policy", {})]
    for trigger in TRIGGERS:
        for name, mapping in mappings.items():
            if mapping.get("function_name") == f"${{aws_lambda_function.{trigger.handler}.arn}}":
                # Lambda checks the role may read the queue when the mapping is created.
                mapping["depends_on"] = [
                    f"aws_sqs_queue.{trigger.stage}",
                    *(
                        p
                        for p in policies
                        if p.startswith(f"aws_iam_role_policy.{trigger.handler}")
                    ),
                ]
                if trigger.handler == CAPPED_HANDLER:
                    cap = stage.settings.validate_max_concurrency
                    mapping["scaling_config"] = {"maximum_concurrency": cap}
                    mappings[name] = mapping
    return patched, settings


def versions_tf(settings: dict[str, Any]) -> str:
    """The ``terraform`` block in HCL, laid out as ``terraform fmt`` lays it out."""
    lines = ["terraform {", f"  required_version = {json.dumps(settings['required_version'])}"]
    providers = settings.get("required_providers", {})
    if providers:
        lines += ["", "  required_providers {"]
        for name in sorted(providers):
            attrs = providers[name]
            width = max(len(k) for k in attrs)
            lines.append(f"    {name} = {{")
            lines += [f"      {k.ljust(width)} = {json.dumps(attrs[k])}" for k in sorted(attrs)]
            lines.append("    }")
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def write(stage: Stage, out: Path) -> list[Path]:
    """Write ``ingest.tf.json`` and ``versions.tf``, patch ``chalice.tf.json``; return the paths."""
    chalice_path, extras_path = out / "chalice.tf.json", out / "ingest.tf.json"
    versions_path = out / "versions.tf"
    chalice_tf = json.loads(chalice_path.read_text(encoding="utf-8"))
    patched, settings = patch_chalice(chalice_tf, stage)
    for path, content in ((chalice_path, patched), (extras_path, extras(stage))):
        path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    if "terraform" in chalice_tf:  # not when run twice over a patched file: keep the first
        versions_path.write_text(versions_tf(settings), encoding="utf-8")
    return [chalice_path, extras_path, versions_path]  # already patched: nothing to redo
    patched, settings = patch_chalice(chalice_tf, stage)
    for path, content in ((chalice_path, patched), (extras_path, extras(stage))):
        path.write_text(json.dumps(content, indent=2) + "\n", encoding="utf-8")
    versions_path.write_text(versions_tf(settings), encoding="utf-8")
    return [chalice_path, extras_path, versions_path]


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
