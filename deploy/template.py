"""The stage's CloudFormation template: Chalice's functions and API plus what ``deploy/`` adds.

Owns ``template.json`` next to the ``sam.json`` that ``chalice package`` writes: it keeps
Chalice's functions, API and event sources, and gives each function its name, its own role
(``policies.py``), the settings the template derives from its resources and parameters
(``parameters.py``), its log group (created first, ``alarms.py``), its queue (``queues.py``) with
the validate function's concurrency cap, and, when invoked asynchronously, an on-failure
destination; it adds the bucket (``bucket.py``), the alarms, the API key, usage plan and access
log, and the role Redshift assumes (``warehouse.py``). Values come from ``.chalice/config.json``
(``stage.py``); nothing here talks to AWS. ``make package`` runs it: ``python -m deploy.template
--stage dev --out build/dev``.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path
from typing import Any

from chalicelib.pipeline.triggers import STAGE_TRIGGERS
from deploy import alarms, bucket, parameters, policies, queues, warehouse
from deploy.cfn import Json, get_att, ref, sub
from deploy.stage import ASYNC_FUNCTIONS, Stage, logical_id, read_stage

CONFIG = Path(__file__).resolve().parent.parent / ".chalice" / "config.json"
CAPPED_STAGE = "validate"
# Retries of a failed asynchronous event before it goes to the failed-events queue (Lambda's
# default, said outright).
ASYNC_RETRIES = 2
API_STAGE = "api"
# One JSON object per request, as the functions log (API Gateway's $context variables).
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "method": "$context.httpMethod",
        "path": "$context.resourcePath",
        "status": "$context.status",
        "bytes": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "apiKeyId": "$context.identity.apiKeyId",
        "error": "$context.error.message",
    },
    separators=(",", ":"),
)


def _function(stage: Stage, handler: str, function: Json) -> None:
    props = function["Properties"]
    props["FunctionName"] = stage.function_name(handler)
    props["Role"] = get_att(policies.role_id(handler), "Arn")
    props.setdefault("Environment", {}).setdefault("Variables", {}).update(
        parameters.environment(stage, handler)
    )
    vpc = parameters.vpc_config(stage, handler)
    props.pop("VpcConfig", None)
    if vpc is not None:
        props["VpcConfig"] = vpc
    if stage.settings.kms_key_arn:
        props["KmsKeyArn"] = stage.settings.kms_key_arn  # its environment variables
    # Lambda would otherwise create the group on the first invocation, without retention.
    function["DependsOn"] = [alarms.log_group_id(handler)]
    for event in props.get("Events", {}).values():
        kind, details = event["Type"], event["Properties"]
        if kind == "SQS":
            name = next(t.stage for t in STAGE_TRIGGERS if t.handler == handler)
            details["Queue"] = get_att(queues.queue_id(name), "Arn")
            if name == CAPPED_STAGE:
                cap = stage.settings.validate_max_concurrency
                details["ScalingConfig"] = {"MaximumConcurrency": cap}
        elif kind == "Schedule":
            # Named after the stage, so two stages in one account never share a rule.
            details["Name"] = f"{stage.prefix}-sweep"
        elif kind == "CloudWatchEvent":
            # SAM's newer name for the same rule; only it takes a rule name.
            event["Type"] = "EventBridgeRule"
            details["RuleName"] = f"{stage.prefix}-load-statement-changed"
    if handler in ASYNC_FUNCTIONS:
        props["EventInvokeConfig"] = {
            "MaximumRetryAttempts": ASYNC_RETRIES,
            "DestinationConfig": {
                "OnFailure": {"Type": "SQS", "Destination": get_att(queues.FAILED_EVENTS, "Arn")}
            },
        }


def _api(stage: Stage, resources: Json) -> Json:
    api = resources["RestAPI"]["Properties"]
    # The API's metrics (and the 5XX alarm) are by name: one per stage.
    api["Name"] = stage.prefix
    api["AccessLogSetting"] = {
        "DestinationArn": get_att(alarms.ACCESS_LOG, "Arn"),
        "Format": ACCESS_LOG_FORMAT,
    }
    return {
        "ApiKey": {
            "Type": "AWS::ApiGateway::ApiKey",
            "Properties": {"Name": stage.prefix, "Enabled": True},
        },
        "UsagePlan": {
            "Type": "AWS::ApiGateway::UsagePlan",
            "Properties": {
                "UsagePlanName": stage.prefix,
                "ApiStages": [{"ApiId": ref("RestAPI"), "Stage": ref("RestAPI.Stage")}],
                "Throttle": {"BurstLimit": 50, "RateLimit": 20},
            },
        },
        "UsagePlanKey": {
            "Type": "AWS::ApiGateway::UsagePlanKey",
            "Properties": {
                "KeyId": ref("ApiKey"),
                "KeyType": "API_KEY",
                "UsagePlanId": ref("UsagePlan"),
            },
        },
    }


def _outputs() -> Json:
    outputs: Json = {
        "Bucket": {"Value": ref("Bucket")},
        "ApiKeyId": {"Value": ref("ApiKey")},
        "RedshiftRoleArn": {"Value": get_att(warehouse.ROLE, "Arn")},
        "AlarmTopicArn": {"Value": ref(alarms.TOPIC)},
        "FailedEventsQueueUrl": {"Value": ref(queues.FAILED_EVENTS)},
        "ConsoleUrl": {"Value": sub(f"{bucket.CONSOLE_ORIGIN}/{API_STAGE}/")},
    }
    for trigger in STAGE_TRIGGERS:
        outputs[f"{trigger.stage.title()}DeadLetterQueueUrl"] = {
            "Value": ref(queues.dead_letter_id(trigger.stage))
        }
    return outputs


def render(sam: Json, stage: Stage) -> Json:
    """The stage's template from ``chalice package``'s ``sam.json``.

    Raises:
        SystemExit: ``sam.json`` lacks a function the stage needs.
    """
    template: Json = copy.deepcopy(sam)
    resources = template["Resources"]
    for handler in stage.handlers:
        function = resources.get(logical_id(handler))
        if function is None:
            raise SystemExit(f"sam.json has no function {logical_id(handler)} ({handler})")
        _function(stage, handler, function)
    extra: dict[str, Any] = {
        **bucket.resources(stage),
        **queues.resources(stage),
        **alarms.resources(stage),
        **policies.roles(stage),
        **warehouse.resources(stage),
        **_api(stage, resources),
    }
    clash = sorted(set(extra) & set(resources))
    if clash:
        raise SystemExit(f"sam.json already has {', '.join(clash)}")
    resources.update(extra)
    template["Description"] = f"{stage.app}, stage {stage.name} (make package; docs/deploy.md)"
    template["Parameters"] = parameters.parameters(stage)
    template["Conditions"] = parameters.conditions()
    template["Outputs"] = {**template.get("Outputs", {}), **_outputs()}
    return template


def write(stage: Stage, out: Path) -> Path:
    """Write ``template.json`` from ``out/sam.json``; return its path."""
    sam = json.loads((out / "sam.json").read_text(encoding="utf-8"))
    path = out / "template.json"
    path.write_text(json.dumps(render(sam, stage), indent=2) + "\n", encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--config", type=Path, default=CONFIG)
    args = parser.parse_args(argv)
    stage = read_stage(json.loads(args.config.read_text(encoding="utf-8")), args.stage)
    sys.stdout.write(f"wrote {write(stage, args.out)}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
