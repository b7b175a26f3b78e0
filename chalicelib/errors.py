"""Every exception the project raises, under one base class.

Errors say what went wrong in the domain's terms: the input is at fault (``InputError``: fix it,
retrying it unchanged fails the same way), something is missing or busy, or the warehouse failed
for a while (transient: retry) or for good (permanent: fail). Which HTTP status a reply carries is
the API boundary's choice (``api/boundary.py``), never the error's.
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class of every error raised by this project."""

    # A stable name for the kind of error, shown to clients in error replies.
    code = "internal_error"

    def __init__(self, message: str, **fields: object) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields


class ConfigError(IngestError):
    """A setting is missing or malformed; raised at cold start."""

    code = "config_error"


class InvalidSchemaError(IngestError):
    """A bundled table schema is not valid JSON Schema (a deploy bug, not user data)."""

    code = "invalid_schema"


class EventFormatError(IngestError):
    """A queue message is not the S3 notification its handler expects."""

    code = "event_format"


class UnsafeIdentifierError(IngestError):
    """An identifier or literal would have to be escaped; only plain names reach SQL."""


class StateTransitionError(IngestError):
    """A stage tried a move the upload state machine does not allow."""


class InputError(IngestError):
    """What was sent is at fault: fixing it is the remedy, retrying it unchanged is not."""


class InvalidRequestError(InputError):
    """The request is malformed: bad JSON, unknown table, bad parameter."""

    code = "invalid_request"


class PayloadTooLargeError(InputError):
    """The request body is larger than this route accepts."""

    code = "payload_too_large"


class RowValidationError(InputError):
    """Rows of user data break the table's schema."""

    code = "invalid_rows"


class UnreadableFileError(InputError):
    """A raw file is not CSV text the pipeline reads (a workbook, an archive, a PDF...)."""

    code = "unreadable_file"


class UnauthorizedError(IngestError):
    """The request carries no API key."""

    code = "unauthorized"


class ForbiddenError(IngestError):
    """The request carries a wrong API key."""

    code = "forbidden"


class UploadNotFoundError(IngestError):
    """No upload has this id."""

    code = "not_found"


class BackupNotFoundError(IngestError):
    """No backup has this id, or the backup holds no such table."""

    code = "not_found"


class DuplicateUploadError(IngestError):
    """An upload with this id already exists."""

    code = "conflict"


class UploadStateError(IngestError):
    """The upload is in a state this request cannot act on (loaded, still running, cancelled)."""

    code = "conflict"


class BackupMismatchError(IngestError):
    """A backup's files do not hold the rows its record says; nothing was restored."""

    code = "backup_mismatch"


class WarehouseError(IngestError):
    """The warehouse refused or failed a statement."""

    code = "warehouse_error"


class TransientWarehouseError(WarehouseError):
    """The warehouse failed in a way a retry may fix (connection, lock, serialization)."""

    code = "warehouse_unavailable"


class SerializationConflictError(TransientWarehouseError):
    """The warehouse aborted a transaction that conflicted with a concurrent one; rerun it."""

    code = "warehouse_conflict"


class PermanentWarehouseError(WarehouseError):
    """The warehouse rejected the work; retrying the same input fails again."""

    code = "warehouse_rejected"
