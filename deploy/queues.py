"""The stage queues as template resources: one per stage, each with its dead-letter queue, and
the queue the asynchronously invoked functions' failed events go to.

Owns the queues S3 notifies, their redrive policies (``max_receive_count`` deliveries, then the
dead-letter queue), their visibility timeouts (six times the consuming function's timeout) and
the queue policies that let the stage bucket, and nobody else, send to them. The event source
mappings that feed the functions are Chalice's (``on_sqs_message``); ``template.py`` points
them at these queues.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.pipeline.triggers import STAGE_TRIGGERS
from deploy.cfn import ACCOUNT, Json, bucket_arn, get_att, ref, sub

if TYPE_CHECKING:
    from deploy.stage import Stage

# Four days on a stage queue (SQS's default); the longest SQS allows on a dead-letter queue, to
# leave two weeks for a re-drive.
QUEUE_RETENTION = 4 * 24 * 3600
DEAD_LETTER_RETENTION = 14 * 24 * 3600
FAILED_EVENTS = "FailedEventsQueue"


def queue_id(stage: str) -> str:
    return f"{stage.title()}Queue"


def dead_letter_id(stage: str) -> str:
    return f"{stage.title()}DeadLetterQueue"


def _policy(stage: Stage, name: str) -> Json:
    statements = [
        {
            "Sid": "StageBucketSends",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": get_att(name, "Arn"),
            "Condition": {
                "ArnEquals": {"aws:SourceArn": bucket_arn(stage)},
                "StringEquals": {"aws:SourceAccount": sub(ACCOUNT)},
            },
        },
        {
            "Sid": "DenyPlainHttp",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sqs:*",
            "Resource": get_att(name, "Arn"),
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
    ]
    return {
        "Type": "AWS::SQS::QueuePolicy",
        "Properties": {
            "Queues": [ref(name)],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
        },
    }


def resources(stage: Stage) -> Json:
    """Queues, dead-letter queues and queue policies for every stage, and the failed-events
    queue."""
    found: Json = {
        FAILED_EVENTS: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": stage.failed_events_queue,
                "MessageRetentionPeriod": DEAD_LETTER_RETENTION,
                "SqsManagedSseEnabled": True,
            },
        }
    }
    for trigger in STAGE_TRIGGERS:
        name, dlq = queue_id(trigger.stage), dead_letter_id(trigger.stage)
        found[dlq] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": stage.dead_letter_queue(trigger.stage),
                "MessageRetentionPeriod": DEAD_LETTER_RETENTION,
                "SqsManagedSseEnabled": True,
            },
        }
        found[name] = {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": stage.queue(trigger.stage),
                "VisibilityTimeout": stage.visibility_timeout(trigger.handler),
                "MessageRetentionPeriod": QUEUE_RETENTION,
                "SqsManagedSseEnabled": True,
                "RedrivePolicy": {
                    "deadLetterTargetArn": get_att(dlq, "Arn"),
                    "maxReceiveCount": stage.settings.max_receive_count,
                },
            },
        }
        found[f"{name}Policy"] = _policy(stage, name)
    return found
