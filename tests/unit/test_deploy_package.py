"""The deployable package: stage settings, least-privilege policies and the extra Terraform.

Reads ``.chalice/config.json`` and ``.chalice/policy-<stage>.json`` as they are committed, so a
setting added to one and not the other fails here rather than in AWS. Runs no Chalice and no
Terraform (``make package`` does; docs/deploy.md).
"""

from __future__ import annotations

import fnmatch
import json
from pathlib import Path
from typing import Any

import pytest

from chalicelib import keys
from chalicelib.config import Settings
from deploy import terraform

ROOT = Path(__file__).resolve().parents[2]
CONFIG = json.loads((ROOT / ".chalice" / "config.json").read_text(encoding="utf-8"))
STAGES = sorted(CONFIG["stages"])
# Every prefix the stages write (keys.py); backups/ is only read (Redshift's UNLOAD writes it).
WRITTEN = (
    keys.RAW,
    keys.CHUNKS,
    keys.CLEAN,
    keys.REJECTED,
    keys.UPLOADS,
    keys.MANIFESTS,
    keys.LOADS,
)
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


def policy_of(stage: str) -> list[dict[str, Any]]:
    name = CONFIG["stages"][stage]["iam_policy_file"]
    assert name == f"policy-{stage}.json"
    document = json.loads((ROOT / ".chalice" / name).read_text(encoding="utf-8"))
    return list(document["Statement"])


def allowed(statements: list[dict[str, Any]], action: str) -> list[str]:
    """The resources ``action`` is allowed on."""
    found: list[str] = []
    for statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        if action in actions:
            resources = statement["Resource"]
            found += resources if isinstance(resources, list) else [resources]
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


@pytest.mark.parametrize("stage", STAGES)
def test_policy_touches_only_the_stage_bucket_prefixes(stage: str) -> None:
    statements = policy_of(stage)
    bucket = f"arn:aws:s3:::{env_of(stage)['INGEST_BUCKET']}"
    assert sorted(allowed(statements, "s3:PutObject")) == sorted(f"{bucket}/{p}*" for p in WRITTEN)
    assert sorted(allowed(statements, "s3:GetObject")) == sorted(
        f"{bucket}/{p}*" for p in (*WRITTEN, "backups/")
    )
    # Without ListBucket a missing key is a 403, not the 404 that storage.get_json expects.
    assert allowed(statements, "s3:ListBucket") == [bucket]
    for statement in statements:
        actions = (
            statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        )
        assert statement["Effect"] == "Allow"
        assert not any(a.endswith("*") for a in actions), statement
        if statement["Resource"] == "*":
            assert set(actions) <= ENI, statement  # ENI actions take no resource ARN


@pytest.mark.parametrize("stage", STAGES)
def test_policy_grants_exactly_the_credentials_the_auth_mode_uses(stage: str) -> None:
    env, statements = env_of(stage), policy_of(stage)
    secrets = allowed(statements, "secretsmanager:GetSecretValue")
    cluster_creds = allowed(statements, "redshift:GetClusterCredentials")
    if env["INGEST_REDSHIFT_AUTH"] == "secret":
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
    in_vpc = any("subnet_ids" in f for f in CONFIG["stages"][stage]["lambda_functions"].values())
    assert bool(allowed(statements, "ec2:CreateNetworkInterface")) == in_vpc


def chalice_like(bucket: str) -> dict[str, Any]:
    """The parts of Chalice's chalice.tf.json that the patch looks at."""
    return {
        "terraform": {"required_version": ">= 0.12.26, < 1.4.0", "required_providers": {}},
        "resource": {
            "aws_s3_bucket_notification": {f"{bucket}_notify": {"bucket": bucket}},
            "aws_lambda_permission": {
                "on_raw_created-s3event": {"principal": "s3.amazonaws.com"},
                "rest_api_invoke": {"principal": "apigateway.amazonaws.com"},
            },
        },
    }


@pytest.mark.parametrize("stage", STAGES)
def test_extra_terraform_has_what_chalice_leaves_out(stage: str, tmp_path: Path) -> None:
    env = env_of(stage)
    info = terraform.read_stage(CONFIG, stage)
    (tmp_path / "chalice.tf.json").write_text(json.dumps(chalice_like(info.bucket)))

    terraform.write(info, tmp_path)
    extra = json.loads((tmp_path / "ingest.tf.json").read_text())
    patched = json.loads((tmp_path / "chalice.tf.json").read_text())

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

    assert patched["terraform"]["required_version"] == terraform.TERRAFORM_VERSION
    notification = patched["resource"]["aws_s3_bucket_notification"][f"{info.bucket}_notify"]
    assert notification["depends_on"] == [
        "aws_s3_bucket.ingest",
        "aws_lambda_permission.on_raw_created-s3event",
    ]


def test_read_stage_refuses_unknown_stages() -> None:
    with pytest.raises(SystemExit, match="no stage 'staging'"):
        terraform.read_stage(CONFIG, "staging")


def test_no_credentials_in_the_stage_config() -> None:
    text = (ROOT / ".chalice" / "config.json").read_text(encoding="utf-8")
    for env in map(env_of, STAGES):
        assert "INGEST_REDSHIFT_PASSWORD" not in env and "INGEST_API_KEY" not in env
    assert "AKIA" not in text and "aws_secret_access_key" not in text.lower()
