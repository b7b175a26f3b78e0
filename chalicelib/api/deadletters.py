"""The stages' dead-letter queues: how many messages each holds, and sending them back.

Owns reading each stage's dead-letter queue and moving its messages back to the stage's queue,
so the stage's handler runs them again; every stage is idempotent, so a message that already did
its work does nothing twice. It does not work out which stage an upload still needs
(``redrive.py`` does that from S3).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from chalicelib.errors import InvalidRequestError
from chalicelib.pipeline.runner import (  # noqa: TC001 (the OpenAPI generator reads Stage)
    STAGES,
    Stage,
)
from chalicelib.pipeline.triggers import dead_letter_queue_name, queue_name

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

    from chalicelib.config import Settings

logger = logging.getLogger(__name__)
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# SQS hands out at most 10 messages per receive.
_BATCH = 10


@dataclass(frozen=True)
class DeadLetters:
    """One stage's dead-letter queue and how many messages it holds (SQS's approximation)."""

    stage: Stage
    queue: str
    dead_letter_queue: str
    messages: int


@dataclass(frozen=True)
class DeadLetterList:
    """Every stage's dead-letter queue, in stage order."""

    queues: tuple[DeadLetters, ...]


@dataclass(frozen=True)
class Redriven:
    """How many messages a re-drive moved back, per stage."""

    moved: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.moved.values())


def _url(sqs: SQSClient, name: str) -> str:
    return sqs.get_queue_url(QueueName=name)["QueueUrl"]


def listing(sqs: SQSClient, settings: Settings) -> DeadLetterList:
    """Each stage's dead-letter queue and its depth."""
    found = []
    for stage in STAGES:
        name = dead_letter_queue_name(settings.queue_prefix, stage)
        attrs = sqs.get_queue_attributes(
            QueueUrl=_url(sqs, name),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        depth = sum(int(v) for v in attrs.values())
        found.append(DeadLetters(stage, queue_name(settings.queue_prefix, stage), name, depth))
    return DeadLetterList(tuple(found))


def _parse(body: Any) -> tuple[tuple[str, ...], int]:
    body = {} if body is None else body
    if not isinstance(body, dict):
        raise InvalidRequestError("body must be a JSON object")
    stage = body.get("stage", "all")
    if stage != "all" and stage not in STAGES:
        raise InvalidRequestError(f"stage must be one of {', '.join(STAGES)} or all, got {stage!r}")
    limit = body.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequestError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {limit!r}")
    return (STAGES if stage == "all" else (stage,)), limit


def redrive(sqs: SQSClient, settings: Settings, body: Any) -> Redriven:
    """Move up to ``limit`` messages of one stage's (or every stage's) dead-letter queue back.

    Each message is sent to the stage's queue before it is deleted from the dead-letter queue,
    so a failure in between leaves a copy in both rather than in neither.

    Raises:
        InvalidRequestError: unknown stage or a bad limit.
    """
    stages, limit = _parse(body)
    moved: dict[str, int] = {}
    for stage in stages:
        moved[stage] = _move(
            sqs,
            _url(sqs, dead_letter_queue_name(settings.queue_prefix, stage)),
            _url(sqs, queue_name(settings.queue_prefix, stage)),
            limit,
        )
        if moved[stage]:
            logger.info("redrive.dead_letters_moved", extra={"stage": stage, "moved": moved[stage]})
    return Redriven(moved)


def _move(sqs: SQSClient, source_url: str, target_url: str, limit: int) -> int:
    moved = 0
    while moved < limit:
        reply = sqs.receive_message(
            QueueUrl=source_url,
            MaxNumberOfMessages=min(_BATCH, limit - moved),
            WaitTimeSeconds=1,
            VisibilityTimeout=60,
        )
        messages = reply.get("Messages", [])
        if not messages:
            return moved
        for message in messages:
            sqs.send_message(QueueUrl=target_url, MessageBody=message["Body"])
            sqs.delete_message(QueueUrl=source_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return moved
