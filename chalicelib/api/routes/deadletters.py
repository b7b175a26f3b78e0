"""Routes of the stages' dead-letter queues: what they hold, and sending it back."""

from __future__ import annotations

from chalicelib import providers
from chalicelib.api import bodies
from chalicelib.api.deadletters import DeadLetterList, Redriven, listing, redrive
from chalicelib.api.routing import Operation, Reply, Routes

routes = Routes(__name__)


@routes.get(
    "/api/v1/dead-letters",
    Operation(
        "Messages in each stage's dead-letter queue",
        Reply(200, DeadLetterList, "One entry per stage"),
        (),
    ),
)
def list_dead_letters() -> DeadLetterList:
    return listing(providers.sqs(), providers.settings())


@routes.post(
    "/api/v1/dead-letters/redrive",
    Operation(
        "Send dead letters back to their stage's queue, to be handled again",
        Reply(200, Redriven, "Messages moved, per stage"),
        body="RedriveRequest",
    ),
)
def redrive_dead_letters() -> Redriven:
    body = bodies.any_json_body(routes.request)
    return redrive(providers.sqs(), providers.settings(), body)
