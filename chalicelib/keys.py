"""The S3 key layout, in one place.

Users write under ``raw/<table>/`` (presigned POSTs, ``aws s3 cp``); everything the pipeline
derives is keyed by table and upload id; backups live under ``backups/<backup_id>/``. Every key
is built and parsed here; parsing refuses anything that does not fit the layout, so no
user-supplied name can point elsewhere.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

from chalicelib.errors import InvalidRequestError
from chalicelib.tables import TABLES

RAW, CHUNKS, CLEAN, REJECTED, UPLOADS, MANIFESTS, LOADS, SPLITS = (
    "raw/",
    "chunks/",
    "clean/",
    "rejected/",
    "uploads/",
    "manifests/",
    "loads/",
    "splits/",
)
# Under uploads/ beside the table folders; not a table name, so listings by table never see it.
_BY_ID = "by-id"
# Where the state of an object copied into raw/ outside any table's folder is kept: it is
# recorded as a failed upload (pipeline/unrouted.py), so that nothing copied in goes unseen.
UNROUTED = "_unrouted"
UPLOAD_ID = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12}\Z")
# Chunk numbers have six digits in keys (chunk, clean, rejected and done keys alike): up to
# 1,000,000 chunks, enough for a 5 TiB file at the default chunk size (about 12 MB).
CHUNK_DIGITS = 6
MAX_CHUNKS = 10**CHUNK_DIGITS
# User metadata (x-amz-meta-upload-id) a re-drive sets on a raw object it rewrites.
UPLOAD_ID_METADATA = "upload-id"
# A file's name is whatever the person's computer called it (shown in listings as it was given);
# the last part of its raw key is derived from it, made only of the characters AWS lists as safe
# in keys (https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html, "Object key
# naming guidelines"), so no path part, percent sign or odd character ever reaches a key.
MAX_FILENAME_CHARS = 1024
OBJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}\Z")
_OBJECT_NAME_CHARS = 128
_OBJECT_SUFFIX_CHARS = 24
_PATH_SEPARATOR = re.compile(r"[/\\]")
_NOT_IN_KEYS = re.compile(r"[^A-Za-z0-9_-]+")
_CHUNK = re.compile(
    rf"^chunks/(?P<table>[a-z_]+)/(?P<uid>[^/]+)/(?P<n>[0-9]{{{CHUNK_DIGITS}}})\.rec\Z"
)
_LOAD = re.compile(r"^loads/(?P<table>[a-z_]+)/(?P<uid>[^/]+)\.json\Z")
# A split's hand-off: where planning goes on, by plan (pipeline/split_ranges.py) and byte offset.
OFFSET_DIGITS = 15
_SPLIT = re.compile(
    rf"^splits/(?P<table>[a-z_]+)/(?P<uid>[^/]+)/(?P<plan>[0-9a-f]{{12}})/"
    rf"(?P<offset>[0-9]{{{OFFSET_DIGITS}}})\.json\Z"
)
# The objects of a plan made by parts (pipeline/split_parallel.py): a part's task and the chain's
# (their creation starts a split invocation), and what the parts found (no event: not .json).
PART_DIGITS = 6
_SPLIT_PLAN = r"^splits/(?P<table>[a-z_]+)/(?P<uid>[^/]+)/(?P<plan>[0-9a-f]{12})/"
_SPLIT_PART = re.compile(rf"{_SPLIT_PLAN}parts/(?P<n>[0-9]{{{PART_DIGITS}}})\.json\Z")
_SPLIT_CHAIN = re.compile(rf"{_SPLIT_PLAN}chain/(?P<n>[0-9]{{{CHUNK_DIGITS}}})\.json\Z")
BACKUPS = "backups/"
BACKUP_MANIFEST = "manifest"
_BACKUP_LOCATION = re.compile(
    r"backups/(?P<bid>[0-9]{8}T[0-9]{6}Z-[0-9a-f]{12})/(?P<table>[a-z_]+)/?(?:manifest)?"
)


def _digits(index: int, width: int) -> str:
    return f"{index:0{width}d}" if width else ""


def new_upload_id(now: datetime | None = None) -> str:
    """A fresh upload id; ids sort by creation time."""
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(6)}"


def derived_upload_id(key: str, etag: str, last_modified: datetime) -> str:
    """The upload id of an object copied straight into raw/ (the same object, the same id)."""
    digest = hashlib.sha256(f"{key}\n{etag}".encode()).hexdigest()[:12]
    return f"{last_modified.astimezone(UTC):%Y%m%dT%H%M%SZ}-{digest}"


def check_upload_id(upload_id: str) -> str:
    """Return ``upload_id`` if it has the right shape.

    Raises:
        InvalidRequestError: it does not.
    """
    if not isinstance(upload_id, str) or not UPLOAD_ID.match(upload_id):
        raise InvalidRequestError(f"malformed upload id {upload_id!r}", upload_id=upload_id)
    return upload_id


def check_filename(filename: str) -> str:
    """Return ``filename`` if it can be a file's name: any text a computer names files with.

    Raises:
        InvalidRequestError: not a string, empty or blank, longer than ``MAX_FILENAME_CHARS``,
            holding a NUL (no file system allows one) or a lone surrogate (not text at all).
    """
    shown = repr(filename[:80]) if isinstance(filename, str) else repr(filename)
    refusal = (
        f"filename must be the file's name, 1 to {MAX_FILENAME_CHARS} characters of text, "
        f"got {shown}"
    )
    if not isinstance(filename, str) or not filename.strip():
        raise InvalidRequestError(refusal, parameter="filename")
    if len(filename) > MAX_FILENAME_CHARS or "\x00" in filename:
        raise InvalidRequestError(refusal, parameter="filename")
    try:
        filename.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidRequestError(refusal, parameter="filename") from None
    return filename


def object_name(filename: str) -> str:
    """The last part of a raw key for a file called ``filename``: its last path segment, letters
    spelled in ASCII, every run of other characters one ``_``, at most 128 characters (the
    extensions kept), never empty and never with a path part or ``..`` in it."""
    base = _PATH_SEPARATOR.split(filename)[-1]
    ascii_text = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode("ascii")
    parts = [_NOT_IN_KEYS.sub("_", part).strip("_-") for part in ascii_text.split(".")]
    stem = parts[0] or "file"
    suffix = ".".join(part for part in parts[1:] if part)
    if len(suffix) > _OBJECT_SUFFIX_CHARS:
        suffix = suffix[-_OBJECT_SUFFIX_CHARS:].lstrip("._-")
    room = _OBJECT_NAME_CHARS - (len(suffix) + 1 if suffix else 0)
    stem = stem[:room].rstrip("._-")
    return f"{stem}.{suffix}" if suffix else stem


@dataclass(frozen=True)
class RawKey:
    """A parsed ``raw/<table>/...`` key; ``upload_id`` is set for keys made by presigned uploads."""

    key: str
    table: str
    upload_id: str | None
    filename: str


def parse_raw_key(key: str) -> RawKey | None:
    """Parse a raw object key; None if it is not under ``raw/<known table>/`` or is a folder."""
    parts = key.split("/")
    if len(parts) < 3 or parts[0] != "raw" or parts[1] not in TABLES or not parts[-1]:
        return None
    upload_id = parts[2] if len(parts) == 4 and UPLOAD_ID.match(parts[2]) else None
    return RawKey(key, parts[1], upload_id, parts[-1])


def raw_key(table: str, upload_id: str, filename: str) -> str:
    """Where the file called ``filename`` of an upload is written (its name made safe)."""
    return f"{RAW}{table}/{upload_id}/{object_name(filename)}"


def raw_prefix(table: str) -> str:
    return f"{RAW}{table}/"


def chunk_key(table: str, upload_id: str, n: int) -> str:
    return f"{CHUNKS}{table}/{upload_id}/{_digits(n, CHUNK_DIGITS)}.rec"


def parse_chunk_key(key: str) -> tuple[str, str, int] | None:
    """(table, upload_id, chunk number) of a chunk key, or None."""
    m = _CHUNK.match(key)
    if not m or m["table"] not in TABLES or not UPLOAD_ID.match(m["uid"]):
        return None
    return m["table"], m["uid"], int(m["n"])


def clean_key(table: str, upload_id: str, n: int) -> str:
    return f"{CLEAN}{table}/{upload_id}/{_digits(n, CHUNK_DIGITS)}.csv"


def chunk_rejects_key(table: str, upload_id: str, n: int) -> str:
    return f"{REJECTED}{table}/{upload_id}/{_digits(n, CHUNK_DIGITS)}.jsonl"


def duplicates_key(table: str, upload_id: str) -> str:
    return f"{REJECTED}{table}/{upload_id}/duplicates.jsonl"


def rejects_key(table: str, upload_id: str) -> str:
    return f"{REJECTED}{table}/{upload_id}.jsonl"


def upload_prefix(table: str) -> str:
    return f"{UPLOADS}{table}/"


def upload_index_key(upload_id: str) -> str:
    """Where an upload id's table is recorded, so an id alone finds its upload in one read."""
    return f"{UPLOADS}{_BY_ID}/{upload_id}.json"


