"""The HTTP boundary: each error's status is chosen here, once, and 5xx keep their message."""

from __future__ import annotations

import pytest
from chalice.app import Request

from chalicelib import errors
from chalicelib.api import boundary


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.InvalidRequestError, 400),
        (errors.UnauthorizedError, 401),
        (errors.ForbiddenError, 403),
        (errors.UploadNotFoundError, 404),
        (errors.BackupNotFoundError, 404),
        (errors.DuplicateUploadError, 409),
        (errors.UploadStateError, 409),
        (errors.PayloadTooLargeError, 413),
        (errors.RowValidationError, 422),
        (errors.BackupMismatchError, 422),
        (errors.UnreadableFileError, 422),
        (errors.TransientWarehouseError, 500),
        (errors.PermanentWarehouseError, 500),
        (errors.ConfigError, 500),
        (errors.IngestError, 500),
    ],
)
def test_boundary_status_of_each_error(error: type[errors.IngestError], status: int) -> None:
    assert boundary.status_of(error) == status


def test_boundary_subclass_takes_its_parents_status() -> None:
    class NarrowerError(errors.UploadNotFoundError):
        """A narrower kind of missing upload."""

    assert boundary.status_of(NarrowerError) == 404


def test_boundary_error_reply_carries_code_and_message() -> None:
    reply = boundary.error_reply(errors.UploadStateError("upload x is loaded", upload_id="x"))
    assert reply is not None and reply.status_code == 409
    assert reply.body == {"error": {"code": "conflict", "message": "upload x is loaded"}}


def test_boundary_server_faults_are_left_to_raise() -> None:
    assert boundary.error_reply(errors.TransientWarehouseError("connection refused")) is None


def test_boundary_client_error_codes_are_those_of_4xx_errors_only() -> None:
    codes = set(boundary.CLIENT_ERROR_CODES)
    assert {"invalid_request", "not_found", "conflict", "unreadable_file"} <= codes
    assert "warehouse_unavailable" not in codes and "internal_error" not in codes


def _request(headers: dict[str, str]) -> Request:
    return Request(
        {
            "multiValueQueryStringParameters": None,
            "headers": headers,
            "pathParameters": None,
            "requestContext": {"httpMethod": "GET", "resourcePath": "/api/v1/uploads"},
            "body": None,
            "isBase64Encoded": False,
            "stageVariables": None,
        }
    )


@pytest.mark.parametrize(
    ("headers", "expected", "required", "status"),
    [
        ({}, "k", False, 401),
        ({"x-api-key": "wrong"}, "k", False, 403),
        ({"x-api-key": "k"}, "k", False, None),
        ({}, None, False, None),  # no key set: nothing to check against
        ({"x-api-key": "k"}, None, True, 403),  # required but unset: refused
    ],
)
def test_boundary_key_refusal(
    headers: dict[str, str], expected: str | None, required: bool, status: int | None
) -> None:
    refused = boundary.key_refusal(_request(headers), expected, required=required)
    assert (refused.status_code if refused is not None else None) == status
    if refused is not None:
        expected_code = "unauthorized" if status == 401 else "forbidden"
        assert refused.body["error"]["code"] == expected_code
