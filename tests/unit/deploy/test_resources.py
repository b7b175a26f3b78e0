"""What ``make package`` generates to run a stage: queues and dead-letter queues, the concurrency
cap, retention by prefix, TLS only, log groups, metric filters and alarms, the API's access log,
and somewhere for the asynchronously invoked functions' failed events, each from the stage's
settings."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib import keys
from chalicelib.pipeline.triggers import STAGE_TRIGGERS, TRIGGERS
from deploy import alarms, template
from deploy.stage import DeploySettings, logical_id, read_stage
from tests.unit.conftest import CONFIG
from tests.unit.deploy.cfn import resolve

STAGES = sorted(CONFIG["stages"])
Packages = dict[str, dict[str, Any]]


def _resources(packages: Packages, stage: str) -> dict[str, Any]:
    return dict(packages[stage]["template"]["Resources"])


def _of(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {n: r["Properties"] for n, r in resources.items() if r["Type"] == kind}


@pytest.mark.parametrize("stage", STAGES)
def test_each_stage_queue_dead_letters_after_the_setting_and_outlasts_its_function(
    stage: str, packages: Packages
) -> None:
    info = read_stage(CONFIG, stage)
    resources = _resources(packages, stage)
    for trigger in STAGE_TRIGGERS:
        name = f"{trigger.stage.title()}Queue"
        queue = resources[name]["Properties"]
        dlq = resources[f"{trigger.stage.title()}DeadLetterQueue"]["Properties"]
        assert queue["QueueName"] == f"{CONFIG['app_name']}-{stage}-{trigger.stage}"
        assert dlq["QueueName"] == f"{queue['QueueName']}-dlq"
        assert queue["RedrivePolicy"] == {
            "deadLetterTargetArn": {
                "Fn::GetAtt": [f"{trigger.stage.title()}DeadLetterQueue", "Arn"]
            },
            "maxReceiveCount": info.settings.max_receive_count,
        }
        assert queue["VisibilityTimeout"] == min(6 * info.timeouts[trigger.handler], 43_200)
        assert dlq["MessageRetentionPeriod"] == 14 * 24 * 3600
        assert queue["SqsManagedSseEnabled"] is dlq["SqsManagedSseEnabled"] is True
        allow, deny = resolve(resources[f"{name}Policy"]["Properties"]["PolicyDocument"])[
            "Statement"
        ]
        assert allow["Principal"] == {"Service": "s3.amazonaws.com"}
        assert allow["Condition"]["ArnEquals"]["aws:SourceArn"].startswith(
            f"arn:aws:s3:::csv-ingest-{stage}-"
        )
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("stage", STAGES)
def test_s3_notifies_each_stage_queue_and_each_queue_feeds_one_handler_at_a_time(
    stage: str, packages: Packages
) -> None:
    info = read_stage(CONFIG, stage)
    resources = _resources(packages, stage)
    configs = resources["Bucket"]["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert {
        (
            c["Queue"]["Fn::GetAtt"][0],
            tuple((r["Name"], r["Value"]) for r in c["Filter"]["S3Key"]["Rules"]),
        )
        for c in configs
    } == {
        (
            f"{t.stage.title()}Queue",
            (("prefix", t.prefix), *((("suffix", t.suffix),) if t.suffix else ())),
        )
        for t in TRIGGERS
    }
    functions = _of(resources, "AWS::Serverless::Function")
    for trigger in STAGE_TRIGGERS:
        (event,) = functions[logical_id(trigger.handler)]["Events"].values()
        details = event["Properties"]
        assert event["Type"] == "SQS"
        assert details["Queue"] == {"Fn::GetAtt": [f"{trigger.stage.title()}Queue", "Arn"]}
        assert details["BatchSize"] == 1
        cap = details.get("ScalingConfig", {}).get("MaximumConcurrency")
        expected = info.settings.validate_max_concurrency if trigger.stage == "validate" else None
        assert cap == expected


@pytest.mark.parametrize("stage", STAGES)
def test_data_is_kept_as_long_as_the_settings_say_and_backups_never_expire(
    stage: str, packages: Packages
) -> None:
    settings = read_stage(CONFIG, stage).settings
    bucket = _resources(packages, stage)["Bucket"]["Properties"]
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    rules = bucket["LifecycleConfiguration"]["Rules"]
    by_prefix = {r.get("Prefix", ""): r for r in rules}
    expiry = {p: r.get("ExpirationInDays") for p, r in by_prefix.items()}
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
            assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": days}
    everything = by_prefix[""]
    assert "NoncurrentVersionExpiration" not in everything  # it would reach backups/
    assert everything["AbortIncompleteMultipartUpload"] == {
        "DaysAfterInitiation": settings.incomplete_multipart_days
    }
    assert everything["ExpiredObjectDeleteMarker"] is True


@pytest.mark.parametrize("stage", STAGES)
def test_the_bucket_refuses_plain_http_and_is_encrypted(stage: str, packages: Packages) -> None:
    resources = _resources(packages, stage)
    policy = resolve(resources["BucketPolicy"]["Properties"]["PolicyDocument"])
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert [r.rsplit(":", 1)[-1] for r in statement["Resource"]] == [
        f"csv-ingest-{stage}-210987654321-eu-west-1",
        f"csv-ingest-{stage}-210987654321-eu-west-1/*",
    ]
    (rule,) = resources["Bucket"]["Properties"]["BucketEncryption"][
        "ServerSideEncryptionConfiguration"
    ]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_a_kms_key_setting_encrypts_the_bucket_logs_topic_and_environment_with_it(
    packages: Packages,
) -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/0123abcd-0123-4567-89ab-0123456789ab"
    config = json.loads(json.dumps(CONFIG))
    config["stages"]["prod"]["deploy_settings"]["kms_key_arn"] = key
    rendered = template.render(packages["prod"]["sam"], read_stage(config, "prod"))
    resources = rendered["Resources"]
    (rule,) = resources["Bucket"]["Properties"]["BucketEncryption"][
        "ServerSideEncryptionConfiguration"
    ]
    assert rule == {
        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key},
        "BucketKeyEnabled": True,
    }
    assert {g["KmsKeyId"] for g in _of(resources, "AWS::Logs::LogGroup").values()} == {key}
    assert resources["AlarmTopic"]["Properties"]["KmsMasterKeyId"] == key
    assert {f["KmsKeyArn"] for f in _of(resources, "AWS::Serverless::Function").values()} == {key}


@pytest.mark.parametrize("stage", STAGES)
def test_every_function_has_a_log_group_with_retention_before_it_runs(
    stage: str, packages: Packages
) -> None:
    info = read_stage(CONFIG, stage)
    resources = _resources(packages, stage)
    groups = _of(resources, "AWS::Logs::LogGroup")
    for name, function in resources.items():
        if function["Type"] != "AWS::Serverless::Function":
            continue
        group = groups[f"{name}LogGroup"]
        assert group["LogGroupName"] == f"/aws/lambda/{function['Properties']['FunctionName']}"
        assert group["RetentionInDays"] == info.settings.log_retention_days
        assert function["DependsOn"] == [f"{name}LogGroup"]


@pytest.mark.parametrize("stage", STAGES)
def test_alarms_cover_dead_letters_errors_throttles_stalls_failed_events_5xx_and_log_metrics(
    stage: str, packages: Packages
) -> None:
    info = read_stage(CONFIG, stage)
    resources = _resources(packages, stage)
    alarms_ = _of(resources, "AWS::CloudWatch::Alarm")
    watched = {
        (a["Namespace"], a["MetricName"], next((d["Value"] for d in a.get("Dimensions", [])), None))
        for a in alarms_.values()
    }
    functions = _of(resources, "AWS::Serverless::Function").values()
    expected = {
        *(
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible", info.dead_letter_queue(t.stage))
            for t in STAGE_TRIGGERS
        ),
        *(
            ("AWS/SQS", "ApproximateAgeOfOldestMessage", info.queue(t.stage))
            for t in STAGE_TRIGGERS
        ),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible", info.failed_events_queue),
        ("AWS/ApiGateway", "5XXError", info.prefix),
        *(("AWS/Lambda", m, f["FunctionName"]) for f in functions for m in ("Errors", "Throttles")),
        (f"CsvIngest/{stage}", "CopyFailures", None),
        (f"CsvIngest/{stage}", "LoadsGivenUp", None),
        (f"CsvIngest/{stage}", "UploadsStuck", None),
    }
    assert watched == expected
    for alarm in alarms_.values():
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopic"}]
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    api = resources["RestAPI"]["Properties"]
    assert api["Name"] == info.prefix  # the 5XX alarm's ApiName dimension
    assert api["AccessLogSetting"]["DestinationArn"] == {"Fn::GetAtt": ["ApiAccessLogGroup", "Arn"]}
    assert json.loads(api["AccessLogSetting"]["Format"])["requestId"] == "$context.requestId"


@pytest.mark.parametrize("stage", STAGES)
def test_a_metric_filter_reads_every_group_whose_function_logs_its_event(
    stage: str, packages: Packages
) -> None:
    resources = _resources(packages, stage)
    filters = _of(resources, "AWS::Logs::MetricFilter")
    read = {
        (f["LogGroupName"]["Ref"], f["FilterPattern"], f["MetricTransformations"][0]["MetricName"])
        for f in filters.values()
    }
    # A Data API load logs load.failed and load.gave_up from the function that finishes it.
    assert read == {
        (f"{logical_id(h)}LogGroup", alarms.filter_pattern(event), metric)
        for metric, (event, _, _, handlers) in alarms.LOG_METRICS.items()
        for h in handlers
    }
    for event in ("load.failed", "load.gave_up"):
        groups = {g for g, p, _ in read if p == alarms.filter_pattern(event)}
        assert groups == {"OnLoadRequestedLogGroup", "OnLoadStatementChangedLogGroup"}


@pytest.mark.parametrize("stage", STAGES)
def test_asynchronously_invoked_functions_send_failed_events_somewhere_watched(
    stage: str, packages: Packages
) -> None:
    resources = _resources(packages, stage)
    for name, function in _of(resources, "AWS::Serverless::Function").items():
        kinds = {e["Type"] for e in function.get("Events", {}).values()}
        asynchronous = bool(kinds & {"Schedule", "EventBridgeRule", "CloudWatchEvent"})
        config = function.get("EventInvokeConfig")
        assert (config is not None) == asynchronous, name
        if config is not None:
            destination = config["DestinationConfig"]["OnFailure"]
            assert destination == {
                "Type": "SQS",
                "Destination": {"Fn::GetAtt": ["FailedEventsQueue", "Arn"]},
            }
    assert resources["FailedEventsAlarm"]["Properties"]["Dimensions"] == [
        {"Name": "QueueName", "Value": read_stage(CONFIG, stage).failed_events_queue}
    ]


def test_an_alarm_email_is_a_parameter_and_the_setting_its_default(packages: Packages) -> None:
    config = json.loads(json.dumps(CONFIG))
    config["stages"]["dev"]["deploy_settings"]["alarm_email"] = "ops@example.com"
    rendered = template.render(packages["dev"]["sam"], read_stage(config, "dev"))
    assert rendered["Parameters"]["AlarmEmail"]["Default"] == "ops@example.com"
    subscription = rendered["Resources"]["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"]["Endpoint"] == {"Ref": "AlarmEmail"}
    assert packages["dev"]["template"]["Parameters"]["AlarmEmail"]["Default"] == ""


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
        ({"vpc_functions": ["nope"]}, "vpc_functions names no function: nope"),
    ],
)
def test_deploy_settings_refuse_bad_values(setting: dict[str, Any], message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        DeploySettings.parse(setting, "dev")


def test_deploy_settings_defaults_are_the_documented_ones() -> None:
    defaults = DeploySettings()
    doc = (template.CONFIG.parent.parent / "docs" / "deploy.md").read_text(encoding="utf-8")
    for name in DeploySettings.__dataclass_fields__:
        value = getattr(defaults, name)
        shown = "null" if value is None else "[]" if value == () else str(value)
        assert f"| `{name}` | {shown} |" in doc, name
