"""The deployable package: stage settings, least-privilege policies and the extra Terraform.

Reads ``.chalice/config.json`` and ``.chalice/policy-<stage>.json`` as they are committed, so a
setting added to one and not the other fails here rather than in AWS. Runs no Chalice and no
Terraform (``make package`` does; docs/deploy.md).
"""

from __future__ import annotations

import fnmatch
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chalicelib.config import Settings
from chalicelib.pipeline.runner import STAGES as STAGE_NAMES
from chalicelib.pipeline.triggers import TRIGGERS
from deploy import policies, terraform

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
STAGES = sorted(CONFIG["stages"])
DATA_API_READS = {"redshift-data:DescribeStatement", "redshift-data:GetStatementResult"}
ENI = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}


def env_of(stage: str) -> dict[str, str]:
    return {
        **CONFIG.get("environment_variables", {}),
        **CONFIG["stages"][stage]["environment_variables"],
    }


def policy_of(stage: str, handler: str) -> list[dict[str, Any]]:
    name = CONFIG["stages"][stage]["lambda_functions"][handler]["iam_policy_file"]
    assert name == policies.policy_file(stage, handler)
    document = json.loads((ROOT / ".chalice" / name).read_text(encoding="utf-8"))
    return list(document["Statement"])


def _list(value: str | list[str]) -> list[str]:
    return value if isinstance(value, list) else [value]


def allowed(statements: list[dict[str, Any]], action: str) -> list[str]:
    """The resources ``action`` is allowed on."""
    found: list[str] = []
    for statement in statements:
        if action in _list(statement["Action"]):
            found += _list(statement["Resource"])
    return found


@pytest.mark.parametrize("stage", STAGES)
def test_stage_settings_pass_the_apps_own_checks(stage: str) -> None:
    settings = Settings.from_env(env_of(stage))
    assert settings.warehouse == "redshift"
    assert settings.redshift is not None
    assert CONFIG.get("autogen_policy", CONFIG["stages"][stage].get("autogen_policy")) is False


@pytest.mark.parametrize("stage", STAGES)
def test_lambda_sizes_fit_the_work(stage: str) -> None:
    functions = CONFIG["stages"][stage]["lambda_functions"]
    # API Gateway gives up after 29 s; loads run in the S3 handler, up to Lambda's 15 minutes.
    assert functions["api_handler"]["lambda_timeout"] <= 30
    assert functions["on_load_requested"]["lambda_timeout"] == 900
    assert functions["on_raw_created"]["lambda_timeout"] == 900


FUNCTIONS = [(stage, handler) for stage in STAGES for handler in policies.S3_ACCESS]


@pytest.mark.parametrize(("stage", "handler"), FUNCTIONS)
def test_committed_policy_is_the_generated_one(stage: str, handler: str) -> None:
    generated = policies.documents(CONFIG, stage)[policies.policy_file(stage, handler)]
    assert policy_of(stage, handler) == generated["Statement"], "run python -m deploy.policies"


@pytest.mark.parametrize(("stage", "handler"), FUNCTIONS)
def test_each_role_reaches_only_its_prefixes_and_actions(stage: str, handler: str) -> None:
    statements = policy_of(stage, handler)
    bucket = f"arn:aws:s3:::{env_of(stage)['INGEST_BUCKET']}"
    reads, writes = policies.S3_ACCESS[handler]
    assert sorted(allowed(statements, "s3:PutObject")) == sorted(f"{bucket}/{p}*" for p in writes)
    assert sorted(allowed(statements, "s3:GetObject")) == sorted(f"{bucket}/{p}*" for p in reads)
    # Without ListBucket a missing key is a 403, not the 404 that storage.get_json expects.
    assert allowed(statements, "s3:ListBucket") == [bucket]
    assert allowed(statements, "s3:DeleteObject") == []
    prefix = env_of(stage)["INGEST_QUEUE_PREFIX"]
    queues = {
        r.rsplit(":", 1)[-1] for s in statements for r in _list(s["Resource"]) if ":sqs:" in r
    }
    if handler == "api_handler":
        assert queues == {f"{prefix}-{q}{d}" for q in STAGE_NAMES for d in ("", "-dlq")}
        assert {r.rsplit(":", 1)[-1] for r in allowed(statements, "sqs:SendMessage")} == {
            f"{prefix}-{q}" for q in STAGE_NAMES
        }
    else:
        own = {f"{prefix}-{t.stage}" for t in TRIGGERS if t.handler == handler}
        assert queues == own  # none for the sweep
        assert allowed(statements, "sqs:SendMessage") == []
    logs = allowed(statements, "logs:PutLogEvents")
    assert logs == [
        f"arn:aws:logs:*:123456789012:log-group:/aws/lambda/"
        f"{terraform.read_stage(CONFIG, stage).function_name(handler)}:*"
    ]
    for statement in statements:
        actions = _list(statement["Action"])
        assert statement["Effect"] == "Allow"
        assert not any(a.endswith("*") for a in actions), statement
        if "*" in _list(statement["Resource"]):
            if set(actions) <= DATA_API_READS:
                # They take no resource ARN; the condition limits them to the role's statements.
                owner = statement["Condition"]["StringEquals"]
                assert owner == {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}
            else:
                assert set(actions) <= ENI, statement  # ENI actions take no resource ARN