def state_key(table: str, upload_id: str) -> str:
    return f"{UPLOADS}{table}/{upload_id}/state.json"


def done_prefix(table: str, upload_id: str) -> str:
    return f"{UPLOADS}{table}/{upload_id}/done/"


def done_key(table: str, upload_id: str, n: int) -> str:
    return f"{done_prefix(table, upload_id)}{_digits(n, CHUNK_DIGITS)}.json"


def _done_tree(table: str, upload_id: str, level: int) -> str:
    return f"{UPLOADS}{table}/{upload_id}/done-tree/{level}/"


def done_node_key(table: str, upload_id: str, level: int, index: int) -> str:
    """The marker of node ``index`` at ``level`` of an upload's completion tree.

    Node (level, i) stands for chunks ``i * 10**level`` to ``(i + 1) * 10**level - 1``; level 0
    is a chunk's own done marker. A node's key is its chunk numbers' common leading digits, so
    the markers of its ten children share one prefix (``done_children_prefix``).
    """
    if level == 0:
        return done_key(table, upload_id, index)
    return f"{_done_tree(table, upload_id, level)}{_digits(index, CHUNK_DIGITS - level)}.json"


def done_children_prefix(table: str, upload_id: str, level: int, index: int) -> str:
    """The prefix of the markers of node (``level`` >= 1, ``index``)'s children."""
    digits = _digits(index, CHUNK_DIGITS - level)
    if level == 1:
        return f"{done_prefix(table, upload_id)}{digits}"
    return f"{_done_tree(table, upload_id, level - 1)}{digits}"


