"""The packaged dev stage deployed into the AWS emulator with IAM enforced, driven as a user would.

One deployment for the module (``conftest.py``); the tests run in order and build on each other:
keys refused, three ways into raw/ loaded through the deployed functions (their logs carry the
upload id), status, rejects, reports, backup and restore through the deployed API, a write
outside a function's prefixes denied, a poisoned load event dead-lettered then re-driven, a
COPY the warehouse rejects, and the metric filters run over the lines the functions wrote.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import redshift_connector
import requests
from botocore.exceptions import ClientError

from chalicelib.tables import get_table
from deploy.alarms import LOG_METRICS
from deploy.stage import STATEMENT_FUNCTION, SWEEP_FUNCTION
from devstack.client import ApiClient
from devstack.redshift_local import DATABASE, USER
from devstack.sample import write_samples

if TYPE_CHECKING:
    from devstack.deployed import DeployedStack

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "csv-ingest-dev"
SPLIT, VALIDATE, LOAD = "on_raw_created", "on_chunk_created", "on_load_requested"
FIGURES: dict[str, Any] = {}
UPLOADS: dict[str, str] = {}
# CloudWatch Logs' JSON filter pattern for one string field: { $.field = "value" } (Amazon
# CloudWatch Logs User Guide, "Filter pattern syntax for metric filters, subscription filters,
# filter log events, and Live Tail": "Using filter patterns to match terms in JSON log events").
JSON_EQUALS = re.compile(r'^\{\s*\$\.([A-Za-z0-9_]+)\s*=\s*"([^"*]*)"\s*\}$')


def function(handler: str) -> str:
    return PREFIX if handler == "api_handler" else f"{PREFIX}-{handler}"


def api(stack: DeployedStack) -> ApiClient:
    assert stack.deployment is not None
    return ApiClient(stack.deployment.api_url, stack.deployment.api_key)


def log_lines(stack: DeployedStack, handler: str) -> list[str]:
    """Every line the function wrote to its CloudWatch Logs group."""
    assert stack.emulator is not None
    logs = stack.emulator.client("logs")
    group = f"/aws/lambda/{function(handler)}"
    lines: list[str] = []
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
        lines += [e["message"] for e in page["events"]]
    return lines


def records(lines: list[str]) -> list[dict[str, Any]]:
    found = []
    for line in lines:
        for part in line.splitlines():
            if part.startswith("{"):
                try:
                    found.append(json.loads(part))
                except ValueError:
                    continue
    return found


def matches(pattern: str, line: str) -> bool:
    """Whether CloudWatch Logs' JSON filter ``pattern`` (the one form the template uses)
    selects log event ``line``: a JSON object whose field equals the string exactly."""
    parsed = JSON_EQUALS.match(pattern)
    assert parsed is not None, f"not a pattern this check reads: {pattern}"
    try:
        event = json.loads(line)
    except ValueError:
        return False
    return isinstance(event, dict) and event.get(parsed.group(1)) == parsed.group(2)


def wait_until(check: Any, timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached in {timeout:.0f} s")
        time.sleep(0.2)


def engine(stack: DeployedStack) -> Any:
    """A connection to the local Redshift engine behind the stack (the warehouse's operator)."""
    assert stack.redshift is not None
    con = redshift_connector.connect(
        host="127.0.0.1",
        port=stack.redshift.port,
        database=DATABASE,
        user=USER,
        password=stack.redshift.password,
        ssl=False,
    )
    con.autocommit = True
    return con


def test_the_packaged_template_becomes_a_stack_with_every_resource(
    deployed: DeployedStack,
) -> None:
    assert deployed.emulator is not None and deployed.deployment is not None
    cfn = deployed.emulator.client("cloudformation")
    resources = cfn.describe_stack_resources(StackName=deployed.deployment.stack)
    kinds = [r["ResourceType"] for r in resources["StackResources"]]
    assert all(r["ResourceStatus"] == "CREATE_COMPLETE" for r in resources["StackResources"])
    assert kinds.count("AWS::Lambda::Function") == 6
    assert kinds.count("AWS::SQS::Queue") == 7  # three stages, their dead letters, failed events
    assert {"AWS::S3::Bucket", "AWS::ApiGateway::ApiKey", "AWS::Logs::MetricFilter"} <= set(kinds)
    functions = deployed.emulator.client("lambda")
    role = functions.get_function(FunctionName=function(VALIDATE))["Configuration"]["Role"]
    assert "OnChunkCreatedRole" in role  # its own role, not a shared one
    FIGURES["stack_resources"] = len(kinds)
    # docs/deploy.md states the count and the bundle's size: both from a run like this one.
    doc = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    assert f"the stack is created with `RedshiftSecretArn` ({len(kinds)} resources)" in doc
    stated = float(re.search(r"Python 3\.11: ([0-9.]+) MB zipped", doc).group(1))  # type: ignore[union-attr]
    size = (deployed.build / "deployment.zip").stat().st_size / 1e6
    FIGURES["bundle_mb"] = round(size, 1)
    assert abs(size - stated) <= stated / 10, (size, stated)
    FIGURES["stack_create_seconds"] = round(deployed.deployment.create_seconds, 2)
    FIGURES.update({k: round(v, 2) for k, v in deployed.timings.items()})
    assert deployed.deployment.create_seconds < 30


def test_a_missing_or_wrong_key_is_refused_and_deep_health_takes_the_stages_key(
    deployed: DeployedStack,
) -> None:
    assert deployed.deployment is not None
    url, key = deployed.deployment.api_url, deployed.deployment.api_key
    assert requests.get(f"{url}/api/v1/uploads", timeout=30).status_code == 403
    wrong = {"x-api-key": "not-the-key"}
    assert requests.get(f"{url}/api/v1/uploads", headers=wrong, timeout=30).status_code == 403
    right = {"x-api-key": key}
    assert requests.get(f"{url}/api/v1/uploads", headers=right, timeout=30).status_code == 200
    assert requests.get(f"{url}/api/v1/health", timeout=30).json() == {"status": "ok"}
    deep = f"{url}/api/v1/health?deep=true"
    assert requests.get(deep, timeout=30).status_code == 401
    assert requests.get(deep, headers=wrong, timeout=30).status_code == 403
    reply = requests.get(deep, headers=right, timeout=30)
    assert reply.status_code == 200, reply.text
    health = reply.json()
    assert health["status"] == "ok" and health["s3"] == "ok"
    assert health["warehouse"] == {"engine": "redshift", "api": "data", "status": "ok"}


def test_presigned_post_form_upload_and_s3_copy_reach_loaded(
    deployed: DeployedStack, tmp_path: Path
) -> None:
    assert deployed.emulator is not None and deployed.deployment is not None
    client = api(deployed)
    files = write_samples(tmp_path / "input", hires=300)
    started = time.monotonic()
    UPLOADS["departments"] = client.upload("departments", files.departments)
    loaded = client.wait(UPLOADS["departments"], timeout=60)
    FIGURES["presigned_post_to_loaded_seconds"] = round(time.monotonic() - started, 2)
    assert loaded["state"] == "loaded", loaded
    assert loaded["rows_valid"] == 12

    body = files.jobs.read_bytes()
    reply = requests.post(
        f"{deployed.deployment.api_url}/api/v1/upload_jobs",
        headers={"x-api-key": deployed.deployment.api_key},
        files={"file": ("jobs.csv", body, "text/csv")},
        timeout=30,
    )
    assert reply.status_code == 202, reply.text
    accepted = reply.json()
    UPLOADS["jobs"] = accepted["upload_id"]
    # The status URL the reply names is one a client can follow as it is.
    followed = requests.get(
        accepted["status_url"], headers={"x-api-key": deployed.deployment.api_key}, timeout=30
    )
    assert followed.status_code == 200, accepted["status_url"]
    assert client.wait(UPLOADS["jobs"], timeout=60)["state"] == "loaded"

    s3 = deployed.emulator.client("s3")  # as `aws s3 cp hired_employees.csv s3://<bucket>/raw/...`
    started = time.monotonic()
    s3.upload_file(
        str(files.hired_employees), deployed.deployment.bucket, "raw/hired_employees/h.csv"
    )

    def listed() -> str | None:
        uploads = client._call("GET", "/api/v1/uploads", params={"table": "hired_employees"})
        return next((u["upload_id"] for u in uploads["uploads"]), None)

    UPLOADS["hired_employees"] = wait_until(listed, what="the copied file's upload")
    hired = client.wait(UPLOADS["hired_employees"], timeout=60)
    FIGURES["s3_copy_to_loaded_seconds"] = round(time.monotonic() - started, 2)
    assert hired["state"] == "loaded", hired
    assert hired["rows_rejected"] > 0 and hired["rows_valid"] > 250

    rejects = requests.get(hired["rejected_url"], timeout=30)
    assert rejects.status_code == 200
    rejected = [json.loads(line) for line in rejects.text.splitlines()]
    assert len(rejected) == hired["rows_rejected"]
    assert all(r["row"] > 0 and r["errors"] for r in rejected)

    report = client.report("hires-by-quarter", 2021)
    assert report["rows"], report

    logged = {
        h: records(log_lines(deployed, h)) for h in (SPLIT, VALIDATE, LOAD, STATEMENT_FUNCTION)
    }
    finished_by: dict[str, list[str]] = {}
    for upload_id in UPLOADS.values():
        for handler in (SPLIT, VALIDATE, LOAD):
            assert any(r.get("upload_id") == upload_id for r in logged[handler]), (
                handler,
                upload_id,
            )
        # A Data API load is finished by whichever learns first that its batch ended: the load
        # function's one look right after submitting, or the completion function on the event.
        finishers = [
            h
            for h in (LOAD, STATEMENT_FUNCTION)
            if any(
                r.get("upload_id") == upload_id and r.get("event") == "load.completed"
                for r in logged[h]
            )
        ]
        assert len(finishers) == 1, (upload_id, finishers)
        finished_by.setdefault(finishers[0], []).append(upload_id)
    assert STATEMENT_FUNCTION in finished_by, finished_by
    FIGURES["loads_finished_by"] = {h: len(ids) for h, ids in finished_by.items()}


def test_backup_and_restore_through_the_deployed_api(deployed: DeployedStack) -> None:
    client = api(deployed)
    made = client._call("POST", "/api/v1/backups", json={"table": "jobs"})
    jobs = made["tables"]["jobs"]
    assert jobs["rows"] > 0 and jobs["location"].endswith(f"/backups/{made['backup_id']}/jobs/")
    listed = client._call("GET", "/api/v1/backups")
    assert made["backup_id"] in {b["backup_id"] for b in listed["backups"]}
    restored = client._call(
        "POST", "/api/v1/restores", json={"backup_id": made["backup_id"], "table": "jobs"}
    )
    assert restored["rows_restored"] == jobs["rows"]


def _function_credentials(handler: str) -> dict[str, str]:
    """The credentials the emulator handed the running function's process (its role's)."""
    wanted = function(handler).encode()
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            raw = environ.read_bytes()
        except OSError:
            continue
        pairs = dict(item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
        if pairs.get(b"AWS_LAMBDA_FUNCTION_NAME") == wanted and b"AWS_SESSION_TOKEN" in pairs:
            return {
                "key": pairs[b"AWS_ACCESS_KEY_ID"].decode(),
                "secret": pairs[b"AWS_SECRET_ACCESS_KEY"].decode(),
                "token": pairs[b"AWS_SESSION_TOKEN"].decode(),
            }
    pytest.skip(f"no running process of {function(handler)} to read credentials from")


def test_a_function_cannot_write_outside_its_prefixes(deployed: DeployedStack) -> None:
    assert deployed.emulator is not None and deployed.deployment is not None
    credentials = _function_credentials(VALIDATE)
    who = deployed.emulator.client("sts", **credentials).get_caller_identity()
    assert ":assumed-role/" in who["Arn"] and "OnChunkCreatedRole" in who["Arn"]
    s3 = deployed.emulator.client("s3", **credentials)
    bucket = deployed.deployment.bucket
    s3.put_object(Bucket=bucket, Key="clean/probe/allowed.csv", Body=b"1\n")  # its own prefix
    for key in ("manifests/probe.json", "backups/probe.parquet", "raw/jobs/probe.csv"):
        with pytest.raises(ClientError) as refused:
            s3.put_object(Bucket=bucket, Key=key, Body=b"{}")
        assert refused.value.response["Error"]["Code"] == "AccessDenied", key


def test_a_poisoned_load_event_is_dead_lettered_then_re_driven_to_loaded(
    deployed: DeployedStack, tmp_path: Path
) -> None:
    assert deployed.emulator is not None and deployed.redshift is not None
    client = api(deployed)
    sqs = deployed.emulator.client("sqs")
    queue = sqs.get_queue_url(QueueName=f"{PREFIX}-load")["QueueUrl"]
    deployed_visibility = sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["VisibilityTimeout"]
    )["Attributes"]["VisibilityTimeout"]
    # The deployed visibility (six times the load's 900 s) would space the redeliveries 90
    # minutes apart; the number of deliveries before the dead-letter queue is what is tested.
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": "1"})
    data_api = deployed.redshift.data_api
    assert data_api is not None
    port = data_api.server_address[1]
    data_api.stop()  # the warehouse's Data API unreachable: every load delivery fails
    deployed.redshift.data_api = None
    try:
        path = tmp_path / "jobs.csv"
        path.write_text("101,Poisoned\n102,Later\n", encoding="utf-8")
        upload_id = client.upload("jobs", path)
        wait_until(lambda: client.dead_letters()["load"] == 1, timeout=90, what="a dead letter")
        assert client.status(upload_id)["state"] == "processing"
    finally:
        deployed.restart_data_api(port)
        sqs.set_queue_attributes(
            QueueUrl=queue, Attributes={"VisibilityTimeout": deployed_visibility}
        )
    assert client.redrive_dead_letters("load") == {"load": 1}
    assert client.wait(upload_id, timeout=60)["state"] == "loaded"
    assert client.dead_letters()["load"] == 0


def test_a_copy_the_warehouse_rejects_fails_the_upload_until_retried(
    deployed: DeployedStack, tmp_path: Path
) -> None:
    client = api(deployed)
    con = engine(deployed)
    table = get_table("departments")
    column = table.columns[1].name
    # An operator's schema change the load does not expect: its MERGE names the column.
    con.cursor().execute(f'ALTER TABLE "{table.name}" RENAME COLUMN "{column}" TO "renamed"')
    try:
        path = tmp_path / "departments.csv"
        path.write_text("13,Logistics\n", encoding="utf-8")
        upload_id = client.upload("departments", path)
        failed = client.wait(upload_id, timeout=60)
        assert failed["state"] == "failed" and "renamed" not in failed["error"], failed
        assert column in failed["error"], failed
    finally:
        con.cursor().execute(f'ALTER TABLE "{table.name}" RENAME COLUMN "renamed" TO "{column}"')
        con.close()
    client._call("POST", f"/api/v1/uploads/{upload_id}/retry")
    assert client.wait(upload_id, timeout=60)["state"] == "loaded"


def test_every_metric_filter_reads_the_group_whose_function_logs_its_event(
    deployed: DeployedStack,
) -> None:
    assert deployed.emulator is not None
    # The half-hourly sweep, invoked now as its schedule would.
    reply = deployed.emulator.client("lambda").invoke(
        FunctionName=function(SWEEP_FUNCTION),
        Payload=json.dumps(
            {
                "version": "0",
                "id": "sweep",
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "123456789012",
                "time": "2026-01-01T00:00:00Z",
                "region": "us-east-1",
                "resources": [],
                "detail": {},
            }
        ),
    )
    assert "FunctionError" not in reply, reply["Payload"].read()
    logs = deployed.emulator.client("logs")
    filters = logs.describe_metric_filters()["metricFilters"]
    by_group: dict[str, set[str]] = {}
    for found in filters:
        by_group.setdefault(found["logGroupName"], set()).add(found["filterPattern"])
    seen: dict[str, set[str]] = {}
    for event, _, _, handlers in LOG_METRICS.values():
        pattern = f'{{ $.event = "{event}" }}'
        for handler in (SPLIT, VALIDATE, LOAD, STATEMENT_FUNCTION, SWEEP_FUNCTION, "api_handler"):
            lines = [part for line in log_lines(deployed, handler) for part in line.splitlines()]
            logged = [
                line
                for line in lines
                if records([line]) and records([line])[0].get("event") == event
            ]
            if not logged:
                continue
            seen.setdefault(event, set()).add(handler)
            group = f"/aws/lambda/{function(handler)}"
            assert pattern in by_group.get(group, set()), (
                f"{group} logs {event}; no filter reads it"
            )
            assert handler in handlers
            assert [line for line in lines if matches(pattern, line)] == logged
    # The rejected COPY above was logged by the function that finished its Data API load.
    assert seen.get("load.failed"), seen
    assert seen.get("uploads.checked") == {SWEEP_FUNCTION}
    FIGURES["metric_events_seen"] = {k: sorted(v) for k, v in seen.items()}


def test_figures_of_the_run(deployed: DeployedStack) -> None:
    """Cold starts: the new execution environments the emulator started for each function."""
    assert deployed.emulator is not None
    cold = deployed.emulator.cold_starts()
    FIGURES["cold_starts"] = {name.removeprefix(f"{PREFIX}-"): n for name, n in cold.items()}
    assert {function(h) for h in (SPLIT, VALIDATE, LOAD, STATEMENT_FUNCTION)} <= set(cold), cold
    print("\ndeployed-stack figures:", json.dumps(FIGURES, sort_keys=True))
