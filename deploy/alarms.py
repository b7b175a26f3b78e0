"""Logs and alarms as template resources: a log group per function and for the API's access
log, the metric filters, the alarms, and the topic they notify.

Owns the log groups (with the stage's retention, created before the functions so Lambda never
creates one without it), the metric filters that count COPY failures, abandoned loads and stuck
uploads in every log group whose function logs those events, the CloudWatch alarms (dead
letters, stalled queues, failed asynchronous events, each function's errors and throttles, the
API's 5XX answers, the log metrics), and the SNS topic with its optional e-mail subscription.
docs/deploy.md says what to do when each alarm fires.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.pipeline.triggers import STAGE_TRIGGERS
from deploy import parameters
from deploy.cfn import Json, ref
from deploy.stage import STATEMENT_FUNCTION, SWEEP_FUNCTION, logical_id

if TYPE_CHECKING:
    from deploy.stage import Stage

TOPIC = "AlarmTopic"
ACCESS_LOG = "ApiAccessLogGroup"
PERIOD = 300
LOAD_FUNCTION = "on_load_requested"
# Log events (chalicelib logs) that each become a metric: metric -> (event, value, statistic,
# the functions that log it). The COPY the warehouse rejected and the load given up after its
# attempts found the warehouse unavailable are logged by the load function and, for a Data API
# load, by the function that finishes it; the sweep logs how many uploads it found stuck.
LOG_METRICS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "CopyFailures": ("load.failed", "1", "Sum", (LOAD_FUNCTION, STATEMENT_FUNCTION)),
    "LoadsGivenUp": ("load.gave_up", "1", "Sum", (LOAD_FUNCTION, STATEMENT_FUNCTION)),
    "UploadsStuck": ("uploads.checked", "$.stuck", "Maximum", (SWEEP_FUNCTION,)),
}


# The alarm on each log metric, named as the Runbook (docs/deploy.md) names it.
LOG_ALARMS = {
    "CopyFailures": "copy-failed",
    "LoadsGivenUp": "load-gave-up",
    "UploadsStuck": "uploads-stuck",
}


def log_group_id(handler: str) -> str:
    return f"{logical_id(handler)}LogGroup"


def filter_pattern(event: str) -> str:
    """The metric filter's pattern for log lines whose ``event`` field is ``event``."""
    return f'{{ $.event = "{event}" }}'


def _alarm(stage: Stage, name: str, description: str, **metric: Any) -> Json:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": f"{stage.prefix}-{name}",
            "AlarmDescription": description,
            "Period": PERIOD,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [ref(TOPIC)],
            "OKActions": [ref(TOPIC)],
            **metric,
        },
    }


def _dimensions(**values: Any) -> list[Json]:
    return [{"Name": k, "Value": v} for k, v in values.items()]