def split_manifest_key(table: str, upload_id: str) -> str:
    return f"{MANIFESTS}{table}/{upload_id}/chunks.json"


def copy_manifest_key(table: str, upload_id: str) -> str:
    return f"{MANIFESTS}{table}/{upload_id}/copy.json"


def split_plan_prefix(table: str, upload_id: str, plan: str) -> str:
    return f"{SPLITS}{table}/{upload_id}/{plan}/"


def split_handoff_key(table: str, upload_id: str, plan: str, offset: int) -> str:
    """The object whose creation starts the split invocation that plans on from ``offset``."""
    return f"{split_plan_prefix(table, upload_id, plan)}{_digits(offset, OFFSET_DIGITS)}.json"


def split_part_key(table: str, upload_id: str, plan: str, part: int) -> str:
    """The object whose creation starts the split invocation that plans part ``part``."""
    return f"{split_plan_prefix(table, upload_id, plan)}parts/{_digits(part, PART_DIGITS)}.json"


def split_summary_prefix(table: str, upload_id: str, plan: str) -> str:
    return f"{split_plan_prefix(table, upload_id, plan)}planned/"


def split_summary_key(table: str, upload_id: str, plan: str, part: int) -> str:
    """What planning part ``part`` found, under both quoting hypotheses."""
    prefix = split_summary_prefix(table, upload_id, plan)
    return f"{prefix}{_digits(part, PART_DIGITS)}.summary"


def split_tree_key(table: str, upload_id: str, plan: str, level: int, index: int) -> str:
    """The marker of node (``level`` >= 1, ``index``) of the tree of planned parts: every part
    whose number starts with these digits is planned (level 0 is a part's summary)."""
    digits = _digits(index, PART_DIGITS - level)
    return f"{split_plan_prefix(table, upload_id, plan)}planned-tree/{level}/{digits}.done"


