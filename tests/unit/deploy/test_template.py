"""cfn-lint, AWS's CloudFormation linter, over every stage's template, and the project's own rules.

cfn-lint runs with its informational checks too; every finding must be listed as accepted, with
its reason, in docs/deploy.md ("Accepted cfn-lint findings"), and every accepted finding must
still be found (a fixed one is taken off the list). The project's own rules: TLS only, a redrive
policy on every stage queue, an alarm on every dead-letter queue, a log group with retention and
Errors and Throttles alarms for every function, and no wildcard in a role's policy.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file

from tests.unit.conftest import ROOT
from tests.unit.deploy.cfn import resolve

Resources = dict[str, dict[str, Any]]
ENI = {
    "ec2:CreateNetworkInterface",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DeleteNetworkInterface",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
}
DATA_API_READS = {"redshift-data:DescribeStatement", "redshift-data:GetStatementResult"}
# The regions the template is checked for (resource types and properties differ by region).
REGIONS = ["us-east-1", "eu-west-1", "ap-southeast-2"]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def lint(package: dict[str, Any]) -> set[tuple[str, str]]:
    """(rule id, logical id) of every cfn-lint finding, informational ones included."""
    matches = lint_file(
        package["dir"] / "template.json", config=ManualArgs(regions=REGIONS, include_checks=["I"])
    )
    found = set()
    for match in matches:
        path = list(getattr(match, "path", None) or [])
        where = str(path[1]) if len(path) > 1 and path[0] == "Resources" else "(template)"
        found.add((match.rule.id, where))
    return found


def accepted() -> list[tuple[str, str, str]]:
    """(rule id, resource pattern, reason) rows of docs/deploy.md's accepted findings."""
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    section = text.split("## Accepted cfn-lint findings", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z0-9]+)` \| `([^`]+)` \| (.+?) \|$", section, re.MULTILINE)
    return [(rule, pattern, reason.strip()) for rule, pattern, reason in rows]


@pytest.mark.slow
def test_every_cfn_lint_finding_is_accepted_with_a_reason_and_every_accepted_one_is_found(
    packages: dict[str, dict[str, Any]],
) -> None:
    rows = accepted()
    assert all(len(reason) > 20 for _, _, reason in rows)
    found = {stage: lint(package) for stage, package in packages.items()}
    errors = {s: sorted(f for f in fs if f[0][0] in "EW") for s, fs in found.items()}
    assert errors == {s: [] for s in packages}  # errors and warnings are never accepted
    unaccepted = {
        stage: sorted(
            f for f in fs if not any(f[0] == r and fnmatch.fnmatchcase(f[1], p) for r, p, _ in rows)
        )
        for stage, fs in found.items()
    }
    assert unaccepted == {stage: [] for stage in packages}
    every = set().union(*found.values())
    stale = [
        (r, p)
        for r, p, _ in rows
        if not any(f[0] == r and fnmatch.fnmatchcase(f[1], p) for f in every)
    ]
    assert stale == []


def _of(resources: Resources, kind: str) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in resources.items() if r["Type"] == kind}


def _alarmed(resources: Resources, metric: str, value: str) -> bool:
    return any(
        a["Properties"]["MetricName"] == metric
        and value in [d["Value"] for d in a["Properties"].get("Dimensions", [])]
        for a in _of(resources, "AWS::CloudWatch::Alarm").values()
    )


def _tls_only(resources: Resources) -> bool:
    for policy in _of(resources, "AWS::S3::BucketPolicy").values():
        for s in policy["Properties"]["PolicyDocument"]["Statement"]:
            tls = s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport")
            if s["Effect"] == "Deny" and tls == "false" and len(_list(s["Resource"])) == 2:
                return True
    return False


def _no_wildcards(role: dict[str, Any]) -> bool:
    for policy in role["Properties"]["Policies"]:
        for s in resolve(policy["PolicyDocument"])["Statement"]:
            actions = set(_list(s["Action"]))
            if any(a == "*" or a.endswith(":*") for a in actions):
                return False
            if "*" in _list(s["Resource"]) and not (
                actions <= ENI or (actions <= DATA_API_READS and "Condition" in s)
            ):
                return False
    return True


Rule = Callable[[str, dict[str, Any], Resources], bool]
RULES: dict[str, dict[str, Rule]] = {
    "AWS::S3::Bucket": {"INGEST_TLS_ONLY": lambda _, __, r: _tls_only(r)},
    "AWS::SQS::Queue": {
        # A stage queue dead-letters; a dead-letter queue (or the failed-events one) is its end.
        "INGEST_REDRIVE": lambda n, q, _: (
            "RedrivePolicy" in q["Properties"]
            or n.endswith("DeadLetterQueue")
            or n == "FailedEventsQueue"
        ),
        "INGEST_DLQ_ALARM": lambda n, q, r: (
            "RedrivePolicy" in q["Properties"]
            or _alarmed(r, "ApproximateNumberOfMessagesVisible", q["Properties"]["QueueName"])
        ),
    },
    "AWS::Serverless::Function": {
        "INGEST_LOG_GROUP": lambda _, f, r: any(
            g["Properties"]["LogGroupName"] == f"/aws/lambda/{f['Properties']['FunctionName']}"
            and g["Properties"].get("RetentionInDays")
            for g in _of(r, "AWS::Logs::LogGroup").values()
        ),
        "INGEST_ALARMS": lambda _, f, r: (
            _alarmed(r, "Errors", f["Properties"]["FunctionName"])
            and _alarmed(r, "Throttles", f["Properties"]["FunctionName"])
        ),
    },
    "AWS::IAM::Role": {"INGEST_NO_WILDCARD": lambda _, role, __: _no_wildcards(role)},
}


def findings(resources: Resources) -> set[tuple[str, str]]:
    failed = set()
    for kind, rules in RULES.items():
        for name, resource in _of(resources, kind).items():
            for rule_id, passes in rules.items():
                if not passes(name, resource, resources):
                    failed.add((rule_id, name))
    return failed


def test_the_projects_own_rules_hold_and_catch_what_they_are_about(
    packages: dict[str, dict[str, Any]],
) -> None:
    for package in packages.values():
        assert findings(package["template"]["Resources"]) == set()
    resources = json.loads(json.dumps(packages["prod"]["template"]["Resources"]))
    del resources["BucketPolicy"]
    resources["LoadQueue"]["Properties"].pop("RedrivePolicy")
    del resources["OnChunkCreatedLogGroup"]
    policy = resources["OnRawCreatedRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    policy["Statement"].append({"Effect": "Allow", "Action": "s3:*", "Resource": "*"})
    assert findings(resources) == {
        ("INGEST_TLS_ONLY", "Bucket"),
        ("INGEST_REDRIVE", "LoadQueue"),
        ("INGEST_DLQ_ALARM", "LoadQueue"),
        ("INGEST_LOG_GROUP", "OnChunkCreated"),
        ("INGEST_NO_WILDCARD", "OnRawCreatedRole"),
    }
