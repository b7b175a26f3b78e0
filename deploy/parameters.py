"""The template's parameters: what differs between accounts and is given at deploy time.

Owns the parameters (the Redshift secret or host, the VPC a function runs in, the alarm address,
extra console origins), the conditions on them, and the environment variables the template sets
from its own resources and parameters (``stage.TEMPLATE_VARIABLES``), so no account id, region,
secret or subnet is ever written into ``.chalice/`` or edited into the template by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from deploy.cfn import Json, bucket_name, get_att, ref, sub
from deploy.stage import API_FUNCTION

if TYPE_CHECKING:
    from deploy.stage import Stage

HAS_ALARM_EMAIL = "HasAlarmEmail"
HAS_CONSOLE_ORIGINS = "HasConsoleOrigins"


def parameters(stage: Stage) -> Json:
    """The ``Parameters`` section."""
    found: Json = {
        "AlarmEmail": {
            "Type": "String",
            "Default": stage.settings.alarm_email or "",
            "Description": "An address the alarm topic mails (AWS sends a confirmation first); "
            "empty: no subscription",
        },
        "ConsoleOrigins": {
            "Type": "CommaDelimitedList",
            "Default": "",
            "Description": "Origins besides the API's own that may send files to the bucket "
            "from the console (a custom domain's)",
        },
    }
    if stage.auth == "secret":
        found["RedshiftSecretArn"] = {
            "Type": "String",
            "AllowedPattern": "^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$",
            "Description": "ARN of the Secrets Manager secret with the warehouse user's "
            "username, password, host and port",
        }
    if stage.auth == "iam":
        found["RedshiftHost"] = {
            "Type": "String",
            "MinLength": 1,
            "Description": "The cluster's or workgroup's endpoint host name",
        }
    if stage.settings.vpc_functions:
        found["SubnetIds"] = {
            "Type": "List<AWS::EC2::Subnet::Id>",
            "Description": "Private subnets that reach the warehouse "
            f"(functions {', '.join(stage.settings.vpc_functions)})",
        }
        found["SecurityGroupIds"] = {
            "Type": "List<AWS::EC2::SecurityGroup::Id>",
            "Description": "Security groups the warehouse admits on its port",
        }
    return found


def conditions() -> Json:
    return {
        HAS_ALARM_EMAIL: {"Fn::Not": [{"Fn::Equals": [ref("AlarmEmail"), ""]}]},
        HAS_CONSOLE_ORIGINS: {
            "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", ref("ConsoleOrigins")]}, ""]}]
        },
    }


def environment(stage: Stage, handler: str) -> dict[str, Any]:
    """The variables the template sets on ``handler``'s function, besides the stage's own."""
    env: dict[str, Any] = {"INGEST_BUCKET": sub(bucket_name(stage))}
    if stage.env.get("INGEST_WAREHOUSE") == "redshift":
        env["INGEST_REDSHIFT_IAM_ROLE"] = get_att("RedshiftRole", "Arn")
        if stage.auth == "secret":
            env["INGEST_REDSHIFT_SECRET_ARN"] = ref("RedshiftSecretArn")
        if stage.auth == "iam":
            env["INGEST_REDSHIFT_HOST"] = ref("RedshiftHost")
    if handler == API_FUNCTION:
        # The deep health check compares the caller's key with the stage's (chalicelib/api).
        env["INGEST_API_KEY_ID"] = ref("ApiKey")
    return env


def vpc_config(stage: Stage, handler: str) -> Json | None:
    if handler not in stage.settings.vpc_functions:
        return None
    return {"SubnetIds": ref("SubnetIds"), "SecurityGroupIds": ref("SecurityGroupIds")}
