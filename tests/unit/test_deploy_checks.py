"""checkov's rules for the resources ``make package`` generates, held here, run over the whole
generated Terraform of every stage (chalice.tf.json and ingest.tf.json), plus the project's own.

checkov itself cannot be installed beside the project's pinned packages (it pins an older
boto3), so the rules it applies to these resource types are restated below under checkov's ids.
Every finding must be listed as accepted, with its reason, in docs/deploy.md; every accepted
finding listed there must still be found (a fixed one is taken off the list).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable
from typing import Any

from tests.unit.conftest import ROOT

Resources = dict[str, dict[str, Any]]
ENI = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}
DEPRECATED_RUNTIMES = {"python2.7", "python3.6", "python3.7", "python3.8"}
SECRET_VALUE = re.compile(r"AKIA[0-9A-Z]{16}|-----BEGIN|aws_secret_access_key", re.IGNORECASE)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _attached(resources: Resources, kind: str) -> list[dict[str, Any]]:
    """The companions (versioning, logging...) that point at the stage bucket."""
    return [r for r in resources.get(kind, {}).values() if "aws_s3_bucket.ingest" in r["bucket"]]


def _statements(policy: str) -> list[dict[str, Any]]:
    return list(json.loads(policy)["Statement"])


def _tls_only(resources: Resources) -> bool:
    for policy in _attached(resources, "aws_s3_bucket_policy"):
        for s in _statements(policy["policy"]):
            tls = s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
            if s["Effect"] == "Deny" and tls == "false" and len(_list(s["Resource"])) == 2:
                return True
    return False


def _no_wildcards(policy: dict[str, Any]) -> bool:
    for s in _statements(policy["policy"]):
        actions = set(_list(s["Action"]))
        if s["Effect"] != "Allow":
            continue
        if any(a == "*" or a.endswith(":*") for a in actions):
            return False
        if "*" in _list(s["Resource"]) and not actions <= ENI:
            return False
    return True


def _has_alarm(resources: Resources, metric: str, value: str) -> bool:
    return any(
        a["metric_name"] == metric and value in a.get("dimensions", {}).values()
        for a in resources.get("aws_cloudwatch_metric_alarm", {}).values()
    )


BucketRule = Callable[[dict[str, Any], Resources], bool]
BUCKET_RULES: dict[str, BucketRule] = {
    "CKV_AWS_21": lambda _, r: any(
        v["versioning_configuration"][0]["status"] == "Enabled"
        for v in _attached(r, "aws_s3_bucket_versioning")
    ),
    "CKV2_AWS_61": lambda _, r: bool(_attached(r, "aws_s3_bucket_lifecycle_configuration")),
    "CKV_AWS_300": lambda _, r: any(
        "abort_incomplete_multipart_upload" in rule
        for c in _attached(r, "aws_s3_bucket_lifecycle_configuration")
        for rule in c["rule"]
    ),
    "CKV2_AWS_62": lambda _, r: bool(_attached(r, "aws_s3_bucket_notification")),
    "CKV2_AWS_6": lambda _, r: any(
        all(p[k] is True for k in ("block_public_acls", "block_public_policy"))
        and all(p[k] is True for k in ("ignore_public_acls", "restrict_public_buckets"))
        for p in _attached(r, "aws_s3_bucket_public_access_block")
    ),
    "CKV_AWS_19": lambda _, r: bool(
        _attached(r, "aws_s3_bucket_server_side_encryption_configuration")
    ),
    "CKV_AWS_145": lambda _, r: any(
        rule["apply_server_side_encryption_by_default"][0]["sse_algorithm"] == "aws:kms"
        for c in _attached(r, "aws_s3_bucket_server_side_encryption_configuration")
        for rule in c["rule"]
    ),
    "CKV_AWS_18": lambda _, r: bool(_attached(r, "aws_s3_bucket_logging")),
    "CKV_AWS_144": lambda _, r: bool(_attached(r, "aws_s3_bucket_replication_configuration")),
    "INGEST_TLS_ONLY": lambda _, r: _tls_only(r),
}
Rule = Callable[[dict[str, Any], Resources], bool]
RULES: dict[str, dict[str, Rule]] = {
    "aws_s3_bucket": BUCKET_RULES,
    "aws_sqs_queue": {
        "CKV_AWS_27": lambda q, _: (
            bool(q.get("sqs_managed_sse_enabled")) or "kms_master_key_id" in q
        ),
        # A stage queue dead-letters; a dead-letter queue is its own end.
        "INGEST_REDRIVE": lambda q, _: q["name"].endswith("-dlq") or "redrive_policy" in q,
        "INGEST_DLQ_ALARM": lambda q, r: (
            not q["name"].endswith("-dlq")
            or _has_alarm(r, "ApproximateNumberOfMessagesVisible", q["name"])
        ),
    },
    "aws_lambda_function": {
        "CKV_AWS_50": lambda f, _: (
            f.get("tracing_config", {}).get("mode") in ("Active", "PassThrough")
        ),
        "CKV_AWS_116": lambda f, _: "dead_letter_config" in f,
        "CKV_AWS_117": lambda f, _: "vpc_config" in f,
        "CKV_AWS_115": lambda f, _: "reserved_concurrent_executions" in f,
        "CKV_AWS_272": lambda f, _: "code_signing_config_arn" in f,
        "CKV_AWS_173": lambda f, _: "kms_key_arn" in f or not f.get("environment"),
        "CKV_AWS_45": lambda f, _: (
            not any(
                SECRET_VALUE.search(str(v))
                for v in f.get("environment", {}).get("variables", {}).values()
            )
        ),
        "CKV_AWS_363": lambda f, _: f["runtime"] not in DEPRECATED_RUNTIMES,
        "INGEST_LOG_GROUP": lambda f, r: any(
            g["name"] == f"/aws/lambda/{f['function_name']}" and g.get("retention_in_days")
            for g in r.get("aws_cloudwatch_log_group", {}).values()
        ),
        "INGEST_ALARMS": lambda f, r: (
            _has_alarm(r, "Errors", f["function_name"])
            and _has_alarm(r, "Throttles", f["function_name"])
        ),
    },
    "aws_cloudwatch_log_group": {
        "CKV_AWS_66": lambda g, _: bool(g.get("retention_in_days")),
        "CKV_AWS_338": lambda g, _: g.get("retention_in_days", 0) >= 365,
        "CKV_AWS_158": lambda g, _: "kms_key_id" in g,
    },
    "aws_sns_topic": {"CKV_AWS_26": lambda t, _: "kms_master_key_id" in t},
    "aws_iam_role_policy": {"INGEST_NO_WILDCARD": lambda p, _: _no_wildcards(p)},
    "aws_api_gateway_rest_api": {
        "CKV_AWS_237": lambda a, _: a.get("lifecycle", {}).get("create_before_destroy") is True
    },
}


def findings(resources: Resources) -> set[tuple[str, str]]:
    """(rule id, resource address) of every rule a resource fails."""
    failed = set()
    for kind, rules in RULES.items():
        for name, resource in resources.get(kind, {}).items():
            for rule_id, passes in rules.items():
                if not passes(resource, resources):
                    failed.add((rule_id, f"{kind}.{name}"))
    return failed


def accepted() -> list[tuple[str, str, str]]:
    """(rule id, resource pattern, reason) rows of docs/deploy.md's accepted findings."""
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = text.split("## Accepted checkov findings", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \| `([^`]+)` \| (.+?) \|$", section, re.MULTILINE)
    return [(rule, pattern, reason.strip()) for rule, pattern, reason in rows]


def _all(package: dict[str, Any]) -> Resources:
    merged: Resources = {}
    for part in (package["chalice"], package["extra"]):
        for kind, named in part["resource"].items():
            merged.setdefault(kind, {}).update(named)
    return merged


def test_every_finding_is_accepted_with_a_reason_and_every_accepted_one_is_found(
    packages: dict[str, dict[str, Any]],
) -> None:
    rows = accepted()
    assert rows, "docs/deploy.md lists no accepted findings"
    assert all(len(reason) > 20 for _, _, reason in rows)
    found = {stage: findings(_all(package)) for stage, package in packages.items()}
    unaccepted = {
        stage: sorted(
            f
            for f in failed
            if not any(f[0] == r and fnmatch.fnmatchcase(f[1], p) for r, p, _ in rows)
        )
        for stage, failed in found.items()
    }
    assert unaccepted == {stage: [] for stage in packages}
    every = set().union(*found.values())
    stale = [
        (r, p)
        for r, p, _ in rows
        if not any(f[0] == r and fnmatch.fnmatchcase(f[1], p) for f in every)
    ]
    assert stale == []


def test_the_rules_catch_what_they_are_about(packages: dict[str, dict[str, Any]]) -> None:
    resources = json.loads(json.dumps(_all(packages["prod"])))
    before = findings(resources)
    del resources["aws_s3_bucket_policy"]
    resources["aws_sqs_queue"]["load"].pop("redrive_policy")
    resources["aws_cloudwatch_log_group"].pop("on_chunk_created")
    policy = resources["aws_iam_role_policy"]["on_raw_created_role"]
    document = json.loads(policy["policy"])
    document["Statement"].append({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    policy["policy"] = json.dumps(document)
    assert findings(resources) - before == {
        ("INGEST_TLS_ONLY", "aws_s3_bucket.ingest"),
        ("INGEST_REDRIVE", "aws_sqs_queue.load"),
        ("INGEST_LOG_GROUP", "aws_lambda_function.on_chunk_created"),
        ("INGEST_NO_WILDCARD", "aws_iam_role_policy.on_raw_created_role"),
    }
