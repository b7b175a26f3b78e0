"""CloudFormation's intrinsic functions as plain dicts, and the names every part of the template
shares (the bucket's, derived from the account and region the stack is created in).

Owns nothing but spelling: no resource is defined here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deploy.stage import Stage

Json = dict[str, Any]
PARTITION = "${AWS::Partition}"
ACCOUNT = "${AWS::AccountId}"
REGION = "${AWS::Region}"


def sub(text: str) -> Json:
    """``Fn::Sub``. An IAM policy variable inside it must be written ``${!aws:userid}``."""
    return {"Fn::Sub": text}


def ref(name: str) -> Json:
    return {"Ref": name}


def get_att(resource: str, attribute: str) -> Json:
    return {"Fn::GetAtt": [resource, attribute]}


def bucket_name(stage: Stage) -> str:
    """The bucket's name as an ``Fn::Sub`` string: bucket names are global, so the account and
    region are part of it. Spelt out rather than ``Ref Bucket`` so the functions' settings and
    policies do not depend on the bucket, whose CORS rule depends on the API."""
    return f"{stage.prefix}-{ACCOUNT}-{REGION}"


def bucket_arn(stage: Stage, suffix: str = "") -> Json:
    return sub(f"arn:{PARTITION}:s3:::{bucket_name(stage)}{suffix}")


def arn(service: str, resource: str, *, region: bool = True, account: bool = True) -> Json:
    """``arn:<partition>:<service>:<region>:<account>:<resource>`` of the stack's account."""
    return sub(
        f"arn:{PARTITION}:{service}:{REGION if region else ''}:{ACCOUNT if account else ''}:"
        f"{resource}"
    )