@pytest.mark.parametrize(("stage", "handler"), FUNCTIONS)
def test_policy_grants_exactly_the_credentials_the_auth_mode_uses(stage: str, handler: str) -> None:
    env, statements = env_of(stage), policy_of(stage, handler)
    secrets = allowed(statements, "secretsmanager:GetSecretValue")
    cluster_creds = allowed(statements, "redshift:GetClusterCredentials")
    if handler not in policies.WAREHOUSE_USERS:
        assert secrets == cluster_creds == []
    elif env["INGEST_REDSHIFT_AUTH"] == "secret":
        assert len(secrets) == 1 and fnmatch.fnmatchcase(
            env["INGEST_REDSHIFT_SECRET_ARN"], secrets[0]
        )
        assert cluster_creds == []
    else:
        cluster, user = env["INGEST_REDSHIFT_CLUSTER_ID"], env["INGEST_REDSHIFT_USER"]
        assert sorted(r.split(":", 5)[5] for r in cluster_creds) == [
            f"dbname:{cluster}/{env['INGEST_REDSHIFT_DATABASE']}",
            f"dbuser:{cluster}/{user}",
        ]
        assert secrets == []
    in_vpc = "subnet_ids" in CONFIG["stages"][stage]["lambda_functions"][handler]
    assert bool(allowed(statements, "ec2:CreateNetworkInterface")) == in_vpc


@pytest.mark.parametrize("stage", STAGES)
def test_extra_terraform_has_what_chalice_leaves_out(
    stage: str, packages: dict[str, dict[str, Any]]
) -> None:
    env = env_of(stage)
    extra, patched = packages[stage]["extra"], packages[stage]["chalice"]
    resources = extra["resource"]
    assert resources["aws_s3_bucket"]["ingest"]["bucket"] == env["INGEST_BUCKET"]
    assert all(
        resources["aws_s3_bucket_public_access_block"]["ingest"][k] is True
        for k in (
            "block_public_acls",
            "block_public_policy",
            "ignore_public_acls",
            "restrict_public_buckets",
        )
    )
    assert "aws_s3_bucket_server_side_encryption_configuration" in resources
    assert resources["aws_api_gateway_usage_plan"]["ingest"]["api_stages"] == [
        {
            "api_id": "${aws_api_gateway_rest_api.rest_api.id}",
            "stage": "${aws_api_gateway_deployment.rest_api.stage_name}",
        }
    ]
    assert resources["aws_api_gateway_usage_plan_key"]["ingest"]["key_id"] == (
        "${aws_api_gateway_api_key.ingest.id}"
    )
    role = resources["aws_iam_role"]["redshift"]
    assert f"role/{role['name']}" in env["INGEST_REDSHIFT_IAM_ROLE"]
    trust = json.loads(role["assume_role_policy"])["Statement"][0]
    assert "redshift.amazonaws.com" in trust["Principal"]["Service"]
    access = json.loads(resources["aws_iam_role_policy"]["redshift"]["policy"])["Statement"]
    bucket = f"arn:aws:s3:::{env['INGEST_BUCKET']}"
    assert allowed(access, "s3:PutObject") == [f"{bucket}/backups/*"]
    assert sorted(allowed(access, "s3:GetObject")) == [
        f"{bucket}/backups/*",
        f"{bucket}/clean/*",
        f"{bucket}/manifests/*",
    ]
    assert extra["output"]["ApiKey"]["sensitive"] is True
    (cors,) = resources["aws_s3_bucket_cors_configuration"]["ingest"]["cors_rule"]
    assert cors["allowed_origins"] == [
        "https://${aws_api_gateway_rest_api.rest_api.id}.execute-api."
        "${data.aws_region.console.name}.amazonaws.com"
    ]
    assert sorted(cors["allowed_methods"]) == ["GET", "POST", "PUT"]
    assert cors["expose_headers"] == ["ETag"]  # the console reads each part's ETag
    assert "console" in extra["data"]["aws_region"]
    assert extra["output"]["ConsoleUrl"]["value"].startswith(cors["allowed_origins"][0] + "/")

    # The terraform block moved to versions.tf, with the newer pins.
    assert "terraform" not in patched
    versions = packages[stage]["versions"]
    assert f'required_version = "{terraform.TERRAFORM_VERSION}"' in versions
    assert f'version = "{terraform.AWS_PROVIDER_VERSION}"' in versions
    # Nothing invokes a stage function but its queue: the API, the sweep's schedule and the
    # Data API's completion rule only.
    assert sorted(
        p["principal"] for p in patched["resource"]["aws_lambda_permission"].values()
    ) == ["apigateway.amazonaws.com", "events.amazonaws.com", "events.amazonaws.com"]
    api = patched["resource"]["aws_api_gateway_rest_api"]["rest_api"]
    assert api["lifecycle"] == {"create_before_destroy": True}


def test_versions_tf_is_as_terraform_fmt_writes_it(packages: dict[str, dict[str, Any]]) -> None:
    binary = shutil.which("terraform")
    if binary is None:
        pytest.skip("terraform is not installed (docs/deploy.md, step 1)")
    for built in packages.values():
        subprocess.run(
            [binary, "fmt", "-check", "-diff", str(built["dir"] / "versions.tf")],
            check=True,
            capture_output=True,
            timeout=60,
        )


def test_read_stage_refuses_unknown_stages() -> None:
    with pytest.raises(SystemExit, match="no stage 'staging'"):
        terraform.read_stage(CONFIG, "staging")


def test_no_credentials_in_the_stage_config() -> None:
    text = (ROOT / ".chalice" / "config.json").read_text(encoding="utf-8")
    for env in map(env_of, STAGES):
        assert "INGEST_REDSHIFT_PASSWORD" not in env and "INGEST_API_KEY" not in env
    assert "AKIA" not in text and "aws_secret_access_key" not in text.lower()
