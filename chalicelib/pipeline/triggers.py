"""Which S3 objects start which stage, and how their notifications reach the stage's handler.

Owns the trigger table (prefix and suffix per stage, as the bucket notification filters them),
the queue names each stage reads and dead-letters to, and unwrapping an SQS message into the S3
records it carries. S3 sends each notification to its stage's queue; the queue invokes the
handler, which calls ``deliver``. It runs no stage itself (``events.run_stage`` does).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from chalicelib import keys
from chalicelib.errors import EventFormatError
from chalicelib.pipeline.runner import STAGES, Stage, StageEvent, run_stage

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Trigger:
    """The objects whose creation starts ``stage``, and the handler that runs it."""

    handler: str
    stage: Stage
    prefix: str
    suffix: str = ""

    def matches(self, key: str) -> bool:
        return key.startswith(self.prefix) and key.endswith(self.suffix)

    @property
    def filter_id(self) -> str:
        """A name for this trigger's bucket notification, unique among the triggers."""
        return f"{self.handler}-{self.prefix.strip('/')}"


# One or more per stage; the first of a stage names its queue and handler (STAGE_TRIGGERS).
TRIGGERS: tuple[Trigger, ...] = (
    Trigger("on_raw_created", "split", keys.RAW),
    # A split that ran out of time hands the rest of its planning on (pipeline/split_ranges.py).
    Trigger("on_raw_created", "split", keys.SPLITS, ".json"),
    Trigger("on_chunk_created", "validate", keys.CHUNKS, ".rec"),
    Trigger("on_load_requested", "load", keys.LOADS, ".json"),
)
# The trigger that names each stage's queue and handler, in the stages' order.
STAGE_TRIGGERS: tuple[Trigger, ...] = tuple(
    next(t for t in TRIGGERS if t.stage == stage) for stage in STAGES
)


def trigger_of(stage: str) -> Trigger:
    """The trigger that names ``stage``'s queue and handler.

    Raises:
        KeyError: no such stage.
    """
    for trigger in STAGE_TRIGGERS:
        if trigger.stage == stage:
            return trigger
    raise KeyError(stage)


def starts(stage: str, key: str) -> bool:
    """True if an object at ``key`` is one of ``stage``'s triggers."""
    return any(t.stage == stage and t.matches(key) for t in TRIGGERS)


def queue_name(prefix: str, stage: str) -> str:
    """The queue S3 notifies for ``stage`` (``<prefix>-<stage>``)."""
    return f"{prefix}-{stage}"


def dead_letter_queue_name(prefix: str, stage: str) -> str:
    """Where the stage's queue moves a message that failed every delivery."""
    return f"{prefix}-{stage}-dlq"


@dataclass(frozen=True)
class S3Object:
    """One ObjectCreated record: the bucket and the key, already unquoted."""

    bucket: str
    key: str


def s3_objects(body: str) -> list[S3Object]:
    """The objects an S3 notification (an SQS message body) names; none for ``s3:TestEvent``.

    Raises:
        EventFormatError: the body is not an S3 notification.
    """
    try:
        notification = json.loads(body)
        if not isinstance(notification, dict):
            raise TypeError("not an object")
        if notification.get("Event") == "s3:TestEvent":
            return []  # S3 sends this once when the notification is set up
        return [
            S3Object(record["s3"]["bucket"]["name"], unquote_plus(record["s3"]["object"]["key"]))
            for record in notification["Records"]
        ]
    except (ValueError, TypeError, KeyError) as exc:
        raise EventFormatError(
            f"message body is not an S3 notification ({type(exc).__name__}: {exc})"
        ) from None


def deliver(
    event: dict[str, Any],
    stage: Stage,
    s3: S3Client,
    request_id: str | None,
    work: Callable[[StageEvent], object],
) -> int:
    """Run ``work`` through ``run_stage`` on each matching object of an SQS event.

    A transient error propagates, so the message returns to the queue and is delivered again;
    after the queue's maxReceiveCount deliveries it moves to the dead-letter queue. Returns how
    many objects were handed to the stage.

    Raises:
        EventFormatError: a message is not an S3 notification (it ends in the dead-letter queue).
    """
    handled = 0
    for message in event.get("Records", []):
        for obj in s3_objects(str(message.get("body", ""))):
            if not starts(stage, obj.key):
                # The bucket notification filters by the same prefix and suffix; a key that
                # gets here anyway is someone else's and is left alone.
                logger.warning(f"{stage}.ignored", extra={"key": obj.key})
                continue
            run_stage(stage, s3, obj.bucket, obj.key, request_id, work)
            handled += 1
    return handled
