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
    from collections.abc import Iterable

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
    """Store a new upload; if one with its id is already stored (a concurrent delivery made
    it), return that one instead, untouched."""
    key = keys.state_key(upload.table, upload.upload_id)
    if storage.put_json_if_absent(s3, bucket, key, asdict(upload)):
        return upload
    return read(s3, bucket, upload.table, upload.upload_id) or upload


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
    key = keys.state_key(upload.table, upload.upload_id)
    for _ in range(_ADVANCE_ATTEMPTS):
        stored = storage.get_json_and_etag(s3, bucket, key)
        current = Upload.from_json(stored[0]) if stored else upload
        if state not in _NEXT[current.state]:
            raise StateTransitionError(
                f"upload {upload.upload_id}: cannot go from {current.state} to {state}",
                upload_id=upload.upload_id,
            )
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


# Chunk completion is a tree of markers, ten children per node (the decimal digits of the chunk
# number, as in keys.done_node_key): whoever writes a node's last child marker sees its siblings
# in one small listing and marks the node, so a chunk handler lists at most ten keys per level
# it climbs, and one in ten climbs a level. (Listing every done marker from every chunk handler
# cost time growing with the square of the chunk count.)
FANOUT = 10


def root_level(chunks_total: int) -> int:
    """The level of the completion tree's root for an upload of ``chunks_total`` chunks."""
    level = 0
    while FANOUT**level < chunks_total:
        level += 1
    return level


def _children(level: int, index: int, chunks_total: int | None) -> range:
    """The child numbers of node (``level`` >= 1, ``index``): all ten while the total is unknown."""
    first = index * FANOUT
    if chunks_total is None:
        return range(first, first + FANOUT)
    span = FANOUT ** (level - 1)
    existing = -(-chunks_total // span)  # nodes at level - 1 that hold at least one chunk
    return range(first, min(first + FANOUT, existing))


def _children_done(s3: S3Client, bucket: str, upload: Upload, level: int, index: int) -> set[int]:
    """The children of node (``level`` >= 1, ``index``) that have their marker (one listing)."""
    prefix = keys.done_children_prefix(upload.table, upload.upload_id, level, index)
    found = set()
    for key in storage.list_keys(s3, bucket, prefix):
        name = key.rsplit("/", 1)[1].removesuffix(".json")
        if name.isdigit():
            found.add(int(name))
    return found


def request_load_if_complete(
    s3: S3Client, bucket: str, upload: Upload, chunk: int | None = None
) -> bool:
    """Record what is complete above ``chunk``'s done marker; write the load trigger at the root.

    A chunk handler calls this after writing its marker (``chunk`` = its number); the split
    calls it after recording ``chunks_total`` (``chunk`` = None: it climbs from the last chunk).
    Every node's last child to arrive sees the node complete, because S3 lists are strongly
    consistent; a chunk handler that finishes before the split has counted the chunks can only
    judge nodes with all ten children, so the total is re-read after each listing that needs it:
    a handler that still finds no total is older than the split's record of it, and the split's
    own climb, which lists after that record, sees the handler's marker. Node markers are facts,
    safe to write twice; the trigger is written once (S3 conditional write), so two finishers
    never both start a load. Return whether this call wrote the trigger.
    """
    table, upload_id = upload.table, upload.upload_id
    current = read(s3, bucket, table, upload_id) or upload
    total = current.chunks_total
    if chunk is None:  # the split: climb from the last chunk, once the total is on record
        if total is None:
            return False
        if total == 1 and not storage.exists(s3, bucket, keys.done_key(table, upload_id, 0)):
            return False
        if total <= 1:
            return _trigger_once(s3, bucket, upload)
        chunk = total - 1
    elif total is not None and chunk >= total:
        return False  # a chunk this split did not make (an older split's, cut differently)
    level = 0
    while total is None or level < root_level(total):
        level += 1
        if level > keys.CHUNK_DIGITS:
            return False
        index = chunk // FANOUT**level
        done = _children_done(s3, bucket, upload, level, index)
        if total is None and not done.issuperset(_children(level, index, None)):
            total = (read(s3, bucket, table, upload_id) or current).chunks_total
            if total is not None and chunk >= total:
                return False
            if total is not None and level > root_level(total):
                # Climbed past the root through full nodes only: the root is complete.
                return _trigger_once(s3, bucket, upload)
        if not done.issuperset(_children(level, index, total)):
            return False
        if total is None or level < root_level(total):
            _mark_node(s3, bucket, upload, level, index)
    return _trigger_once(s3, bucket, upload)


def settle_done_tree(s3: S3Client, bucket: str, upload: Upload, done: Iterable[int]) -> int:
    """Write the marker of every node below the root that ``done`` (chunk numbers) completes.

    A re-drive calls this before restarting the chunks that have no done marker: a handler that
    died between its marker and its climb left nodes unmarked, which no later climb would see
    complete. Return how many markers it wrote.
    """
    total = upload.chunks_total
    if total is None:
        return 0
    complete = {n for n in done if n < total}
    written = 0
    for level in range(1, root_level(total)):
        parents = sorted({n // FANOUT for n in complete})
        complete = {i for i in parents if complete.issuperset(_children(level, i, total))}
        for index in sorted(complete):
            _mark_node(s3, bucket, upload, level, index)
            written += 1
    return written


def _mark_node(s3: S3Client, bucket: str, upload: Upload, level: int, index: int) -> None:
    """Record that node (``level``, ``index``) of the completion tree is complete."""
    marker = keys.done_node_key(upload.table, upload.upload_id, level, index)
    storage.put_json(s3, bucket, marker, {"level": level, "index": index})


def _trigger_once(s3: S3Client, bucket: str, upload: Upload) -> bool:
    """Write the load trigger if the upload is validating and nobody has written it yet."""
    current = read(s3, bucket, upload.table, upload.upload_id) or upload
    if current.state != "validating":
        return False
    key = keys.load_key(upload.table, upload.upload_id)
    return storage.put_json_if_absent(s3, bucket, key, _trigger_body(upload))


def request_load(s3: S3Client, bucket: str, upload: Upload) -> str:
    """Write the load trigger object (its creation event starts the load); return its key.

    The write is unconditional: a re-drive rewrites the trigger for a fresh event.
    """
    key = keys.load_key(upload.table, upload.upload_id)
    storage.put_json(s3, bucket, key, _trigger_body(upload))
    return key


def _trigger_body(upload: Upload) -> dict[str, str]:
    return {"upload_id": upload.upload_id, "table": upload.table, "requested_at": now_iso()}
