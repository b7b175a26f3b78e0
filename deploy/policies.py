"""Least-privilege IAM roles, one per Lambda function, as template resources.

Owns what each function may do: the bucket prefixes it reads and writes (the table below), its
own log group, its own queue (the API: the dead-letter queues it re-drives), the failed-events
queue for the asynchronously invoked functions, the warehouse credentials if it opens a
connection, the Data API statements it runs and reads, the stage's API key for the deep health
check, network interfaces if it runs in a VPC, and the bucket's KMS key if one is set. Every ARN
is built from the stack's own account, region and resources (``cfn.py``), never written out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib import keys
from chalicelib.pipeline.runner import STAGES
from chalicelib.pipeline.triggers import TRIGGERS
from deploy import queues
from deploy.cfn import PARTITION, REGION, Json, arn, bucket_arn, get_att, ref, sub
from deploy.stage import (
    API_FUNCTION,
    ASYNC_FUNCTIONS,
    STATEMENT_FUNCTION,
    SWEEP_FUNCTION,
    logical_id,
)

if TYPE_CHECKING:
    from deploy.stage import Stage

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
# its multipart parts. Redshift's UNLOAD writes a backup's files; the API writes its record
# (backups/<id>/backup.json) and reads both back.
S3_ACCESS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    API_FUNCTION: ((*EVERY_PREFIX, keys.BACKUPS), (*EVERY_PREFIX, keys.BACKUPS)),
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
# Submits the load's batch statement; the completion function reads it back.
LOAD_FUNCTION = "on_load_requested"
ENI_ACTIONS = [
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
]
# What Lambda's SQS event source needs of the function's role to consume a queue.
CONSUME = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
DATA_API_READS = ["redshift-data:DescribeStatement", "redshift-data:GetStatementResult"]
# The Data API's condition key naming who ran a statement; for a role its value is
# "<role id>:<session name>" (the IAM policy variable aws:userid).
OWNER_KEY = "redshift-data:statement-owner-iam-userid"


def role_id(handler: str) -> str:
    return f"{logical_id(handler)}Role"


def _s3(stage: Stage, handler: str) -> list[Json]:
    reads, writes = S3_ACCESS[handler]
    statements: list[Json] = [
        # Without ListBucket a missing key is a 403, not the 404 that storage.get_json expects.
        {
            "Sid": "ListStageBucket",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn(stage),
        },
        {
            "Sid": "ReadPrefixes",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [bucket_arn(stage, f"/{p}*") for p in reads],
        },
    ]
    if writes:
        statements.append(
            {
                "Sid": "WritePrefixes",
                "Effect": "Allow",
                "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                "Resource": [bucket_arn(stage, f"/{p}*") for p in writes],
            }
        )
    return statements


def _sqs(handler: str) -> list[Json]:
    if handler == API_FUNCTION:
        return [
            {
                "Sid": "ReadDeadLetters",
                "Effect": "Allow",
                "Action": ["sqs:GetQueueUrl", *CONSUME],
                "Resource": [get_att(queues.dead_letter_id(s), "Arn") for s in STAGES],
            },
            {
                "Sid": "RedriveToStageQueues",
                "Effect": "Allow",
                "Action": ["sqs:GetQueueUrl", "sqs:SendMessage"],
                "Resource": [get_att(queues.queue_id(s), "Arn") for s in STAGES],
            },
        ]
    statements: list[Json] = []
    consumed = [t for t in TRIGGERS if t.handler == handler]
    if consumed:
        statements.append(
            {
                "Sid": "ConsumeStageQueue",
                "Effect": "Allow",
                "Action": CONSUME,
                "Resource": get_att(queues.queue_id(consumed[0].stage), "Arn"),
            }
        )
    if handler in ASYNC_FUNCTIONS:
        # Lambda sends a failed asynchronous event to the on-failure destination as the
        # function's role.
        statements.append(
            {
                "Sid": "SendFailedEvents",
                "Effect": "Allow",
                "Action": "sqs:SendMessage",
                "Resource": get_att(queues.FAILED_EVENTS, "Arn"),
            }
        )
    return statements


def _warehouse(stage: Stage) -> list[Json]:
    if stage.auth == "secret":
        return [
            {
                "Sid": "ReadRedshiftSecret",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": ref("RedshiftSecretArn"),
            }
        ]
    if stage.auth != "iam":
        return []  # password auth: a developer's own cluster, nothing to grant
    cluster = stage.env.get("INGEST_REDSHIFT_CLUSTER_ID")
    if cluster:
        return [
            {
                "Sid": "RedshiftTemporaryCredentials",
                "Effect": "Allow",
                "Action": "redshift:GetClusterCredentials",
                "Resource": [
                    arn("redshift", f"dbuser:{cluster}/{stage.env['INGEST_REDSHIFT_USER']}"),
                    arn("redshift", f"dbname:{cluster}/{stage.env['INGEST_REDSHIFT_DATABASE']}"),
                ],
            }
        ]
    return [
        {
            "Sid": "RedshiftServerlessCredentials",
            "Effect": "Allow",
            "Action": "redshift-serverless:GetCredentials",
            # A workgroup's ARN ends in an id that exists only once it does, not in its name.
            "Resource": arn("redshift-serverless", "workgroup/*"),
        }
    ]


def _data_api(stage: Stage, handler: str) -> list[Json]:
    """Run statements on the stage's cluster or workgroup, and read back only one's own (the
    completion function: the load function's too)."""
    cluster = stage.env.get("INGEST_REDSHIFT_CLUSTER_ID")
    target = (
        arn("redshift", f"cluster:{cluster}")
        if cluster
        else arn("redshift-serverless", "workgroup/*")
    )
    statements: list[Json] = [
        {
            "Sid": "RunDataApiStatements",
            "Effect": "Allow",
            "Action": ["redshift-data:ExecuteStatement", "redshift-data:BatchExecuteStatement"],
            "Resource": target,
        },
        {
            # These two take no resource ARN; the condition limits them to this role's
            # statements. Not inside Fn::Sub, so the policy variable reaches IAM as written.
            "Sid": "ReadOwnDataApiStatements",
            "Effect": "Allow",
            "Action": DATA_API_READS,
            "Resource": "*",
            "Condition": {"StringEquals": {OWNER_KEY: "${aws:userid}"}},
        },
    ]
    if handler == STATEMENT_FUNCTION:
        # The batch it finishes was submitted by the load function, under the load's role: its
        # owner is "<load role id>:<session>", which ${aws:userid} of this role never equals.
        statements.append(
            {
                "Sid": "ReadLoadStatements",
                "Effect": "Allow",
                "Action": DATA_API_READS,
                "Resource": "*",
                "Condition": {
                    "StringLike": {OWNER_KEY: sub(f"${{{role_id(LOAD_FUNCTION)}.RoleId}}:*")}
                },
            }
        )
    return statements


def document(stage: Stage, handler: str) -> Json:
    """The policy of one function."""
    group = f"/aws/lambda/{stage.function_name(handler)}"
    statements: list[Json] = [
        {
            # The log group is the template's (alarms.py), with its retention.
            "Sid": "WriteOwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": arn("logs", f"log-group:{group}:*"),
        },
        *_s3(stage, handler),
        *_sqs(handler),
    ]
    if handler in WAREHOUSE_USERS and stage.env.get("INGEST_WAREHOUSE") == "redshift":
        statements += _warehouse(stage)
        if stage.uses_data_api:
            statements += _data_api(stage, handler)
    if handler == API_FUNCTION:
        statements.append(
            {
                # GetApiKey of the stage's own key only: the deep health check compares with it.
                "Sid": "ReadStageApiKey",
                "Effect": "Allow",
                "Action": "apigateway:GET",
                "Resource": sub(f"arn:{PARTITION}:apigateway:{REGION}::/apikeys/${{ApiKey}}"),
            }
        )
    if stage.settings.kms_key_arn:
        statements.append(
            {
                "Sid": "UseBucketKey",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": stage.settings.kms_key_arn,
            }
        )
    if handler in stage.settings.vpc_functions:
        # These EC2 actions take no resource ARN.
        statements.append(
            {"Sid": "LambdaInVpc", "Effect": "Allow", "Action": ENI_ACTIONS, "Resource": "*"}
        )
    return {"Version": "2012-10-17", "Statement": statements}


# Who may take a function's role: the Lambda service, and nobody else.
LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def roles(stage: Stage) -> dict[str, Any]:
    """One role per function, its policy inline."""
    return {
        role_id(handler): {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": LAMBDA_TRUST,
                "Policies": [
                    {"PolicyName": "function", "PolicyDocument": document(stage, handler)}
                ],
            },
        }
        for handler in stage.handlers
    }
