"""What the Data API stand-in refuses before running anything, as the Redshift Data API does.

Owns checking a request against botocore's own service model of ``redshift-data`` (required
members, types, lengths, list sizes, ranges, enums, patterns), the documented limits (a
statement of at most 100 KB, 40 statements a batch, 200 active statements, 64 KB a result row),
the combinations of authentication parameters the API reference allows, and whether those name
this engine (its cluster, database and user). ``data_service.py`` runs what passes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import botocore.session

# Considerations when calling the Amazon Redshift Data API (data-api.html): the maximum query
# statement size is 100 KB; a cluster runs at most 200 active (SUBMITTED or STARTED) queries.
# Troubleshooting (data-api-troubleshooting.html): 64 KB a row of a result set.
DATA_API_DOC = "https://docs.aws.amazon.com/redshift/latest/mgmt/data-api.html"
MAX_SQL_BYTES = 100 * 1024
MAX_ACTIVE = 200
MAX_ROW_BYTES = 64 * 1024


class ApiError(Exception):
    """An error reply: the Data API's exception name and message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind, self.message = kind, message


@dataclass(frozen=True)
class Identity:
    """What this engine is to the Data API: its cluster (or workgroup), database and user, and
    the Secrets Manager ARNs that stand for that user."""

    cluster_identifier: str
    database: str
    user: str
    workgroup: str = ""
    secret_arns: frozenset[str] = field(default_factory=frozenset)


_MODEL: Any = None


def _model() -> Any:
    global _MODEL  # noqa: PLW0603 - loaded once, read-only after
    if _MODEL is None:
        _MODEL = botocore.session.get_session().get_service_model("redshift-data")
    return _MODEL


def validate(operation: str, request: dict[str, Any]) -> None:
    """Check ``request`` against the operation's input shape in botocore's model.

    Raises:
        ApiError: UnknownOperationException, or ValidationException naming the member.
    """
    model = _model()
    if operation not in model.operation_names:
        raise ApiError("UnknownOperationException", f"{operation} is not an operation")
    _check(model.operation_model(operation).input_shape, request, "")


def _fail(path: str, why: str) -> ApiError:
    return ApiError("ValidationException", f"1 validation error detected: Value at '{path}' {why}")


def _check(shape: Any, value: Any, path: str) -> None:
    if shape.type_name == "structure":
        _check_structure(shape, value, path)
    elif shape.type_name == "list":
        where = path.rstrip(".")
        if not isinstance(value, list):
            raise _fail(where, "must be a list")
        _bounds(where, len(value), shape.metadata, "Member must have length")
        for n, item in enumerate(value, start=1):
            _check(shape.member, item, f"{where}.{n}.")
    else:
        _check_scalar(shape.type_name, shape.metadata, value, path.rstrip("."))


def _check_structure(shape: Any, value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise _fail(path, "must be a structure")
    for name in shape.required_members:
        if name not in value:
            raise _fail(f"{path}{name}", "failed to satisfy constraint: Member must not be null")
    for name, member in value.items():
        if name not in shape.members:
            raise ApiError("ValidationException", f"Unknown parameter {path}{name}")
        _check(shape.members[name], member, f"{path}{name}.")


def _check_scalar(kind: str, meta: dict[str, Any], value: Any, where: str) -> None:
    if kind == "string":
        if not isinstance(value, str):
            raise _fail(where, "must be a string")
        _bounds(where, len(value), meta, "Member must have length")
        if "enum" in meta and value not in meta["enum"]:
            raise _fail(
                where, f"failed to satisfy constraint: Member must be one of {meta['enum']}"
            )
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
            raise _fail(where, f"failed to satisfy constraint: Member must match {meta['pattern']}")
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            raise _fail(where, "must be an integer")
        _bounds(where, value, meta, "Member must be")
    elif kind == "boolean" and not isinstance(value, bool):
        raise _fail(where, "must be a boolean")


def _bounds(path: str, size: int, meta: dict[str, Any], what: str) -> None:
    if "min" in meta and size < meta["min"]:
        raise _fail(
            path, f"failed to satisfy constraint: {what} greater than or equal to {meta['min']}"
        )
    if "max" in meta and size > meta["max"]:
        raise _fail(
            path, f"failed to satisfy constraint: {what} less than or equal to {meta['max']}"
        )


def check_statements(sqls: list[str]) -> None:
    """The documented size limit of each statement.

    Raises:
        ApiError: a statement larger than 100 KB.
    """
    for sql in sqls:
        if len(sql.encode()) > MAX_SQL_BYTES:
            raise ApiError("ValidationException", "Cannot process query string larger than 100kB")


def check_target(request: dict[str, Any], identity: Identity) -> None:
    """The authentication parameters in one of the combinations the API reference lists, and
    naming this engine: Secrets Manager (SecretArn, with the cluster or workgroup), temporary
    credentials as a database user (ClusterIdentifier and DbUser), or as the IAM identity
    (ClusterIdentifier or WorkgroupName alone).

    Raises:
        ApiError: ValidationException for a combination AWS refuses, ResourceNotFoundException
            (or ValidationException) for a cluster, workgroup, database or user that is not
            this engine's.
    """
    cluster, workgroup = request.get("ClusterIdentifier"), request.get("WorkgroupName")
    secret, user = request.get("SecretArn"), request.get("DbUser")
    if bool(cluster) == bool(workgroup):
        raise ApiError(
            "ValidationException", "Either ClusterIdentifier or WorkgroupName must be specified"
        )
    if secret and user:
        raise ApiError("ValidationException", "SecretArn and DbUser cannot both be specified")
    if workgroup and user:
        raise ApiError("ValidationException", "DbUser is not supported with WorkgroupName")
    if cluster and cluster != identity.cluster_identifier:
        raise ApiError("ValidationException", f"Redshift cluster {cluster} doesn't exist")
    if workgroup and workgroup != identity.workgroup:
        raise ApiError("ResourceNotFoundException", f"Workgroup {workgroup} doesn't exist")
    if not request.get("Database"):
        raise ApiError("ValidationException", "Database must be specified")
    if request["Database"] != identity.database:
        raise ApiError(
            "ValidationException", f'FATAL: database "{request["Database"]}" does not exist'
        )
    if user and user != identity.user:
        raise ApiError("ValidationException", f'FATAL: user "{user}" does not exist')
    if secret and secret not in identity.secret_arns:
        raise ApiError(
            "ValidationException", f"Secrets Manager can't find the specified secret {secret}"
        )


def fingerprint(request: dict[str, Any]) -> str:
    """The request less its ClientToken, to compare two uses of one token."""
    return json.dumps({k: v for k, v in request.items() if k != "ClientToken"}, sort_keys=True)


def check_row(row: list[dict[str, Any]]) -> None:
    """Raises ApiError: a result row larger than 64 KB."""
    if len(json.dumps(row)) > MAX_ROW_BYTES:
        raise ApiError("ValidationException", "Packet for query is too large")