def split_tree_children_prefix(
    table: str, upload_id: str, plan: str, level: int, index: int
) -> str:
    """The prefix of the markers of node (``level`` >= 1, ``index``)'s children."""
    digits = _digits(index, PART_DIGITS - level)
    if level == 1:
        return f"{split_summary_prefix(table, upload_id, plan)}{digits}"
    return f"{split_plan_prefix(table, upload_id, plan)}planned-tree/{level - 1}/{digits}"


def split_chain_key(table: str, upload_id: str, plan: str, first_chunk: int) -> str:
    """The object whose creation starts the split invocation that chains the planned parts and
    writes chunks from ``first_chunk`` on."""
    chain = _digits(first_chunk, CHUNK_DIGITS)
    return f"{split_plan_prefix(table, upload_id, plan)}chain/{chain}.json"


def parse_split_work_key(key: str) -> tuple[str, str, str, str, int] | None:
    """(table, upload_id, plan, "part" or "chain", number) of a part's or the chain's task."""
    for kind, pattern in (("part", _SPLIT_PART), ("chain", _SPLIT_CHAIN)):
        m = pattern.match(key)
        if m and m["table"] in TABLES and UPLOAD_ID.match(m["uid"]):
            return m["table"], m["uid"], m["plan"], kind, int(m["n"])
    return None


def load_key(table: str, upload_id: str) -> str:
    return f"{LOADS}{table}/{upload_id}.json"


def parse_load_key(key: str) -> tuple[str, str] | None:
    """(table, upload_id) of a load trigger key, or None."""
    m = _LOAD.match(key)
    if not m or m["table"] not in TABLES or not UPLOAD_ID.match(m["uid"]):
        return None
    return m["table"], m["uid"]


def parse_split_handoff_key(key: str) -> tuple[str, str, str, int] | None:
    """(table, upload_id, plan, offset) of a split hand-off key, or None."""
    m = _SPLIT.match(key)
    if not m or m["table"] not in TABLES or not UPLOAD_ID.match(m["uid"]):
        return None
    return m["table"], m["uid"], m["plan"], int(m["offset"])


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of an ``s3://`` URI.

    Raises:
        InvalidRequestError: not an s3:// URI.
    """
    if not isinstance(uri, str) or not uri.startswith("s3://") or "/" not in uri[5:]:
        raise InvalidRequestError(f"not an s3:// location: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key


def check_backup_id(backup_id: str) -> str:
    """Return ``backup_id`` if it has the right shape (backup ids look like upload ids).

    Raises:
        InvalidRequestError: it does not.
    """
    if not isinstance(backup_id, str) or not UPLOAD_ID.fullmatch(backup_id):
        raise InvalidRequestError(f"malformed backup id {backup_id!r}", backup_id=backup_id)
    return backup_id


def backup_record_key(backup_id: str) -> str:
    """The catalog entry of one backup: what it holds, where, and how many rows."""
    return f"{BACKUPS}{backup_id}/backup.json"


def backup_prefix(backup_id: str, table: str) -> str:
    return f"{BACKUPS}{backup_id}/{table}/"


def backup_manifest_key(backup_id: str, table: str) -> str:
    return f"{backup_prefix(backup_id, table)}{BACKUP_MANIFEST}"


def parse_backup_location(uri: str, bucket: str) -> tuple[str, str]:
    """(backup_id, table) of a backup folder (or its manifest) in this deployment's bucket.

    Only ``s3://<bucket>/backups/<backup_id>/<table>/`` and its ``manifest`` are accepted: any
    other bucket, prefix, ``..``, percent-encoding or odd character is refused, so a restore can
    only read what this deployment backed up.

    Raises:
        InvalidRequestError: anything else.
    """
    refusal = InvalidRequestError(
        f"s3_location must be s3://{bucket}/{BACKUPS}<backup_id>/<table>/, got {uri!r}",
        parameter="s3_location",
    )
    if not isinstance(uri, str) or not uri.startswith("s3://"):
        raise refusal
    given_bucket, _, key = uri[len("s3://") :].partition("/")
    m = _BACKUP_LOCATION.fullmatch(key)
    if given_bucket != bucket or m is None or m["table"] not in TABLES:
        raise refusal
    return m["bid"], m["table"]
