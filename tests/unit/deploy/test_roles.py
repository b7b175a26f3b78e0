"""The deployable template: stage settings, least-privilege roles, and what first contact with
AWS would have broken (policy variables, reading another role's statements, stages sharing
rules, names taken from placeholders).

Reads ``.chalice/config.json`` as committed and the template ``make package`` writes from it
(``conftest.packages``), resolved against a stand-in account and region (``cfn.py``). Deploys
nothing (tests/deploy/ does).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import subprocess
import sys
from typing import Any

import pytest

from chalicelib.config import Settings
from chalicelib.pipeline.runner import STAGES as STAGE_NAMES
from chalicelib.pipeline.triggers import TRIGGERS
from deploy import policies
from deploy.stage import API_FUNCTION, STATEMENT_FUNCTION, logical_id, read_stage
from tests.unit.conftest import CONFIG, ROOT
from tests.unit.deploy.cfn import ACCOUNT, REGION, attribute, resolve

STAGES = sorted(CONFIG["stages"])
Packages = dict[str, dict[str, Any]]
DATA_API_READS = {"redshift-data:DescribeStatement", "redshift-data:GetStatementResult"}
ENI = set(policies.ENI_ACTIONS)
# What a deployer passes for the parameters without a default (docs/deploy.md, step 6).
PARAMETERS = {
    "RedshiftSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:csv-ingest/dev-AbCdEf",
    "RedshiftHost": "csv-ingest-prod.abc.eu-west-1.redshift.amazonaws.com",
    "SubnetIds": "subnet-1",
    "SecurityGroupIds": "sg-1",
}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: r
        for name, r in template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }


def policy_of(template: dict[str, Any], handler: str) -> list[dict[str, Any]]:
    """The statements of ``handler``'s role, as the stack gets them."""
    role = template["Resources"][policies.role_id(handler)]["Properties"]
    (policy,) = role["Policies"]
    return list(resolve(policy["PolicyDocument"], PARAMETERS)["Statement"])


def allowed(statements: list[dict[str, Any]], action: str) -> list[str]:
    """The resources ``action`` is allowed on."""
    found: list[str] = []
    for statement in statements:
        if action in _list(statement["Action"]):
            found += _list(statement["Resource"])
    return found


def environment(template: dict[str, Any], handler: str) -> dict[str, str]:
    variables = functions(template)[logical_id(handler)]["Properties"]["Environment"]["Variables"]
    return {k: str(resolve(v, PARAMETERS)) for k, v in variables.items()}


@pytest.mark.parametrize("stage", STAGES)
def test_every_functions_settings_pass_the_apps_own_checks(stage: str, packages: Packages) -> None:
    template = packages[stage]["template"]
    for handler in read_stage(CONFIG, stage).handlers:
        settings = Settings.from_env(environment(template, handler))
        assert settings.warehouse == "redshift"
        assert settings.redshift is not None
        assert settings.bucket == f"csv-ingest-{stage}-{ACCOUNT}-{REGION}"
        assert settings.redshift.iam_role == attribute("RedshiftRole", "Arn")
        assert (settings.api_key_id is not None) == (handler == API_FUNCTION)


@pytest.mark.parametrize("stage", STAGES)
def test_lambda_sizes_fit_the_work(stage: str) -> None:
    functions_ = CONFIG["stages"][stage]["lambda_functions"]
    # API Gateway gives up after 29 s; loads run in the queue's handler, up to Lambda's 15 minutes.
    assert functions_["api_handler"]["lambda_timeout"] <= 30
    assert functions_["on_load_requested"]["lambda_timeout"] == 900
    assert functions_["on_raw_created"]["lambda_timeout"] == 900


FUNCTIONS = [(stage, handler) for stage in STAGES for handler in policies.S3_ACCESS]


