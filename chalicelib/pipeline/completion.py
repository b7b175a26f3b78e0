"""The fan-in that ends the validate stage: a tree of done markers, the load trigger at its root.

A chunk handler marks its chunk done and climbs the tree; whoever completes the root writes the
load trigger, once (an S3 conditional write), so the load starts exactly when every chunk of an
upload is done. Upload state itself lives in ``state.py``; this module only reads it.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from chalicelib import keys, storage
from chalicelib.pipeline.state import ChunkDone, Upload, now_iso, read

if TYPE_CHECKING:
    from collections.abc import Iterable

    from mypy_boto3_s3 import S3Client


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
            results.append(ChunkDone.from_json(data))
    return sorted(results, key=lambda d: d.n)


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
    # The total, once recorded, does not change: only an upload read before it was is read again.
    current = upload if upload.chunks_total is not None else read(s3, bucket, table, upload_id)
    current = current or upload
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
