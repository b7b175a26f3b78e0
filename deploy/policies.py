"""Least-privilege IAM policies, one per Lambda function, written to ``.chalice/``.

Owns what each function may do: the bucket prefixes it reads and writes (the table below), its
own log group, its own queue (the API: the dead-letter queues it re-drives), the warehouse
credentials if it opens a connection, network interfaces if it runs in a VPC, and the bucket's
KMS key if one is set. Chalice attaches ``policy-<stage>-<function>.json`` to the function's
role; ``python -m deploy.policies`` rewrites them from ``.chalice/config.json``, and
tests/unit/test_deploy_iam.py checks the committed files are what this module writes.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from chalicelib import keys
from chalicelib.pipeline.runner import STAGES
from chalicelib.pipeline.triggers import TRIGGERS
from deploy.stage import API_FUNCTION, STATEMENT_FUNCTION, SWEEP_FUNCTION, Stage, read_stage

CHALICE_DIR = Path(__file__).resolve().parent.parent / ".chalice"
EVERY_PREFIX = (
    keys.RAW,
    keys.CHUNKS,
    keys.CLEAN,
    keys.REJECTED,
    keys.UPLOADS,
    keys.MANIFESTS,
    keys.LOADS,
    keys.SPLITS,
)
# (reads, writes) per function. A read is GetObject (and HeadObject); a write is PutObject with
# its multipart parts. The API reads backups/ (Redshift's UNLOAD writes them, not the API).
S3_ACCESS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    API_FUNCTION: ((*EVERY_PREFIX, keys.BACKUPS), EVERY_PREFIX),
    # The split also reads and writes its own hand-offs (splits/).
    "on_raw_created": (
        (keys.RAW, keys.UPLOADS, keys.SPLITS),
        (keys.CHUNKS, keys.MANIFESTS, keys.UPLOADS, keys.LOADS, keys.SPLITS),
    ),
    # A chunk is a byte range of the raw file (pipeline/chunks.py), read where it is.
    "on_chunk_created": (
        (keys.CHUNKS, keys.UPLOADS, keys.RAW),
        (keys.CLEAN, keys.REJECTED, keys.UPLOADS, keys.LOADS),
    ),
    # The load reads the chunks back (from the raw file) for the source lines of the rows it
    # reports as superseded; on the Data API it re-queues itself by rewriting its trigger (loads/).
    "on_load_requested": (
        (keys.UPLOADS, keys.CHUNKS, keys.RAW, keys.CLEAN, keys.MANIFESTS, keys.REJECTED),
        (keys.MANIFESTS, keys.REJECTED, keys.UPLOADS, keys.LOADS),
    ),
    # Finishes a Data API load: the same files as the load.
    STATEMENT_FUNCTION: (
        (keys.UPLOADS, keys.CHUNKS, keys.RAW, keys.CLEAN, keys.MANIFESTS, keys.REJECTED),
        (keys.MANIFESTS, keys.REJECTED, keys.UPLOADS, keys.LOADS),
    ),
    # Reads upload states; the rest of its look at progress is listing.
    SWEEP_FUNCTION: ((keys.UPLOADS,), ()),
}
# The functions that connect to the warehouse (or run statements through the Data API).
WAREHOUSE_USERS = (API_FUNCTION, "on_load_requested", STATEMENT_FUNCTION)
ENI_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]
# What Lambda's SQS event source needs of the function's role to consume a queue.
CONSUME = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
_REGION_IN_HOST = re.compile(r"\.([a-z]{2}(?:-[a-z]+)+-[0-9])\.redshift(?:-serverless)?\.")


def policy_file(stage: str, handler: str) -> str:
    return f"policy-{stage}-{handler}.json"


def _s3(stage: Stage, handler: str) -> list[dict[str, Any]]:
    reads, writes = S3_ACCESS[handler]
    arn = stage.bucket_arn
    statements: list[dict[str, Any]] = [
        # Without ListBucket a missing key is a 403, not the 404 that storage.get_json expects.
        {"Sid": "ListStageBucket", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": arn},
        {
            "Sid": "ReadPrefixes",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [f"{arn}/{p}*" for p in reads],
        },
    ]
    if writes:
        statements.append(
            {
                "Sid": "WritePrefixes",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": [f"{arn}/{p}*" for p in writes],
            }
        )
    return statements


def _sqs(stage: Stage, handler: str) -> list[dict[str, Any]]:
    def arn(name: str) -> str:
        return f"arn:aws:sqs:*:{stage.account}:{name}"

    if handler == API_FUNCTION:
        return [
            {
                "Sid": "ReadDeadLetters",
                "Effect": "Allow",
                "Action": ["sqs:GetQueueUrl", *CONSUME],
                "Resource": [arn(stage.dead_letter_queue(s)) for s in STAGES],
            },
            {
                "Sid": "RedriveToStageQueues",
                "Effect": "Allow",
                "Action": ["sqs:GetQueueUrl", "sqs:SendMessage"],
                "Resource": [arn(stage.queue(s)) for s in STAGES],
            },
        ]
    consumed = [t for t in TRIGGERS if t.handler == handler]
    if not consumed:
        return []  # the sweep reads no queue
    trigger = consumed[0]
    return [
        {
            "Sid": "ConsumeStageQueue",
            "Effect": "Allow",
            "Action": CONSUME,
            "Resource": arn(stage.queue(trigger.stage)),
        }
    ]


def _region(env: dict[str, str]) -> str:
    found = _REGION_IN_HOST.search(env.get("INGEST_REDSHIFT_HOST", ""))
    return env.get("INGEST_REDSHIFT_REGION") or (found.group(1) if found else "*")


def _warehouse(stage: Stage, env: dict[str, str]) -> list[dict[str, Any]]:
    auth = env.get("INGEST_REDSHIFT_AUTH", "password")
    if auth == "secret":
        # A secret's ARN ends in six random characters after its name.
        secret = re.sub(r"-[A-Za-z0-9]{6}$", "-??????", env["INGEST_REDSHIFT_SECRET_ARN"])
        return [
            {
                "Sid": "ReadRedshiftSecret",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": secret,
            }
        ]
    if auth != "iam":
        return []  # password auth: a developer's own cluster, nothing to grant
    region = _region(env)
    cluster = env.get("INGEST_REDSHIFT_CLUSTER_ID")
    if cluster:
        base = f"arn:aws:redshift:{region}:{stage.account}"
        return [
            {
                "Sid": "RedshiftTemporaryCredentials",
                "Effect": "Allow",
                "Action": "redshift:GetClusterCredentials",
                "Resource": [
                    f"{base}:dbuser:{cluster}/{env['INGEST_REDSHIFT_USER']}",
                    f"{base}:dbname:{cluster}/{env['INGEST_REDSHIFT_DATABASE']}",
                ],
            }
        ]
    return [
        {
            "Sid": "RedshiftServerlessCredentials",
            "Effect": "Allow",
            "Action": "redshift-serverless:GetCredentials",
            # A workgroup's ARN ends in an id that exists only once it does: replace the * with
            # the ARN of workgroup INGEST_REDSHIFT_WORKGROUP when it is known.
            "Resource": f"arn:aws:redshift-serverless:{region}:{stage.account}:workgroup/*",
        }
    ]


def _data_api(stage: Stage, env: dict[str, str]) -> list[dict[str, Any]]:
    """Run statements on the stage's cluster or workgroup, and read back only one's own."""
    region = _region(env)
    cluster = env.get("INGEST_REDSHIFT_CLUSTER_ID")
    target = (
        f"arn:aws:redshift:{region}:{stage.account}:cluster:{cluster}"
        if cluster
        else f"arn:aws:redshift-serverless:{region}:{stage.account}:workgroup/*"
    )
    return [
        {
            "Sid": "RunDataApiStatements",
            "Effect": "Allow",
            "Action": ["redshift-data:ExecuteStatement", "redshift-data:BatchExecuteStatement"],
            "Resource": target,
        },
        {
            # These two take no resource ARN; the condition limits them to this role's statements.
            "Sid": "ReadOwnDataApiStatements",
            "Effect": "Allow",
            "Action": ["redshift-data:DescribeStatement", "redshift-data:GetStatementResult"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}
            },
        },
    ]


def document(
    stage: Stage, handler: str, env: dict[str, str], in_vpc: bool = False
) -> dict[str, Any]:
    """The policy of one function."""
    logs = f"arn:aws:logs:*:{stage.account}:log-group:/aws/lambda/{stage.function_name(handler)}"
    statements: list[dict[str, Any]] = [
        {
            # The log group is Terraform's (deploy/alarms.py), with its retention.
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{logs}:*",
        },
        *_s3(stage, handler),
        *_sqs(stage, handler),
    ]
    if handler in WAREHOUSE_USERS:
        statements += _warehouse(stage, env)
        if env.get("INGEST_REDSHIFT_API") == "data":
            statements += _data_api(stage, env)
    if stage.settings.kms_key_arn:
        statements.append(
            {
                "Sid": "UseBucketKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": stage.settings.kms_key_arn,
            }
        )
    if in_vpc:
        # These EC2 actions take no resource ARN.
        statements.append(
            {"Sid": "LambdaInVpc", "Effect": "Allow", "Action": ENI_ACTIONS, "Resource": "*"}
        )
    return {"Version": "2012-10-17", "Statement": statements}


def documents(config: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    """Every function's policy for stage ``name``, by file name."""
    stage = read_stage(config, name)
    raw = config["stages"][name]
    env = {**config.get("environment_variables", {}), **raw.get("environment_variables", {})}
    functions = raw.get("lambda_functions", {})
    return {
        policy_file(name, handler): document(
            stage, handler, env, in_vpc="subnet_ids" in functions.get(handler, {})
        )
        for handler in stage.handlers
    }


def render(policy: dict[str, Any]) -> str:
    return json.dumps(policy, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--config", type=Path, default=CHALICE_DIR / "config.json")
    args = parser.parse_args(argv)
    config = json.loads(args.config.read_text(encoding="utf-8"))
    for name in sorted(config["stages"]):
        for file_name, policy in documents(config, name).items():
            path = args.config.parent / file_name
            path.write_text(render(policy), encoding="utf-8")
            sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
