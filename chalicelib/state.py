"""Upload state: a small state machine stored as JSON next to the upload's objects.

Only this module writes state. Stages read it first and skip work that is already done, which
makes a redelivered S3 event a no-op. Per-chunk progress is kept in one marker object per chunk
(never a shared counter), so concurrent chunk handlers never overwrite each other.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
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
# Allowed moves. Re-entering the same state is how a crashed stage is re-driven; a failed upload
# can be retried from the stage that failed.
_NEXT: dict[State, set[State]] = {
    "waiting": {"splitting", "failed"},
    "splitting": {"splitting", "validating", "failed"},
    "validating": {"validating", "loading", "failed"},
    "loading": {"loading", "loaded", "failed"},
    "loaded": set(),
    "failed": {"splitting", "validating", "loading", "failed"},
}


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

    @property
    def public_state(self) -> PublicState:
        return PUBLIC_STATE[self.state]

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
    for table in TABLE_NAMES:
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


def create(s3: S3Client, bucket: str, upload: Upload) -> Upload:
    storage.put_json(s3, bucket, keys.state_key(upload.table, upload.upload_id), asdict(upload))
    return upload


def advance(s3: S3Client, bucket: str, upload: Upload, state: State, **changes: Any) -> Upload:
    """Move ``upload`` to ``state`` (recording ``changes``) and store it.

    Raises:
        StateTransitionError: the move is not allowed from the current state.
    """
    if state not in _NEXT[upload.state]:
        raise StateTransitionError(
            f"upload {upload.upload_id}: cannot go from {upload.state} to {state}",
            upload_id=upload.upload_id,
        )
    moved = replace(upload, state=state, updated_at=now_iso(), **changes)
    storage.put_json(s3, bucket, keys.state_key(upload.table, upload.upload_id), asdict(moved))
    return moved


def mark_chunk_done(s3: S3Client, bucket: str, table: str, upload_id: str, done: ChunkDone) -> None:
    storage.put_json(s3, bucket, keys.done_key(table, upload_id, done.n), asdict(done))


def done_chunks(s3: S3Client, bucket: str, table: str, upload_id: str) -> list[str]:
    """Keys of the done markers written so far (cheap: one listing, no reads)."""
    return list(storage.list_keys(s3, bucket, keys.done_prefix(table, upload_id)))


def read_done(s3: S3Client, bucket: str, table: str, upload_id: str) -> list[ChunkDone]:
    results = []
    for key in done_chunks(s3, bucket, table, upload_id):
        data = storage.get_json(s3, bucket, key)
        if data is not None:
            results.append(ChunkDone(**data))
    return sorted(results, key=lambda d: d.n)


def list_uploads(
    s3: S3Client, bucket: str, table: str | None = None, limit: int = 100
) -> list[Upload]:
    """Uploads, newest first (ids start with their creation time)."""
    ids: list[tuple[str, str]] = []
    for name in [table] if table else list(TABLE_NAMES):
        ids += [(uid, name) for uid in storage.list_folders(s3, bucket, keys.upload_prefix(name))]
    ids.sort(reverse=True)
    uploads = [read(s3, bucket, name, uid) for uid, name in ids[:limit]]
    return [u for u in uploads if u is not None]


def request_load_if_complete(s3: S3Client, bucket: str, upload: Upload) -> bool:
    """Write the load trigger if the split is recorded and every chunk has its done marker.

    Both the split (after recording ``chunks_total``) and each chunk handler (after writing its
    marker) call this. S3 reads are strongly consistent, so whichever finishes last sees the
    whole picture; if several do, the trigger is written twice and the load is a no-op the
    second time.
    """
    current = read(s3, bucket, upload.table, upload.upload_id) or upload
    if current.state != "validating" or current.chunks_total is None:
        return False
    if len(done_chunks(s3, bucket, upload.table, upload.upload_id)) < current.chunks_total:
        return False
    request_load(s3, bucket, upload)
    return True


def request_load(s3: S3Client, bucket: str, upload: Upload) -> str:
    """Write the load trigger object (its creation event starts the load); return its key."""
    key = keys.load_key(upload.table, upload.upload_id)
    storage.put_json(
        s3,
        bucket,
        key,
        {"upload_id": upload.upload_id, "table": upload.table, "requested_at": now_iso()},
    )
    return key
