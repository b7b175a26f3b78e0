"""Logs and alarms in Terraform: a log group per function, the alarms, and the topic they notify.

Owns the log groups (with the stage's retention, created before the functions so Lambda never
creates one without it), the metric filters that count COPY failures and abandoned loads in the
load function's JSON log lines, the CloudWatch alarms, and the SNS topic with its optional
e-mail subscription. docs/deploy.md says what to do when each alarm fires.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from chalicelib.pipeline.triggers import STAGE_TRIGGERS

if TYPE_CHECKING:
    from deploy.stage import Stage

TOPIC_ARN = "${aws_sns_topic.alarms.arn}"
PERIOD = 300
LOAD_HANDLER = "on_load_requested"
SWEEP_HANDLER = "check_stuck_uploads"
# Log events (chalicelib logs) that each become a metric: (metric, function, event, value,
# statistic). The COPY the warehouse rejected; the load given up after its attempts found the
# warehouse unavailable; the uploads the half-hourly sweep found stuck in processing.
LOG_METRICS = {
    "copy_failed": ("CopyFailures", LOAD_HANDLER, "load.failed", "1", "Sum"),
    "load_gave_up": ("LoadsGivenUp", LOAD_HANDLER, "load.gave_up", "1", "Sum"),
    "uploads_stuck": ("UploadsStuck", SWEEP_HANDLER, "uploads.checked", "$.stuck", "Maximum"),
}


def log_group(stage: Stage, handler: str) -> str:
    return f"/aws/lambda/{stage.function_name(handler)}"


def _alarm(stage: Stage, name: str, description: str, **metric: Any) -> dict[str, Any]:
    return {
        "alarm_name": f"{stage.prefix}-{name}",
        "alarm_description": description,
        "period": PERIOD,
        "evaluation_periods": 1,
        "comparison_operator": "GreaterThanThreshold",
        "treat_missing_data": "notBreaching",
        "alarm_actions": [TOPIC_ARN],
        "ok_actions": [TOPIC_ARN],
        **metric,
    }


def _alarms(stage: Stage) -> dict[str, Any]:
    alarms: dict[str, Any] = {}
    for trigger in STAGE_TRIGGERS:
        s = trigger.stage
        alarms[f"{s}_dead_letters"] = _alarm(
            stage,
            f"{s}-dead-letters",
            f"S3 events the {s} stage failed on every delivery (docs/deploy.md: re-drive)",
            namespace="AWS/SQS",
            metric_name="ApproximateNumberOfMessagesVisible",
            dimensions={"QueueName": stage.dead_letter_queue(s)},
            statistic="Maximum",
            threshold=0,
        )
        alarms[f"{s}_stalled"] = _alarm(
            stage,
            f"{s}-stalled",
            f"An S3 event has waited over {stage.settings.stalled_minutes} minutes for the "
            f"{s} stage: uploads stuck in processing",
            namespace="AWS/SQS",
            metric_name="ApproximateAgeOfOldestMessage",
            dimensions={"QueueName": stage.queue(s)},
            statistic="Maximum",
            threshold=stage.settings.stalled_minutes * 60,
        )
    for handler in stage.handlers:
        function = stage.function_name(handler)
        for metric in ("Errors", "Throttles"):
            alarms[f"{handler}_{metric.lower()}"] = _alarm(
                stage,
                f"{handler}-{metric.lower()}",
                f"{function}: {metric.lower()} in the last {PERIOD // 60} minutes",
                namespace="AWS/Lambda",
                metric_name=metric,
                dimensions={"FunctionName": function},
                statistic="Sum",
                threshold=0,
            )
    for key, (metric, handler, event, _, statistic) in LOG_METRICS.items():
        alarms[key] = _alarm(
            stage,
            key.replace("_", "-"),
            f"{metric}: {stage.function_name(handler)} logged {event} (docs/deploy.md)",
            namespace=f"CsvIngest/{stage.name}",
            metric_name=metric,
            statistic=statistic,
            threshold=0,
            depends_on=[f"aws_cloudwatch_log_metric_filter.{key}"],
        )
    return alarms


def _topic(stage: Stage) -> dict[str, Any]:
    topic: dict[str, Any] = {"name": f"{stage.prefix}-alarms"}
    # Not SNS's AWS-managed key: CloudWatch cannot publish to a topic encrypted with it. The
    # stage's own key can be used if its key policy lets cloudwatch.amazonaws.com use it.
    if stage.settings.kms_key_arn:
        topic["kms_master_key_id"] = stage.settings.kms_key_arn
    return topic


def resources(stage: Stage) -> dict[str, Any]:
    """Log groups, metric filters, alarms, the topic and its subscription."""
    groups: dict[str, Any] = {
        handler: {
            "name": log_group(stage, handler),
            "retention_in_days": stage.settings.log_retention_days,
        }
        for handler in stage.handlers
    }
    if stage.settings.kms_key_arn:
        # The key policy must let logs.<region>.amazonaws.com use it (docs/deploy.md).
        for group in groups.values():
            group["kms_key_id"] = stage.settings.kms_key_arn
    filters = {
        key: {
            "name": f"{stage.prefix}-{metric}",
            "log_group_name": f"${{aws_cloudwatch_log_group.{handler}.name}}",
            "pattern": f'{{ $.event = "{event}" }}',
            "metric_transformation": [
                {"name": metric, "namespace": f"CsvIngest/{stage.name}", "value": value}
            ],
        }
        for key, (metric, handler, event, value, _) in LOG_METRICS.items()
    }
    found: dict[str, Any] = {
        "aws_cloudwatch_log_group": groups,
        "aws_cloudwatch_log_metric_filter": filters,
        "aws_cloudwatch_metric_alarm": _alarms(stage),
        "aws_sns_topic": {"alarms": _topic(stage)},
    }
    if stage.settings.alarm_email:
        found["aws_sns_topic_subscription"] = {
            "alarm_email": {
                "topic_arn": TOPIC_ARN,
                "protocol": "email",
                "endpoint": stage.settings.alarm_email,
            }
        }
    return found
