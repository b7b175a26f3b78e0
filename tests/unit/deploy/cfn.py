"""A deployed template's values without deploying it: CloudFormation's intrinsic functions
resolved against a stand-in account, region, parameters and resources, so tests can read the
policies, names and settings a stack would get."""

from __future__ import annotations

import re
from typing import Any

ACCOUNT = "210987654321"
REGION = "eu-west-1"
PSEUDO = {
    "AWS::AccountId": ACCOUNT,
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::StackName": "csv-ingest",
}
_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


def attribute(resource: str, name: str) -> str:
    """A stand-in value of ``Fn::GetAtt [resource, name]``."""
    if name == "RoleId":
        return f"AROA{resource.upper()[:12]}"
    if name == "Arn" and resource.endswith("Role"):
        return f"arn:aws:iam::{ACCOUNT}:role/{resource}"
    if name == "Arn" and resource.endswith("Queue"):
        return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{resource}"
    if name == "Arn":
        return f"arn:aws:test:{REGION}:{ACCOUNT}:{resource}"
    return f"{resource}.{name}"


def resolve(value: Any, parameters: dict[str, str] | None = None) -> Any:
    """``value`` with every Ref, Fn::GetAtt and Fn::Sub replaced (a Ref to a resource gives its
    logical id); ``${!x}`` in Fn::Sub becomes the literal ``${x}``, as CloudFormation writes it."""
    given = {**PSEUDO, **(parameters or {})}
    if isinstance(value, list):
        return [resolve(v, parameters) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Ref"}:
        return given.get(value["Ref"], value["Ref"])
    if set(value) == {"Fn::GetAtt"}:
        return attribute(*value["Fn::GetAtt"])
    if set(value) == {"Fn::Sub"}:
        text = value["Fn::Sub"]

        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in given:
                return given[name]
            if "." in name:
                return attribute(*name.split(".", 1))
            return name

        return _VARIABLE.sub(one, text).replace("${!", "${")
    return {k: resolve(v, parameters) for k, v in value.items()}