@pytest.mark.parametrize(("stage", "handler"), FUNCTIONS)
def test_each_role_reaches_only_its_prefixes_and_actions(
    stage: str, handler: str, packages: Packages
) -> None:
    template = packages[stage]["template"]
    statements = policy_of(template, handler)
    props = functions(template)[logical_id(handler)]["Properties"]
    assert props["Role"] == {"Fn::GetAtt": [policies.role_id(handler), "Arn"]}  # its own role
    bucket = f"arn:aws:s3:::csv-ingest-{stage}-{ACCOUNT}-{REGION}"
    reads, writes = policies.S3_ACCESS[handler]
    assert sorted(allowed(statements, "s3:PutObject")) == sorted(f"{bucket}/{p}*" for p in writes)
    assert sorted(allowed(statements, "s3:GetObject")) == sorted(f"{bucket}/{p}*" for p in reads)
    # Without ListBucket a missing key is a 403, not the 404 that storage.get_json expects.
    assert allowed(statements, "s3:ListBucket") == [bucket]
    assert allowed(statements, "s3:DeleteObject") == []
    queues = {r for s in statements for r in _list(s["Resource"]) if r.startswith("arn:aws:sqs:")}
    queue_ids = {q.rsplit(":", 1)[-1] for q in queues}
    if handler == "api_handler":
        assert queue_ids == {
            f"{q.title()}{d}Queue" for q in STAGE_NAMES for d in ("", "DeadLetter")
        }
    else:
        own = {f"{t.stage.title()}Queue" for t in TRIGGERS if t.handler == handler}
        failed = {"FailedEventsQueue"} if "EventInvokeConfig" in props else set()
        assert queue_ids == own | failed
    assert allowed(statements, "logs:PutLogEvents") == [
        f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/"
        f"{read_stage(CONFIG, stage).function_name(handler)}:*"
    ]
    for statement in statements:
        actions = _list(statement["Action"])
        assert statement["Effect"] == "Allow"
        assert not any(a.endswith("*") for a in actions), statement
        if "*" in _list(statement["Resource"]):
            # These take no resource ARN: the Data API's reads (a condition names whose
            # statements), and the network interfaces of a function in a VPC.
            assert set(actions) <= DATA_API_READS | ENI, statement
            assert set(actions) <= ENI or "Condition" in statement


@pytest.mark.parametrize(("stage", "handler"), FUNCTIONS)
def test_policy_grants_exactly_the_credentials_the_auth_mode_uses(
    stage: str, handler: str, packages: Packages
) -> None:
    info = read_stage(CONFIG, stage)
    statements = policy_of(packages[stage]["template"], handler)
    secrets = allowed(statements, "secretsmanager:GetSecretValue")
    cluster_creds = allowed(statements, "redshift:GetClusterCredentials")
    if handler not in policies.WAREHOUSE_USERS:
        assert secrets == cluster_creds == []
    elif info.auth == "secret":
        assert secrets == [PARAMETERS["RedshiftSecretArn"]]
        assert cluster_creds == []
    else:
        cluster, user = info.env["INGEST_REDSHIFT_CLUSTER_ID"], info.env["INGEST_REDSHIFT_USER"]
        assert sorted(r.split(":", 5)[5] for r in cluster_creds) == [
            f"dbname:{cluster}/{info.env['INGEST_REDSHIFT_DATABASE']}",
            f"dbuser:{cluster}/{user}",
        ]
        assert secrets == []
    in_vpc = handler in info.settings.vpc_functions
    assert bool(allowed(statements, "ec2:CreateNetworkInterface")) == in_vpc
    props = functions(packages[stage]["template"])[logical_id(handler)]["Properties"]
    assert ("VpcConfig" in props) == in_vpc


def _variables(text: str) -> list[str]:
    return re.findall(r"\$\{([^}]*)\}", text)


def _strings(value: Any, inside_sub: bool = False) -> list[tuple[str, bool]]:
    """Every string in ``value``, and whether CloudFormation interpolates it (Fn::Sub)."""
    if isinstance(value, str):
        return [(value, inside_sub)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v, inside_sub)]
    if isinstance(value, dict):
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            return [(value["Fn::Sub"], True)]
        return [s for k, v in value.items() for s in _strings(v, inside_sub)]
    return []


