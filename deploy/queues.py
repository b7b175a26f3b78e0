"""The stage queues in Terraform: one per stage, each with its dead-letter queue.

Owns the queues S3 notifies, their redrive policies (``max_receive_count`` deliveries, then the
dead-letter queue), their visibility timeouts (six times the consuming function's timeout) and
the queue policies that let the stage bucket, and nobody else, send to them. The event source
mappings that feed the functions are Chalice's (``on_sqs_message``); ``terraform.py`` ties
them to these queues.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from chalicelib.pipeline.triggers import STAGE_TRIGGERS

if TYPE_CHECKING:
    from deploy.stage import Stage

# Four days on a stage queue (SQS's default); the longest SQS allows on a dead-letter queue, to
# leave two weeks for a re-drive.
QUEUE_RETENTION = 4 * 24 * 3600
DEAD_LETTER_RETENTION = 14 * 24 * 3600


def _queue_policy(stage: Stage, name: str) -> str:
    queue_arn = f"${{aws_sqs_queue.{name}.arn}}"
    statements = [
        {
            "Sid": "StageBucketSends",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": queue_arn,
            "Condition": {
                "ArnEquals": {"aws:SourceArn": stage.bucket_arn},
                "StringEquals": {"aws:SourceAccount": stage.account},
            },
        },
        {
            "Sid": "DenyPlainHttp",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": queue_arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


def resources(stage: Stage) -> dict[str, Any]:
    """Queues, dead-letter queues and queue policies for every stage."""
    queues: dict[str, Any] = {}
    policies: dict[str, Any] = {}
    for trigger in STAGE_TRIGGERS:
        name, dlq = trigger.stage, f"{trigger.stage}_dlq"
        queues[dlq] = {
            "name": stage.dead_letter_queue(trigger.stage),
            "message_retention_seconds": DEAD_LETTER_RETENTION,
            "sqs_managed_sse_enabled": True,
        }
        redrive = {
            "deadLetterTargetArn": f"${{aws_sqs_queue.{dlq}.arn}}",
            "maxReceiveCount": stage.settings.max_receive_count,
        }
        queues[name] = {
            "name": stage.queue(trigger.stage),
            "visibility_timeout_seconds": stage.visibility_timeout(trigger.handler),
            "message_retention_seconds": QUEUE_RETENTION,
            "sqs_managed_sse_enabled": True,
            "redrive_policy": json.dumps(redrive),
        }
        policies[name] = {
            "queue_url": f"${{aws_sqs_queue.{name}.id}}",
            "policy": _queue_policy(stage, name),
        }
    return {"aws_sqs_queue": queues, "aws_sqs_queue_policy": policies}
