"""Upload state: a small state machine stored as JSON next to the upload's objects.

Only this module writes state. Stages read it first and skip work that is already done, which
makes a redelivered S3 event a no-op. Per-chunk progress is kept in one marker object per chunk
(never a shared counter), so concurrent chunk handlers never overwrite each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from chalicelib import keys, storage
from chalicelib.errors import StateTransitionError, UploadNotFoundError
from chalicelib.tables import TABLE_NAMES

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import HeadObjectOutputTypeDef

State = Literal["waiting", "splitting", "validating", "loading", "loaded", "failed"]
PublicState = Literal["waiting", "processing", "loaded", "failed"]
PUBLIC_STATE: dict[State, PublicState] = {
    "waiting": "waiting",
    "splitting": "processing",
    "validating": "processing",
    "loading": "processing",
    "loaded": "loaded",
    "failed": "failed",
}
# Allowed moves. Re-entering the same state is how a crashed stage is re-driven (and how a
# replayed load records the same result again); a failed upload can be retried from the stage
# that failed.
_NEXT: dict[State, set[State]] = {
    "waiting": {"splitting", "failed"},
    "splitting": {"splitting", "validating", "failed"},
    "validating": {"validating", "loading", "failed"},
    "loading": {"loading", "loaded", "failed"},
    "loaded": {"loaded"},
    "failed": {"splitting", "validating", "loading", "failed"},
}


# Where an upload's state counts the load's attempts (``Upload.extra``).
_LOAD_ATTEMPTS = "load_attempts"


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Upload:
    """What is known about one upload."""

    upload_id: str
    table: str
    state: State
    created_at: str
    updated_at: str
    source_key: str | None = None
    source_etag: str | None = None
    filename: str | None = None
    chunks_total: int | None = None
    rows_total: int | None = None
    rows_valid: int | None = None
    rows_rejected: int | None = None
    error: str | None = None
    stage: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # How to read the file (csvfile/options.py), and what reading it found (pipeline/rawfile.py).
    options: dict[str, str] | None = None
    detected: dict[str, Any] | None = None
    # Once loaded: what the counts alone do not say (pipeline/findings.py UploadWarning, as dicts).
    warnings: list[dict[str, Any]] | None = None
    # Once failed: False when a re-drive cannot help (the file itself is at fault, or it never
    # arrived); cleared whenever the upload moves on.
    retryable: bool | None = None

    @property
    def public_state(self) -> PublicState:
        return PUBLIC_STATE[self.state]

    @property
    def load_attempts(self) -> int:
        """Deliveries of the load trigger that found the warehouse (this run of the load)."""
        return int(self.extra.get(_LOAD_ATTEMPTS, 0))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Upload:
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})


@dataclass(frozen=True)
class ChunkDone:
    """The result of validating one chunk, as its done marker records it."""

    n: int
    rows_in: int
    rows_valid: int
    rows_rejected: int
    # The size of its cleaned chunk, for the COPY manifest (None in markers written before it
    # was recorded: the load then asks S3).
    clean_bytes: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChunkDone:
        """A done marker as written, keys this version does not know left out."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def read(s3: S3Client, bucket: str, table: str, upload_id: str) -> Upload | None:
    data = storage.get_json(s3, bucket, keys.state_key(table, upload_id))
    return Upload.from_json(data) if data else None


def find(s3: S3Client, bucket: str, upload_id: str) -> Upload:
    """The upload with this id, whatever its table.

    Raises:
        InvalidRequestError: malformed id.
        UploadNotFoundError: no such upload.
    """
    keys.check_upload_id(upload_id)
    folders = (*TABLE_NAMES, keys.UNROUTED)
    index = storage.get_json(s3, bucket, keys.upload_index_key(upload_id))
    if index is not None and index.get("table") in folders:
        upload = read(s3, bucket, index["table"], upload_id)
        if upload is not None:
            return upload
    # Uploads recorded before the index existed: look in every folder.
    for table in folders:
        upload = read(s3, bucket, table, upload_id)
        if upload is not None:
            return upload
    raise UploadNotFoundError(f"no upload with id {upload_id!r}", upload_id=upload_id)


def owner_of_raw(
    s3: S3Client, bucket: str, raw: keys.RawKey, head: HeadObjectOutputTypeDef
) -> Upload | None:
    """The upload a raw object already belongs to, or None; ``head`` is the object's HEAD.

    A presigned upload names its upload in the key; a file copied in directly has an id derived
    from its key, ETag and time; an object a re-drive rewrote (new time, maybe a new ETag) names
    its upload in metadata, which counts only for the upload that came from this very key.
    """
    if raw.upload_id:
        upload = read(s3, bucket, raw.table, raw.upload_id)
        if upload is not None:
            return upload
    named = head.get("Metadata", {}).get(keys.UPLOAD_ID_METADATA, "")
    if keys.UPLOAD_ID.match(named):
        upload = read(s3, bucket, raw.table, named)
        if upload is not None and upload.source_key == raw.key:
            return upload
    etag = head["ETag"].strip('"')
    derived = keys.derived_upload_id(raw.key, etag, head["LastModified"])
    return read(s3, bucket, raw.table, derived)


