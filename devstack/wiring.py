"""What the local stack creates in the emulator at each start, as the deployed stack's template
creates it in AWS: the bucket, its CORS rules and notifications, one queue per stage with its
dead-letter queue, and one function per stage fed by its queue.

Every call is idempotent, so a restart on the same data folder finds the bucket and the queues
it kept and only re-applies their settings. The functions, their role and their event source
mappings are wiring, not data: the stack drops them with the emulator's other state at each
start (``prune_state``) and creates them here again, pointed at this run's ``FunctionHost``.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib import console
from chalicelib.config import LOCAL_QUEUE_PREFIX
from chalicelib.pipeline.triggers import (
    STAGE_TRIGGERS,
    TRIGGERS,
    dead_letter_queue_name,
    queue_name,
)
from deploy.policies import LAMBDA_TRUST
from devstack.settings import LOCAL_BUCKET

if TYPE_CHECKING:
    from pathlib import Path

    from devstack.emulator import Emulator
    from devstack.functions import FunctionHost
    from devstack.settings import LocalStackSettings

ROLE = f"{LOCAL_QUEUE_PREFIX}-functions"
# The emulator's state files that hold data; every other one is wiring, made again at start.
KEPT_STATE = frozenset({"s3.json", "sqs.json"})
# The code the emulator would run, were the function not forwarded to the stack's process: it
# says where the handlers are instead of pretending to be them.
_STUB = (
    "def handler(event, context):\n"
    "    raise RuntimeError('this function runs in the local stack, reached by the proxy URL')\n"
)


@dataclass(frozen=True)
class Queue:
    """A stage's queue and the function it feeds."""

    handler: str
    url: str
    arn: str


def prune_state(state_dir: Path) -> None:
    """Drop the emulator's saved wiring (functions, mappings, roles, logs), keep its data."""
    if state_dir.is_dir():
        for path in state_dir.glob("*.json"):
            if path.name not in KEPT_STATE:
                path.unlink()


def function_name(handler: str) -> str:
    return f"{LOCAL_QUEUE_PREFIX}-{handler}"


def _ignore(client: Any, *codes: str) -> Any:
    """A context that swallows the named errors of ``client`` (resource already there)."""
    from contextlib import suppress

    return suppress(*(getattr(client.exceptions, code) for code in codes))


def wire(
    emulator: Emulator,
    settings: LocalStackSettings,
    host: FunctionHost,
    console_origins: list[str],
) -> dict[str, Queue]:
    """Create or update everything; returns each stage's queue."""
    s3, sqs = emulator.client("s3"), emulator.client("sqs")
    with _ignore(s3, "BucketAlreadyOwnedByYou"):
        s3.create_bucket(Bucket=LOCAL_BUCKET)
    # The console's page sends files straight to the bucket: only its origin may, as in AWS.
    s3.put_bucket_cors(
        Bucket=LOCAL_BUCKET,
        CORSConfiguration={"CORSRules": console.cors_rules(console_origins)},
    )
    queues: dict[str, Queue] = {
        t.stage: _queue(sqs, t.stage, t.handler, settings) for t in STAGE_TRIGGERS
    }
    _notify(s3, queues)
    role = _role(emulator.client("iam"), queues)
    functions = emulator.client("lambda")
    for queue in queues.values():
        _function(functions, queue, role, host, settings)
    return queues


def _queue(sqs: Any, stage: str, handler: str, settings: LocalStackSettings) -> Queue:
    """The stage's queue: S3 may send to it, it dead-letters after ``max_receives`` deliveries,
    and a message in flight stays hidden for the function's timeout (AWS requires at least
    that of a queue feeding a function)."""
    dlq_url = sqs.create_queue(QueueName=dead_letter_queue_name(LOCAL_QUEUE_PREFIX, stage))
    url = sqs.create_queue(QueueName=queue_name(LOCAL_QUEUE_PREFIX, stage))["QueueUrl"]
    arn, dlq_arn = _arn(sqs, url), _arn(sqs, dlq_url["QueueUrl"])
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(settings.max_receives)}
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": f"arn:aws:s3:::{LOCAL_BUCKET}"}},
            }
        ],
    }
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "VisibilityTimeout": str(settings.function_timeout),
            "RedrivePolicy": json.dumps(redrive),
            "Policy": json.dumps(policy),
        },
    )
    return Queue(handler, url, arn)


def _arn(sqs: Any, url: str) -> str:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attrs["QueueArn"])


def _notify(s3: Any, queues: dict[str, Queue]) -> None:
    configs: list[Any] = []
    for trigger in TRIGGERS:
        rules = [{"Name": "prefix", "Value": trigger.prefix}]
        if trigger.suffix:
            rules.append({"Name": "suffix", "Value": trigger.suffix})
        configs.append(
            {
                "Id": trigger.filter_id,
                "QueueArn": queues[trigger.stage].arn,
                "Events": ["s3:ObjectCreated:*"],
                "Filter": {"Key": {"FilterRules": rules}},
            }
        )
    s3.put_bucket_notification_configuration(
        Bucket=LOCAL_BUCKET, NotificationConfiguration={"QueueConfigurations": configs}
    )


def _role(iam: Any, queues: dict[str, Queue]) -> str:
    """The functions' execution role: what Lambda's SQS event source needs of the queues."""
    with _ignore(iam, "EntityAlreadyExistsException"):
        iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST))
    actions = [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
    ]
    iam.put_role_policy(
        RoleName=ROLE,
        PolicyName="stage-queues",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": actions,
                        "Resource": sorted(q.arn for q in queues.values()),
                    }
                ],
            }
        ),
    )
    return str(iam.get_role(RoleName=ROLE)["Role"]["Arn"])


def _stub_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("stub.py", _STUB)
    return buffer.getvalue()


def _function(
    functions: Any, queue: Queue, role: str, host: FunctionHost, settings: LocalStackSettings
) -> None:
    """The stage's function, forwarded to ``host`` (the emulator's proxy mode), and the event
    source that feeds it one message at a time, up to ``workers`` at once."""
    name = function_name(queue.handler)
    config = {
        "Role": role,
        "Timeout": settings.function_timeout,
        "Environment": {"Variables": {"MINISTACK_LAMBDA_PROXY_URL": host.url_for(queue.handler)}},
    }
    try:
        functions.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Handler="stub.handler",
            Code={"ZipFile": _stub_zip()},
            **config,
        )
    except functions.exceptions.ResourceConflictException:
        functions.update_function_configuration(FunctionName=name, **config)
    mapped = functions.list_event_source_mappings(FunctionName=name, EventSourceArn=queue.arn)
    if mapped["EventSourceMappings"]:
        return
    functions.create_event_source_mapping(
        FunctionName=name,
        EventSourceArn=queue.arn,
        BatchSize=1,
        # Lambda's floor for an SQS event source's maximum concurrency is 2.
        ScalingConfig={"MaximumConcurrency": max(2, settings.workers)},
    )


def pause(emulator: Emulator, queues: dict[str, Queue]) -> None:
    """Stop the event sources taking messages (those in flight finish; the rest stay queued)."""
    functions = emulator.client("lambda")
    for queue in queues.values():
        mapped = functions.list_event_source_mappings(
            FunctionName=function_name(queue.handler), EventSourceArn=queue.arn
        )
        for mapping in mapped["EventSourceMappings"]:
            functions.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
