"""What ``make package`` generates to run a stage: queues and dead-letter queues, the concurrency
cap, retention by prefix, TLS only, log groups and alarms, each from the stage's settings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import keys
from chalicelib.pipeline.triggers import TRIGGERS
from deploy import terraform
from deploy.stage import DeploySettings
from tests.unit.conftest import CONFIG

STAGES = sorted(CONFIG["stages"])
Packages = dict[str, dict[str, Any]]


def _resources(packages: Packages, stage: str) -> dict[str, Any]:
    return dict(packages[stage]["extra"]["resource"])


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_queue_dead_letters_after_the_setting_and_outlasts_its_function(
    stage: str, packages: Packages
) -> None:
    info = terraform.read_stage(CONFIG, stage)
    queues = _resources(packages, stage)["aws_sqs_queue"]
    assert set(queues) == {t.stage for t in TRIGGERS} | {f"{t.stage}_dlq" for t in TRIGGERS}
    for trigger in TRIGGERS:
        queue, dlq = queues[trigger.stage], queues[f"{trigger.stage}_dlq"]
        assert queue["name"] == f"{CONFIG['app_name']}-{stage}-{trigger.stage}"
        assert dlq["name"] == f"{queue['name']}-dlq"
        assert json.loads(queue["redrive_policy"]) == {
            "deadLetterTargetArn": f"${{aws_sqs_queue.{trigger.stage}_dlq.arn}}",
            "maxReceiveCount": info.settings.max_receive_count,
        }
        timeout = info.timeouts[trigger.handler]
        assert queue["visibility_timeout_seconds"] == min(6 * timeout, 43_200)
        assert dlq["message_retention_seconds"] == 14 * 24 * 3600
        assert queue["sqs_managed_sse_enabled"] is dlq["sqs_managed_sse_enabled"] is True
        policy = json.loads(
            _resources(packages, stage)["aws_sqs_queue_policy"][trigger.stage]["policy"]
        )
        allow, deny = policy["Statement"]
        assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
        assert allow["Condition"]["ArnEquals"]["aws:SourceArn"] == info.bucket_arn
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("stage", STAGES)
def test_s3_notifies_each_stage_queue_and_each_queue_feeds_one_handler_at_a_time(
    stage: str, packages: Packages
) -> None:
    info = terraform.read_stage(CONFIG, stage)
    notification = _resources(packages, stage)["aws_s3_bucket_notification"]["ingest"]
    assert {
        (q["id"], q["queue_arn"], q["filter_prefix"], q.get("filter_suffix", ""))
        for q in notification["queue"]
    } == {(t.filter_id, f"${{aws_sqs_queue.{t.stage}.arn}}", t.prefix, t.suffix) for t in TRIGGERS}
    mappings = packages[stage]["chalice"]["resource"]["aws_lambda_event_source_mapping"]
    by_function = {m["function_name"]: m for m in mappings.values()}
    for trigger in TRIGGERS:
        mapping = by_function[f"${{aws_lambda_function.{trigger.handler}.arn}}"]
        assert mapping["event_source_arn"].endswith(f":{info.queue(trigger.stage)}")
        assert mapping["batch_size"] == 1
        assert f"aws_sqs_queue.{trigger.stage}" in mapping["depends_on"]
        cap = mapping.get("scaling_config", {}).get("maximum_concurrency")
        expected = info.settings.validate_max_concurrency if trigger.stage == "validate" else None
        assert cap == expected


@pytest.mark.parametrize("stage", STAGES)
def test_data_is_kept_as_long_as_the_settings_say_and_backups_never_expire(
    stage: str, packages: Packages
) -> None:
    settings = terraform.read_stage(CONFIG, stage).settings
    resources = _resources(packages, stage)
    assert resources["aws_s3_bucket_versioning"]["ingest"]["versioning_configuration"] == [
        {"status": "Enabled"}
    ]
    rules = resources["aws_s3_bucket_lifecycle_configuration"]["ingest"]["rule"]
    by_prefix = {r["filter"][0]["prefix"]: r for r in rules}
    expiry = {p: r.get("expiration", [{}])[0].get("days") for p, r in by_prefix.items()}
    work = settings.work_files_days
    assert expiry == {
        keys.CHUNKS: work,
        keys.CLEAN: work,
        keys.MANIFESTS: work,
        keys.LOADS: work,
        keys.SPLITS: work,
        keys.REJECTED: settings.rejected_days,
        keys.RAW: settings.raw_days,
        keys.UPLOADS: None,
        "": None,
    }
    assert not any(p.startswith(keys.BACKUPS) for p in by_prefix)
    for prefix, rule in by_prefix.items():
        if prefix:
            days = settings.noncurrent_version_days
            assert rule["noncurrent_version_expiration"] == [{"noncurrent_days": days}]
    everything = by_prefix[""]
    assert "noncurrent_version_expiration" not in everything  # it would reach backups/
    assert everything["abort_incomplete_multipart_upload"] == [
        {"days_after_initiation": settings.incomplete_multipart_days}
    ]
    assert everything["expiration"] == [{"expired_object_delete_marker": True}]


@pytest.mark.parametrize("stage", STAGES)
def test_the_bucket_refuses_plain_http_and_is_encrypted(stage: str, packages: Packages) -> None:
    resources = _resources(packages, stage)
    (statement,) = json.loads(resources["aws_s3_bucket_policy"]["ingest"]["policy"])["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == ["${aws_s3_bucket.ingest.arn}", "${aws_s3_bucket.ingest.arn}/*"]
    (rule,) = resources["aws_s3_bucket_server_side_encryption_configuration"]["ingest"]["rule"]
    assert rule["apply_server_side_encryption_by_default"] == [{"sse_algorithm": "AES256"}]


def test_a_kms_key_setting_encrypts_the_bucket_logs_topic_and_environment_with_it() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/0123abcd-0123-4567-89ab-0123456789ab"
    config = json.loads(json.dumps(CONFIG))
    config["stages"]["prod"]["deploy_settings"]["kms_key_arn"] = key
    stage = terraform.read_stage(config, "prod")
    resources = terraform.extras(stage)["resource"]
    (rule,) = resources["aws_s3_bucket_server_side_encryption_configuration"]["ingest"]["rule"]
    assert rule["apply_server_side_encryption_by_default"] == [
        {"sse_algorithm": "aws:kms", "kms_master_key_id": key}
    ]
    assert rule["bucket_key_enabled"] is True
    assert {g["kms_key_id"] for g in resources["aws_cloudwatch_log_group"].values()} == {key}
    assert resources["aws_sns_topic"]["alarms"]["kms_master_key_id"] == key
    patched, _ = terraform.patch_chalice(
        {"resource": {"aws_lambda_function": {"api_handler": {}}}}, stage
    )
    assert patched["resource"]["aws_lambda_function"]["api_handler"]["kms_key_arn"] == key


@pytest.mark.parametrize("stage", STAGES)
def test_every_function_has_a_log_group_with_retention_before_it_runs(
    stage: str, packages: Packages
) -> None:
    info = terraform.read_stage(CONFIG, stage)
    groups = _resources(packages, stage)["aws_cloudwatch_log_group"]
    functions = packages[stage]["chalice"]["resource"]["aws_lambda_function"]
    assert set(groups) == set(functions)
    for name, function in functions.items():
        assert groups[name]["name"] == f"/aws/lambda/{function['function_name']}"
        assert groups[name]["retention_in_days"] == info.settings.log_retention_days
        assert function["depends_on"] == [f"aws_cloudwatch_log_group.{name}"]


@pytest.mark.parametrize("stage", STAGES)
def test_alarms_cover_dead_letters_errors_throttles_stalls_and_copy_failures(
    stage: str, packages: Packages
) -> None:
    info = terraform.read_stage(CONFIG, stage)
    resources = _resources(packages, stage)
    alarms = resources["aws_cloudwatch_metric_alarm"]
    watched = {
        (a["namespace"], a["metric_name"], next(iter(a.get("dimensions", {}).values()), None))
        for a in alarms.values()
    }
    functions = packages[stage]["chalice"]["resource"]["aws_lambda_function"].values()
    expected = {
        *(
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible", info.dead_letter_queue(t.stage))
            for t in TRIGGERS
        ),
        *(("AWS/SQS", "ApproximateAgeOfOldestMessage", info.queue(t.stage)) for t in TRIGGERS),
        *(
            ("AWS/Lambda", m, f["function_name"])
            for f in functions
            for m in ("Errors", "Throttles")
        ),
        (f"CsvIngest/{stage}", "CopyFailures", None),
        (f"CsvIngest/{stage}", "LoadsGivenUp", None),
        (f"CsvIngest/{stage}", "UploadsStuck", None),
    }
    assert watched == expected
    for alarm in alarms.values():
        assert alarm["alarm_actions"] == alarm["ok_actions"] == ["${aws_sns_topic.alarms.arn}"]
        assert alarm["comparison_operator"] == "GreaterThanThreshold"
    filters = resources["aws_cloudwatch_log_metric_filter"]
    assert filters["copy_failed"]["pattern"] == '{ $.event = "load.failed" }'
    assert filters["copy_failed"]["log_group_name"] == (
        "${aws_cloudwatch_log_group.on_load_requested.name}"
    )
    stuck = filters["uploads_stuck"]
    assert stuck["pattern"] == '{ $.event = "uploads.checked" }'
    assert stuck["metric_transformation"][0]["value"] == "$.stuck"
    assert stuck["log_group_name"] == "${aws_cloudwatch_log_group.check_stuck_uploads.name}"
    assert ("aws_sns_topic_subscription" in resources) == bool(info.settings.alarm_email)


def test_an_alarm_email_setting_subscribes_it() -> None:
    config = json.loads(json.dumps(CONFIG))
    config["stages"]["dev"]["deploy_settings"]["alarm_email"] = "ops@example.com"
    resources = terraform.extras(terraform.read_stage(config, "dev"))["resource"]
    subscription = resources["aws_sns_topic_subscription"]["alarm_email"]
    assert (subscription["protocol"], subscription["endpoint"]) == ("email", "ops@example.com")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"max_receive_count": 0}, "max_receive_count must be a whole number >= 1"),
        ({"validate_max_concurrency": 1}, "validate_max_concurrency must be from 2 to 1000"),
        ({"log_retention_days": 10}, "log_retention_days must be one of"),
        ({"raw_days": 0}, "raw_days must be null or a whole number >= 1"),
        ({"kms_key_arn": "alias/mine"}, "kms_key_arn must be a KMS key ARN"),
        ({"alarm_email": "nobody"}, "alarm_email must be an e-mail address"),
        ({"retention": 3}, "unknown deploy_settings retention"),
    ],
)
def test_deploy_settings_refuse_bad_values(setting: dict[str, Any], message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        DeploySettings.parse(setting, "dev")


def test_deploy_settings_defaults_are_the_documented_ones() -> None:
    defaults = DeploySettings()
    doc = (terraform.CONFIG.parent.parent / "docs" / "deploy.md").read_text(encoding="utf-8")
    for name in DeploySettings.__dataclass_fields__:
        value = getattr(defaults, name)
        shown = "null" if value is None else str(value)
        assert f"| `{name}` | {shown} |" in doc, name
