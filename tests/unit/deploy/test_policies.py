"""Each function's policy, as the template gives it, allows every S3 request its stage makes,
and nothing more is needed: the stages run against moto, each request is checked against the
policy of the function that made it, through redeliveries, interleavings and failures."""

from __future__ import annotations

import fnmatch
from collections import defaultdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from chalicelib import keys
from chalicelib.api import uploads
from chalicelib.pipeline import redrive, state, stuck
from chalicelib.pipeline.redrive import STUCK_AFTER
from chalicelib.pipeline.triggers import TRIGGERS
from deploy import policies
from deploy.cfn import bucket_name
from deploy.stage import read_stage
from tests.reliability.harness import Bus, FaultPlan
from tests.reliability.verdict import fresh_warehouse
from tests.unit.conftest import CONFIG
from tests.unit.deploy.cfn import resolve

if TYPE_CHECKING:
    from chalicelib.config import Settings

STAGE = "prod"
BUCKET = str(resolve({"Fn::Sub": bucket_name(read_stage(CONFIG, STAGE))}))
HANDLER_OF = {t.stage: t.handler for t in TRIGGERS} | {
    "api": "api_handler",
    "sweep": "check_stuck_uploads",
}
DATA = b"1,Dev\n2,Ops\n3,QA\n1,Dev 2\nx,bad\n4,Eng\n5,HR\n"
# The IAM action each S3 operation needs, and the parameter naming its object.
ACTIONS = {
    "GetObject": ("s3:GetObject", "Key"),
    "HeadObject": ("s3:GetObject", "Key"),
    "PutObject": ("s3:PutObject", "Key"),
    "CreateMultipartUpload": ("s3:PutObject", "Key"),
    "UploadPart": ("s3:PutObject", "Key"),
    "CompleteMultipartUpload": ("s3:PutObject", "Key"),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload", "Key"),
    "CopyObject": ("s3:PutObject", "Key"),
    "DeleteObject": ("s3:DeleteObject", "Key"),
    "ListObjectsV2": ("s3:ListBucket", None),
    "ListObjects": ("s3:ListBucket", None),
}


def _policy(handler: str) -> list[dict[str, Any]]:
    """The function's policy as the deployed stack gets it."""
    document = resolve(policies.document(read_stage(CONFIG, STAGE), handler))
    return list(document["Statement"])


def _allows(statements: list[dict[str, Any]], action: str, resource: str) -> bool:
    for statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        resources = (
            statement["Resource"]
            if isinstance(statement["Resource"], list)
            else [statement["Resource"]]
        )
        if action in actions and any(fnmatch.fnmatchcase(resource, r) for r in resources):
            return True
    return False


class Requests:
    """Every S3 request, with the stage running when it was made (``Bus.plan.stage``)."""

    def __init__(self) -> None:
        self.stage = lambda: "-"
        self.made: dict[str, set[tuple[str, str]]] = defaultdict(set)

    def __call__(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "CreateBucket":
            return  # generate_presigned_post builds its form on this model; it sends nothing
        action, key_param = ACTIONS.get(model.name, (f"unexpected {model.name}", None))
        arn = f"arn:aws:s3:::{BUCKET}"
        needed = [(action, f"{arn}/{params[key_param]}" if key_param else arn)]
        if model.name == "CopyObject":
            source = params["CopySource"]
            needed.append(("s3:GetObject", f"{arn}/{source['Key']}"))
        for item in needed:
            self.made[self.stage()].add(item)


@pytest.fixture
def requests(s3: Any) -> Requests:
    recorded = Requests()
    s3.meta.events.register("before-parameter-build.s3.*", recorded)
    return recorded


def _run(s3: Any, settings: Settings, requests: Requests, **knobs: Any) -> Bus:
    requests.stage = lambda: "-"  # setting up the test's warehouse is no function's request
    bus = Bus(s3, fresh_warehouse(s3), settings, **knobs)
    requests.stage = lambda: bus.plan.stage
    return bus


def _api_upload(s3: Any, settings: Settings, requests: Requests, bus: Bus) -> str:
    requests.stage = lambda: "api"
    grant = uploads.create_upload(
        s3, settings, {"table": "jobs", "filename": "jobs.csv", "size": len(DATA)}
    )
    requests.stage = lambda: bus.plan.stage
    bus.put(grant.key, DATA)
    return grant.upload_id


@pytest.mark.slow
def test_every_request_a_stage_makes_is_allowed_to_its_function(
    s3: Any, settings: Settings, requests: Requests
) -> None:
    # A file through the API, one copied straight into raw/, each event delivered twice and
    # in a shuffled, interleaved order.
    bus = _run(s3, settings, requests, copies=2, seed=7, interleave=0.3)
    loaded_id = _api_upload(s3, settings, requests, bus)
    bus.put("raw/jobs/copied.csv", DATA)
    bus.run()
    # Failures: each write point broken in turn (a permanent error marks the upload failed,
    # a transient one is retried), then the API re-drives the failed upload.
    for at in range(1, 40, 3):  # write 0 is the user's own upload
        for kind in ("error", "transient"):
            bus = _run(s3, settings, requests, plan=FaultPlan(at=at, kind=kind))
            upload_id = _api_upload(s3, settings, requests, bus)
            bus.run()
            if state.find(s3, settings.bucket, upload_id).state == "failed":
                requests.stage = lambda: "api"
                redrive.retry_upload(s3, settings, upload_id)
                requests.stage = lambda b=bus: b.plan.stage
                bus.run()
    requests.stage = lambda: "api"
    uploads.listing(s3, settings, "jobs")
    bus = _run(s3, settings, requests)
    stuck_id = _api_upload(s3, settings, requests, bus)
    bus.deliver(bus.pending.pop(0))  # split it; its chunks' events are then lost
    bus.pending.clear()
    requests.stage = lambda: "sweep"
    later = datetime.now(UTC) + STUCK_AFTER
    found = {s.upload_id for s in stuck.find_stuck(s3, settings, later)}
    assert stuck_id in found and loaded_id not in found
    denied = {
        stage: sorted((a, r) for a, r in made if not _allows(_policy(HANDLER_OF[stage]), a, r))
        for stage, made in requests.made.items()
        if stage in HANDLER_OF
    }
    assert {s for s in requests.made if s in HANDLER_OF} == set(HANDLER_OF)
    assert denied == {stage: [] for stage in HANDLER_OF}


def test_the_stage_policies_are_narrower_than_the_apis() -> None:
    api_reads, api_writes = policies.S3_ACCESS["api_handler"]
    for handler in [*(t.handler for t in TRIGGERS), "check_stuck_uploads"]:
        reads, writes = policies.S3_ACCESS[handler]
        assert set(reads) < set(api_reads) and set(writes) < set(api_writes)
        assert keys.BACKUPS not in reads