def create(s3: S3Client, bucket: str, upload: Upload, folder: str | None = None) -> Upload:
    """Store a new upload (under its table's folder, or ``folder``); if one with its id is
    already stored (a concurrent delivery made it), return that one instead, untouched."""
    folder = folder or upload.table
    key = keys.state_key(folder, upload.upload_id)
    stored = upload
    if not storage.put_json_if_absent(s3, bucket, key, asdict(upload)):
        stored = read(s3, bucket, folder, upload.upload_id) or upload
    # After the state, on every delivery: a crash in between leaves an upload that ``find``
    # still reaches through its fallback, and the next delivery writes the index.
    storage.put_json(s3, bucket, keys.upload_index_key(upload.upload_id), {"table": folder})
    return stored


# Writers of one state object are a handful of handlers; a conditional write that keeps losing
# to them this many times in a row means something is wrong.
_ADVANCE_ATTEMPTS = 10


def advance(s3: S3Client, bucket: str, upload: Upload, state: State, **changes: Any) -> Upload:
    """Move ``upload`` to ``state`` (recording ``changes``) and store it.

    The move is checked against the stored state, not the caller's copy, and written only if the
    stored state is still the one checked (S3 conditional write on its ETag), so a stale copy (a
    redelivered event racing the first delivery) cannot move an upload back.

    Raises:
        StateTransitionError: the move is not allowed from the stored state.
    """
    moved = _move(s3, bucket, upload, state, None, changes)
    assert moved is not None  # every stored state may be left when no source is required
    return moved


def finish(s3: S3Client, bucket: str, upload: Upload, **changes: Any) -> Upload | None:
    """Move ``upload`` from ``loading`` to ``loaded``; None if another invocation got there first.

    Two finishers of one load (the load function's own look at its batch, and the completion
    event) may both see it end; only the one whose write moves the stored state out of
    ``loading`` finishes it, so the load is reported loaded once.

    Raises:
        StateTransitionError: the stored state is neither ``loading`` nor ``loaded``.
    """
    return _move(s3, bucket, upload, "loaded", "loading", changes)


def _move(
    s3: S3Client,
    bucket: str,
    upload: Upload,
    state: State,
    source: State | None,
    changes: dict[str, Any],
) -> Upload | None:
    key = keys.state_key(upload.table, upload.upload_id)
    for _ in range(_ADVANCE_ATTEMPTS):
        stored = storage.get_json_and_etag(s3, bucket, key)
        current = Upload.from_json(stored[0]) if stored else upload
        if source is not None and current.state == state:
            return None
        if state not in _NEXT[current.state] or (source is not None and current.state != source):
            raise StateTransitionError(
                f"upload {upload.upload_id}: cannot go from {current.state} to {state}",
                upload_id=upload.upload_id,
            )
        if state != "failed":
            changes.setdefault("retryable", None)
        moved = replace(current, state=state, updated_at=now_iso(), **changes)
        if stored is None:
            written = storage.put_json_if_absent(s3, bucket, key, asdict(moved))
        else:
            written = storage.put_json_if_match(s3, bucket, key, asdict(moved), stored[1])
        if written:
            return moved
    raise StateTransitionError(
        f"upload {upload.upload_id}: its state kept changing while moving it to {state}",
        upload_id=upload.upload_id,
    )


def begin_load_attempt(s3: S3Client, bucket: str, upload: Upload) -> tuple[Upload, int]:
    """Move the upload to ``loading``, counting this delivery as one more load attempt."""
    attempt = upload.load_attempts + 1
    moved = advance(
        s3, bucket, upload, "loading", stage="load", extra={**upload.extra, _LOAD_ATTEMPTS: attempt}
    )
    return moved, attempt


def restart_load(s3: S3Client, bucket: str, upload: Upload) -> Upload:
    """Move the upload back to ``loading`` with no attempts counted (a re-drive starts afresh)."""
    return advance(
        s3,
        bucket,
        upload,
        "loading",
        stage="load",
        error=None,
        extra={**upload.extra, _LOAD_ATTEMPTS: 0},
    )


def list_uploads(
    s3: S3Client, bucket: str, table: str | None = None, limit: int = 100
) -> list[Upload]:
    """Uploads, newest first (ids start with their creation time)."""
    ids: list[tuple[str, str]] = []
    for name in [table] if table else [*TABLE_NAMES, keys.UNROUTED]:
        ids += [(uid, name) for uid in storage.list_folders(s3, bucket, keys.upload_prefix(name))]
    ids.sort(reverse=True)
    uploads = [read(s3, bucket, name, uid) for uid, name in ids[:limit]]
    return [u for u in uploads if u is not None]
