"""The pipeline's event handlers: the stage queues, the stuck-upload sweep, the Data API event.

Each handler unwraps its event, takes its clients from ``providers`` and runs one stage through
``pipeline/runner.py``'s retry-or-fail policy; the work lives in ``pipeline/``. This is where the
stages are chained: S3 notifies one queue per stage (``pipeline/triggers.py``), and each queue
invokes its handler with one message at a time, redelivers it after a transient error and
dead-letters it after the last. In Lambda each function imports this module directly (its
handler is ``chalicelib.handlers.<name>``), so it sets up logging itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalice.app import Blueprint, Rate

from chalicelib import keys, logs, providers
from chalicelib.config import event_queue_prefix
from chalicelib.pipeline import (
    budget,
    load,
    load_async,
    split,
    stuck,
    triggers,
    validate,
)
from chalicelib.pipeline.runner import request_id_of, run_stage
from chalicelib.warehouse import uses_data_api

if TYPE_CHECKING:
    from chalice.app import CloudWatchEvent, SQSEvent

    from chalicelib.pipeline.runner import StageEvent

logs.setup()
handlers = Blueprint(__name__)
# Queue names are part of each function's event source, so they are read at import.
QUEUE_PREFIX = event_queue_prefix()


@handlers.on_sqs_message(queue=triggers.queue_name(QUEUE_PREFIX, "split"), batch_size=1)
def on_raw_created(event: SQSEvent) -> None:
    s3, settings = providers.s3(), providers.settings()
    triggers.deliver(
        event.to_dict(),
        "split",
        s3,
        request_id_of(event.context),
        lambda parsed: split.split_upload(
            s3, settings, parsed, budget.budget_for(settings, event.context)
        ),
    )


@handlers.on_sqs_message(queue=triggers.queue_name(QUEUE_PREFIX, "validate"), batch_size=1)
def on_chunk_created(event: SQSEvent) -> None:
    s3, settings = providers.s3(), providers.settings()
    triggers.deliver(
        event.to_dict(),
        "validate",
        s3,
        request_id_of(event.context),
        lambda parsed: validate.validate_chunk(s3, settings, parsed),
    )


@handlers.on_sqs_message(queue=triggers.queue_name(QUEUE_PREFIX, "load"), batch_size=1)
def on_load_requested(event: SQSEvent) -> None:
    triggers.deliver(event.to_dict(), "load", providers.s3(), request_id_of(event.context), _load)


def _load(parsed: StageEvent) -> load.LoadResult:
    """The load over the Data API (a batch that may outlast this invocation) when the settings
    choose it, else in one transaction on the connection."""
    s3, settings = providers.s3(), providers.settings()
    if uses_data_api(settings):
        providers.statements()  # the tables exist before the first load
        return load_async.load_upload(s3, providers.data_api(), settings, parsed)
    return load.load_upload(s3, providers.warehouse, settings, parsed)


# A Data API load finishes when its batch ends (docs/data-api.md); the rule matches only the
# statements this service names.
@handlers.on_cw_event(
    {
        "source": ["aws.redshift-data"],
        "detail-type": ["Redshift Data Statement Status Change"],
        "detail": {"statementName": [{"prefix": load_async.STATEMENT_PREFIX}]},
    }
)
def on_load_statement_changed(event: CloudWatchEvent) -> None:
    found = load_async.statement_of(event.detail)
    if found is None:
        return
    table, upload_id, statement_id = found
    s3, settings = providers.s3(), providers.settings()
    run_stage(
        "load",
        s3,
        settings.bucket,
        keys.load_key(table, upload_id),
        request_id_of(event.context),
        lambda parsed: load_async.on_statement_event(
            s3, providers.data_api(), settings, parsed, statement_id
        ),
    )


# Logs uploads stuck in processing (the deployed alarm counts them), and asks again about Data
# API loads whose completion event may have been lost (EventBridge delivers at best effort).
@handlers.schedule(Rate(5, unit=Rate.MINUTES))
def check_stuck_uploads(event: CloudWatchEvent) -> None:
    s3, settings = providers.s3(), providers.settings()
    processing = stuck.recent_processing(s3, settings.bucket)
    stuck.find_stuck(s3, settings, processing=processing)
    if uses_data_api(settings):
        load_async.recheck_waiting(s3, settings, processing)