def _alarms(stage: Stage) -> Json:
    found: Json = {}
    for trigger in STAGE_TRIGGERS:
        s = trigger.stage
        found[f"{s.title()}DeadLettersAlarm"] = _alarm(
            stage,
            f"{s}-dead-letters",
            f"S3 events the {s} stage failed on every delivery (docs/deploy.md: re-drive)",
            Namespace="AWS/SQS",
            MetricName="ApproximateNumberOfMessagesVisible",
            Dimensions=_dimensions(QueueName=stage.dead_letter_queue(s)),
            Statistic="Maximum",
            Threshold=0,
        )
        found[f"{s.title()}StalledAlarm"] = _alarm(
            stage,
            f"{s}-stalled",
            f"An S3 event has waited over {stage.settings.stalled_minutes} minutes for the "
            f"{s} stage: uploads stuck in processing",
            Namespace="AWS/SQS",
            MetricName="ApproximateAgeOfOldestMessage",
            Dimensions=_dimensions(QueueName=stage.queue(s)),
            Statistic="Maximum",
            Threshold=stage.settings.stalled_minutes * 60,
        )
    found["FailedEventsAlarm"] = _alarm(
        stage,
        "failed-events",
        "A scheduled sweep or a Data API completion event failed every attempt (docs/deploy.md)",
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=_dimensions(QueueName=stage.failed_events_queue),
        Statistic="Maximum",
        Threshold=0,
    )
    found["Api5xxAlarm"] = _alarm(
        stage,
        "api-5xx",
        "The API answered with a server error (docs/deploy.md)",
        Namespace="AWS/ApiGateway",
        MetricName="5XXError",
        Dimensions=_dimensions(ApiName=stage.prefix, Stage="api"),
        Statistic="Sum",
        Threshold=0,
    )
    for handler in stage.handlers:
        function = stage.function_name(handler)
        for metric in ("Errors", "Throttles"):
            found[f"{logical_id(handler)}{metric}Alarm"] = _alarm(
                stage,
                f"{handler}-{metric.lower()}",
                f"{function}: {metric.lower()} in the last {PERIOD // 60} minutes",
                Namespace="AWS/Lambda",
                MetricName=metric,
                Dimensions=_dimensions(FunctionName=function),
                Statistic="Sum",
                Threshold=0,
            )
    for metric, (event, _, statistic, handlers) in LOG_METRICS.items():
        found[f"{metric}Alarm"] = _alarm(
            stage,
            LOG_ALARMS[metric],
            f"{metric}: {' or '.join(stage.function_name(h) for h in handlers)} logged "
            f"{event} (docs/deploy.md)",
            Namespace=f"CsvIngest/{stage.name}",
            MetricName=metric,
            Statistic=statistic,
            Threshold=0,
        )
    return found


def _log_group(stage: Stage, name: str) -> Json:
    properties: Json = {"LogGroupName": name, "RetentionInDays": stage.settings.log_retention_days}
    if stage.settings.kms_key_arn:
        # The key policy must let logs.<region>.amazonaws.com use it (docs/deploy.md).
        properties["KmsKeyId"] = stage.settings.kms_key_arn
    return {"Type": "AWS::Logs::LogGroup", "Properties": properties}


def log_groups(stage: Stage) -> Json:
    found = {
        log_group_id(h): _log_group(stage, f"/aws/lambda/{stage.function_name(h)}")
        for h in stage.handlers
    }
    found[ACCESS_LOG] = _log_group(stage, f"/aws/apigateway/{stage.prefix}-access")
    return found


def metric_filters(stage: Stage) -> Json:
    return {
        f"{metric}{logical_id(handler)}Filter": {
            "Type": "AWS::Logs::MetricFilter",
            "Properties": {
                "LogGroupName": ref(log_group_id(handler)),
                "FilterPattern": filter_pattern(event),
                "MetricTransformations": [
                    {
                        "MetricName": metric,
                        "MetricNamespace": f"CsvIngest/{stage.name}",
                        "MetricValue": value,
                    }
                ],
            },
        }
        for metric, (event, value, _, handlers) in LOG_METRICS.items()
        for handler in handlers
    }


def resources(stage: Stage) -> Json:
    """Log groups, metric filters, alarms, the topic and its subscription."""
    topic: Json = {"TopicName": f"{stage.prefix}-alarms"}
    # Not SNS's AWS-managed key: CloudWatch cannot publish to a topic encrypted with it. The
    # stage's own key can be used if its key policy lets cloudwatch.amazonaws.com use it.
    if stage.settings.kms_key_arn:
        topic["KmsMasterKeyId"] = stage.settings.kms_key_arn
    return {
        **log_groups(stage),
        **metric_filters(stage),
        **_alarms(stage),
        TOPIC: {"Type": "AWS::SNS::Topic", "Properties": topic},
        "AlarmEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": parameters.HAS_ALARM_EMAIL,
            "Properties": {
                "TopicArn": ref(TOPIC),
                "Protocol": "email",
                "Endpoint": ref("AlarmEmail"),
            },
        },
    }
