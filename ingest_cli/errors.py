"""Every error the client reports, each with the exit code it ends the command with.

The client is distributed apart from the Lambda code, so its errors live here rather than
under ``chalicelib.errors.IngestError``. A ``CliError`` is printed as one line (plus an optional
hint) without a traceback; anything else is a bug in the client.
"""

from __future__ import annotations

# Exit codes, documented in the README and in ``ingest --help``.
EXIT_OK = 0
EXIT_FAILED = 1  # the API refused the request, or an upload ended failed
EXIT_USAGE = 2  # bad command line (click's own code)
EXIT_UNREACHABLE = 3  # no answer from the API
EXIT_TIMEOUT = 4  # --wait-timeout passed before the upload finished
EXIT_NOTHING_LOADED = 5  # an upload ended loaded with no row (see its warnings), or was empty
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as shells report it)


class CliError(Exception):
    """Base class of every error the client reports to the user."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = " ".join(message.split())  # one line, whatever the server sent
        self.hint = hint


class ApiError(CliError):
    """The API answered with an error status."""

    def __init__(
        self, status: int, code: str | None, message: str, hint: str | None = None
    ) -> None:
        super().__init__(message, hint)
        self.status = status
        self.code = code


class ApiUnreachableError(CliError):
    """The API did not answer: wrong URL, stack not running, network down, timeout."""

    exit_code = EXIT_UNREACHABLE


class TransferError(CliError):
    """S3 refused the file bytes sent to a presigned URL (expired, wrong size, gone)."""


class WaitTimeoutError(CliError):
    """The upload was still processing when ``--wait-timeout`` ran out."""

    exit_code = EXIT_TIMEOUT


class UsageError(CliError):
    """The command line asks for something the client cannot do."""

    exit_code = EXIT_USAGE


class Interrupted(CliError):
    """Ctrl-C: the message says what was left behind (nothing half-done on the server)."""

    exit_code = EXIT_INTERRUPTED
