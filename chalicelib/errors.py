"""Every exception the project raises, under one base class.

Client errors carry an HTTP ``status_code`` that ``app.py`` maps to a JSON reply; everything else is
a server-side problem. Warehouse errors are split into transient (retry) and permanent (fail).
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class of every error raised by this project."""

    status_code = 500
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


class InvalidRequestError(IngestError):
    """The request is malformed: bad JSON, unknown table, bad parameter."""

    status_code = 400
    code = "invalid_request"


class UnauthorizedError(IngestError):
    """The request carries no API key."""

    status_code = 401
    code = "unauthorized"


class ForbiddenError(IngestError):
    """The request carries a wrong API key."""

    status_code = 403
    code = "forbidden"


class UploadNotFoundError(IngestError):
    """No upload has this id."""

    status_code = 404
    code = "not_found"


class BackupNotFoundError(IngestError):
    """No backup has this id, or the backup holds no such table."""

    status_code = 404
    code = "not_found"


class DuplicateUploadError(IngestError):
    """An upload with this id already exists."""

    status_code = 409
    code = "conflict"


class UploadStateError(IngestError):
    """The upload is in a state this request cannot act on (loaded, still running, cancelled)."""

    status_code = 409
    code = "conflict"


class PayloadTooLargeError(IngestError):
    """The request body is larger than this route accepts."""

    status_code = 413
    code = "payload_too_large"


class RowValidationError(IngestError):
    """Rows of user data break the table's schema."""

    status_code = 422
    code = "invalid_rows"


class BackupMismatchError(IngestError):
    """A backup's files do not hold the rows its record says; nothing was restored."""

    status_code = 422
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


class UnsafeIdentifierError(IngestError):
    """An identifier or literal would have to be escaped; only plain names reach SQL."""


class StateTransitionError(IngestError):
    """A stage tried a move the upload state machine does not allow."""


class UnreadableFileError(IngestError):
    """A raw file is not CSV text the pipeline reads (a workbook, an archive, a PDF...)."""

    status_code = 422
    code = "unreadable_file"