@pytest.mark.parametrize("stage", STAGES)
def test_iam_policy_variables_reach_iam_as_written(stage: str, packages: Packages) -> None:
    """A renderer that interpolates strings must not read ``${aws:userid}`` as its own: in an
    ``Fn::Sub`` it is written ``${!aws:userid}``; outside one, CloudFormation leaves it be."""
    template = packages[stage]["template"]
    resources = template["Resources"]
    for text, interpolated in _strings(resources):
        for name in _variables(text):
            if interpolated and ":" in name and not name.startswith("AWS::"):
                pytest.fail(f"{name!r} in an Fn::Sub would be read as a template variable")
    for handler in policies.WAREHOUSE_USERS:
        owner = [
            s["Condition"]["StringEquals"][policies.OWNER_KEY]
            for s in policy_of(template, handler)
            if "StringEquals" in s.get("Condition", {})
        ]
        assert owner == ["${aws:userid}"]  # IAM's own variable, literally


def _evaluate(statements: list[dict[str, Any]], action: str, context: dict[str, str]) -> bool:
    """Whether an Allow statement grants ``action`` on "*" under ``context`` (IAM's
    StringEquals and StringLike, with the ${aws:userid} policy variable; "Policy evaluation
    logic" and "IAM policy elements: Variables and tags", AWS IAM User Guide)."""
    for statement in statements:
        if action not in _list(statement["Action"]) or "*" not in _list(statement["Resource"]):
            continue
        conditions = statement.get("Condition", {})
        ok = True
        for operator, tests in conditions.items():
            for key, value in tests.items():
                wanted = str(value).replace("${aws:userid}", context["aws:userid"])
                given = context.get(key, "")
                if operator == "StringEquals":
                    ok = ok and given == wanted
                elif operator == "StringLike":
                    ok = ok and fnmatch.fnmatchcase(given, wanted)
                else:
                    ok = False
        if ok:
            return True
    return False


@pytest.mark.parametrize("stage", STAGES)
def test_the_completion_function_may_read_the_batch_the_load_function_submitted(
    stage: str, packages: Packages
) -> None:
    template = packages[stage]["template"]
    info = read_stage(CONFIG, stage)

    def userid(handler: str) -> str:
        # A role session's aws:userid is "<role id>:<session name>"; Lambda names the session
        # after the function.
        return f"{attribute(policies.role_id(handler), 'RoleId')}:{info.function_name(handler)}"

    completion = policy_of(template, STATEMENT_FUNCTION)
    for action in sorted(DATA_API_READS):
        load = {
            "aws:userid": userid(STATEMENT_FUNCTION),
            policies.OWNER_KEY: userid("on_load_requested"),
        }
        assert _evaluate(completion, action, load), action
        own = {
            "aws:userid": userid(STATEMENT_FUNCTION),
            policies.OWNER_KEY: userid(STATEMENT_FUNCTION),
        }
        assert _evaluate(completion, action, own)
        # The API's statements (reports) stay its own.
        api = {"aws:userid": userid(STATEMENT_FUNCTION), policies.OWNER_KEY: userid(API_FUNCTION)}
        assert not _evaluate(completion, action, api)
    load_policy = policy_of(template, "on_load_requested")
    api_reads = {
        "aws:userid": userid("on_load_requested"),
        policies.OWNER_KEY: userid(API_FUNCTION),
    }
    assert not _evaluate(load_policy, "redshift-data:DescribeStatement", api_reads)


def test_stages_name_their_rules_and_statements_apart(packages: Packages) -> None:
    rules: dict[str, set[str]] = {}
    prefixes: dict[str, str] = {}
    for stage in STAGES:
        for function in functions(packages[stage]["template"]).values():
            for event in function["Properties"].get("Events", {}).values():
                details = event["Properties"]
                name = details.get("Name") or details.get("RuleName")
                if event["Type"] in ("Schedule", "EventBridgeRule"):
                    assert name and name.startswith(f"csv-ingest-{stage}-"), event
                    rules.setdefault(stage, set()).add(name)
                if event["Type"] == "EventBridgeRule":
                    (prefix,) = details["Pattern"]["detail"]["statementName"]
                    prefixes[stage] = prefix["prefix"]
    assert not rules["dev"] & rules["prod"]
    queue_prefix = {s: read_stage(CONFIG, s).queue_prefix for s in STAGES}
    assert prefixes == {s: f"{queue_prefix[s]}-load:" for s in STAGES}
    # The function names its statements with the same prefix, read from its stage's settings.
    named = subprocess.run(
        [
            sys.executable,
            "-c",
            "from chalicelib.pipeline import load_async; "
            "print(load_async.statement_name('jobs', '20260101T000000Z-0123456789ab'))",
        ],
        env={**os.environ, "INGEST_QUEUE_PREFIX": queue_prefix["prod"]},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert named.startswith(prefixes["prod"]) and not named.startswith(prefixes["dev"])


@pytest.mark.parametrize("stage", STAGES)
def test_nothing_account_or_region_specific_is_written_into_the_package(
    stage: str, packages: Packages
) -> None:
    config_text = (ROOT / ".chalice" / "config.json").read_text(encoding="utf-8")
    placeholder = CONFIG["iam_role_arn"]  # Chalice requires one; no function keeps it
    template = packages[stage]["template"]
    text = json.dumps(template)
    assert placeholder not in text
    for found in (config_text.replace(placeholder, ""), text):
        assert not re.search(r"(?<![0-9])[0-9]{12}(?![0-9])", found)
        assert not re.search(r"\b(us|eu|ap|sa|ca|me|af)-[a-z]+-[0-9]\b", found)
        assert "subnet-" not in found and "sg-0" not in found
    required = {n for n, p in template["Parameters"].items() if "Default" not in p}
    assert required <= set(PARAMETERS)


@pytest.mark.parametrize("stage", STAGES)
def test_the_template_adds_what_chalice_leaves_out(stage: str, packages: Packages) -> None:
    resources = packages[stage]["template"]["Resources"]
    bucket = resources["Bucket"]["Properties"]
    assert resolve(bucket["BucketName"]) == f"csv-ingest-{stage}-{ACCOUNT}-{REGION}"
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert resources["Bucket"]["DeletionPolicy"] == "Retain"
    assert resources["UsagePlan"]["Properties"]["ApiStages"] == [
        {"ApiId": {"Ref": "RestAPI"}, "Stage": {"Ref": "RestAPI.Stage"}}
    ]
    assert resources["UsagePlanKey"]["Properties"]["KeyId"] == {"Ref": "ApiKey"}
    role = resources["RedshiftRole"]["Properties"]
    trust = role["AssumeRolePolicyDocument"]["Statement"][0]
    assert "redshift.amazonaws.com" in trust["Principal"]["Service"]
    (access,) = role["Policies"]
    statements = resolve(access["PolicyDocument"])["Statement"]
    arn = f"arn:aws:s3:::csv-ingest-{stage}-{ACCOUNT}-{REGION}"
    assert allowed(statements, "s3:PutObject") == [f"{arn}/backups/*"]
    assert sorted(allowed(statements, "s3:GetObject")) == [
        f"{arn}/backups/*",
        f"{arn}/clean/*",
        f"{arn}/manifests/*",
    ]
    (cors,) = bucket["CorsConfiguration"]["CorsRules"]
    own_origin = f"https://RestAPI.execute-api.{REGION}.amazonaws.com"
    assert resolve(cors["AllowedOrigins"]["Fn::If"][2]) == [own_origin]
    assert sorted(cors["AllowedMethods"]) == ["GET", "POST", "PUT"]
    assert cors["ExposedHeaders"] == ["ETag"]  # the console reads each part's ETag
    outputs = packages[stage]["template"]["Outputs"]
    assert {"EndpointURL", "Bucket", "ApiKeyId", "RedshiftRoleArn", "ConsoleUrl"} <= set(outputs)


def test_no_credentials_in_the_stage_config() -> None:
    text = (ROOT / ".chalice" / "config.json").read_text(encoding="utf-8")
    for stage in STAGES:
        env = read_stage(CONFIG, stage).env
        assert "INGEST_REDSHIFT_PASSWORD" not in env and "INGEST_API_KEY" not in env
    assert "AKIA" not in text and "aws_secret_access_key" not in text.lower()


def test_read_stage_refuses_unknown_stages_and_settings_the_template_owns() -> None:
    with pytest.raises(SystemExit, match="no stage 'staging'"):
        read_stage(CONFIG, "staging")
    config = json.loads(json.dumps(CONFIG))
    config["stages"]["dev"]["environment_variables"]["INGEST_BUCKET"] = "mine"
    with pytest.raises(SystemExit, match="INGEST_BUCKET come from the template"):
        read_stage(config, "dev")
