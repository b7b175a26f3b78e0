"""COPY from S3, emulated on the client's own PostgreSQL session (and so in its transaction).

Owns reading a Redshift manifest (or a key prefix) from the local S3 endpoint as Redshift does
(every entry, ``mandatory``, ``meta.content_length`` for columnar files), streaming each CSV file
into ``COPY ... FROM STDIN WITH (FORMAT csv)`` (Parquet files are read with pyarrow and streamed
the same way), the session's ``pg_last_copy_count()``/``pg_last_copy_id()``, and a failed
COPY's load errors, written to ``stl_load_errors`` and ``sys_load_error_detail`` through a
separate session so they outlive the rollback. A failed COPY aborts the transaction.
Docs: https://docs.aws.amazon.com/redshift/latest/dg/loading-data-files-using-manifest.html
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from devstack.redshift_local.backend import CopyAborted, literal
from devstack.redshift_local.catalog import LAST_COPY_COUNT, LAST_COPY_ID, STL_INSERT, SYS_INSERT

if TYPE_CHECKING:
    from collections.abc import Iterator

    from devstack.redshift_local.backend import Backend, Result
    from devstack.redshift_local.statements import CopyCommand
    from devstack.redshift_local.wire import SideConnection

CHUNK = 256 * 1024
# What a NUL byte becomes on its way to PostgreSQL under NULL AS '\\0' (see ``_csv_null``).
NUL_MARKER = "\x1aredshift_local_nul\x1a"
MANIFEST_DOC = (
    "https://docs.aws.amazon.com/redshift/latest/dg/loading-data-files-using-manifest.html"
)
_S3_URL = re.compile(r"^s3://([^/]+)/(.*)$", re.DOTALL)
_WHERE = re.compile(r"COPY [^,]+, line (\d+)(?:, column ([^:]+))?(?:: \"(.*)\")?", re.DOTALL)
# Redshift's load error codes for the PostgreSQL errors a COPY of bad data raises
# (https://docs.aws.amazon.com/redshift/latest/dg/r_Load_Error_Reference.html).
_CODES = {"22P02": 1207, "22007": 1206, "22008": 1206, "22001": 1204, "23502": 1213}
_FORMAT_CODES = (("extra data", 1202), ("missing data", 1214), ("unterminated", 1219))


class EmulationError(Exception):
    """A statement the proxy ran failed; the client gets an ErrorResponse with these fields."""

    def __init__(self, sqlstate: str, text: str, detail: str = "") -> None:
        super().__init__(text)
        self.sqlstate, self.text, self.detail = sqlstate, text, detail


@dataclass(frozen=True)
class Entry:
    url: str
    bucket: str
    key: str
    mandatory: bool


def split_url(url: str) -> tuple[str, str]:
    match = _S3_URL.match(url)
    if not match:
        raise EmulationError("XX000", f"invalid S3 location {url!r}")
    return match.group(1), match.group(2)


def fail_transaction(backend: Backend, own: bool) -> None:
    """End a failed COPY as Redshift does: the transaction it ran in is aborted."""
    if own:
        backend.query("ROLLBACK")
    elif backend.status == b"T":
        backend.query("DO $$ BEGIN RAISE EXCEPTION 'COPY failed'; END $$")


def entries(s3: Any, command: CopyCommand) -> list[Entry]:
    """The files a COPY reads: its manifest's entries in order, or every key under a prefix."""
    bucket, key = split_url(command.source)
    if not command.manifest:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
        found = [
            Entry(f"s3://{bucket}/{o['Key']}", bucket, o["Key"], True)
            for p in pages
            for o in p.get("Contents", [])
        ]
        if not found:
            raise EmulationError("XX000", f"The specified S3 prefix '{key}' does not exist")
        return found
    try:
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        raise EmulationError("XX000", f"Problem reading manifest file - S3 {code}") from None
    except ValueError:
        raise EmulationError("XX000", "Manifest file is not in correct json format") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("entries"), list):
        raise EmulationError("XX000", "Manifest file is not in correct json format")
    listed = []
    for item in manifest["entries"]:
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            raise EmulationError("XX000", "Manifest file is not in correct json format")
        if command.file_format == "PARQUET" and "content_length" not in item.get("meta", {}):
            raise EmulationError(
                "XX000", f"meta.content_length is required for columnar files: {item['url']}"
            )
        file_bucket, file_key = split_url(item["url"])
        listed.append(Entry(item["url"], file_bucket, file_key, bool(item.get("mandatory"))))
    return listed


def _open(s3: Any, entry: Entry) -> Any | None:
    """The object's body, or None for a missing optional file.

    Raises:
        EmulationError: a mandatory file is missing, or S3 refused the read.
    """
    try:
        return s3.get_object(Bucket=entry.bucket, Key=entry.key)["Body"]
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "404") and not entry.mandatory:
            return None
        raise EmulationError(
            "XX000",
            f"Manifest file entry {entry.url} could not be read: S3 {code or 'error'}"
            + (" (mandatory)" if entry.mandatory else ""),
        ) from None


def _csv_chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    except (ClientError, OSError) as exc:
        raise CopyAborted(f"S3 read failed: {type(exc).__name__}") from None


# Parquet physical types a column of each Redshift type can be loaded from; anything else is
# "an incompatible Parquet schema" (COPY from Parquet maps columns by position and does not
# convert: copy-usage_notes-copy-from-columnar.html; the error as AWS shows it:
# knowledge-center/redshift-spectrum-data-errors).
_PARQUET_TYPES = {
    "bigint": ("int64", "int32", "int16", "int8"),
    "integer": ("int32", "int16", "int8"),
    "smallint": ("int16", "int8"),
    "character varying": ("string", "large_string"),
    "character": ("string", "large_string"),
    "text": ("string", "large_string"),
    "timestamp without time zone": ("timestamp",),
    "timestamp with time zone": ("timestamp",),
    "date": ("date32", "date64"),
    "double precision": ("double", "float"),
    "real": ("float",),
    "numeric": ("decimal", "double"),
    "boolean": ("bool",),
}


def _parquet_csv(body: Any, columns: list[tuple[str, str]], url: str) -> bytes:
    """The Parquet file as CSV text for PostgreSQL's COPY, once its columns are checked.

    Raises:
        EmulationError: the file's columns differ in number or type from the table's.
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pq.read_table(io.BytesIO(body.read()))
    if table.num_columns != len(columns):
        raise EmulationError(
            "XX000",
            "Spectrum Scan Error",
            f"\n  error:  Spectrum Scan Error\n  code:      15007\n  context:   File '{url}' "
            f"has {table.num_columns} columns, the table {len(columns)}\n",
        )
    for (name, kind), field in zip(columns, table.schema, strict=True):
        base = kind.split("(")[0].strip()
        arrow = str(field.type)
        if not arrow.startswith(_PARQUET_TYPES.get(base, (arrow,))):
            raise EmulationError(
                "XX000",
                "Spectrum Scan Error",
                f"\n  error:  Spectrum Scan Error\n  code:      15007\n  context:   File "
                f"'{url}' has an incompatible Parquet schema for column '{url}.{name}'. "
                f"Column type: {kind.upper()}, Parquet schema: optional {field.type}\n",
            )
    out = io.BytesIO()
    pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=False))
    return out.getvalue()


def _pieces(data: bytes) -> Iterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


def _csv_null(command: CopyCommand) -> tuple[str, bytes | None]:
    """PostgreSQL's NULL string for a CSV COPY, and the byte to replace by it (if any).

    Redshift's default null_string is '\\N'; NULL AS '\\0' (or '\\000') makes a field holding
    only NUL a NULL (copy-parameters-data-conversion.html). PostgreSQL cannot read a NUL byte,
    so the engine swaps NUL for a marker of its own and makes that the NULL string.
    """
    null = command.options.get("NULL", "\\N")
    if null in ("\\0", "\\000"):
        return NUL_MARKER, b"\x00"
    return null, None


def _replaced(chunks: Iterator[bytes], byte: bytes | None) -> Iterator[bytes]:
    for chunk in chunks:
        yield chunk.replace(byte, NUL_MARKER.encode()) if byte else chunk


def _target(backend: Backend, command: CopyCommand) -> tuple[int, list[tuple[str, str]]]:
    """The table's oid and its (column, type) in order, read in the client's session."""
    found = backend.query(
        "SELECT c.oid, a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_class c "
        "JOIN pg_attribute a ON a.attrelid = c.oid WHERE c.oid = to_regclass("
        f"{literal(command.table)}) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum"
    )
    if found.error is not None:
        raise EmulationError(found.error.get("C", "XX000"), found.error.get("M", ""))
    if not found.rows:
        raise EmulationError("42P01", f"relation {command.table.strip(chr(34))} does not exist")
    return int(found.rows[0][0] or 0), [(str(r[1]), str(r[2])) for r in found.rows]


def run_copy(
    backend: Backend, side: SideConnection, s3: Any, command: CopyCommand, user: str
) -> str:
    """Emulate one COPY; return its CommandComplete tag.

    Raises:
        EmulationError: the COPY failed; the client's transaction is aborted (or, outside a
            transaction block, nothing was loaded).
    """
    if backend.status == b"E":
        raise EmulationError(
            "25P02",
            "current transaction is aborted, commands ignored until end of transaction block",
        )
    unsupported = set(command.options) - {
        "IAM_ROLE",
        "REGION",
        "TIMEFORMAT",
        "QUOTE",
        "DELIMITER",
        "NULL",
        "COMPUPDATE",
        "STATUPDATE",
    }
    if command.options.get("TIMEFORMAT", "auto").lower() != "auto" or unsupported:
        raise EmulationError("0A000", "redshift_local emulates TIMEFORMAT 'auto' and no header")
    own = backend.status == b"I"
    if own:
        backend.query("BEGIN")
    try:
        oid, table_columns = _target(backend, command)
        query_id = int(
            side.query("SELECT nextval('pg_catalog.redshift_local_query_id')")[0][0] or 0
        )
        sys_id = int(
            side.query("SELECT nextval('pg_catalog.redshift_local_sys_query_id')")[0][0] or 0
        )
        files = entries(s3, command)
        columns = command.columns or tuple(f'"{name}"' for name, _ in table_columns)
        options = "FORMAT csv"
        for name, key in (("QUOTE", "QUOTE"), ("DELIMITER", "DELIMITER")):
            if name in command.options:
                options += f", {key} {literal(command.options[name])}"
        null, swapped = _csv_null(command)
        if command.file_format == "CSV":
            options += f", NULL {literal(null)}"
        statement = f"COPY {command.table} ({', '.join(columns)}) FROM STDIN WITH ({options})"
        total = found = 0
        for entry in files:
            body = _open(s3, entry)
            if body is None:
                continue
            found += 1
            chunks = (
                _pieces(_parquet_csv(body, table_columns, entry.url))
                if command.file_format == "PARQUET"
                else _replaced(_csv_chunks(body), swapped)
            )
            result = backend.copy_in(statement, chunks)
            if result.error is not None:
                ids = (query_id, sys_id)
                raise _load_failure(side, result, entry, command, oid, ids, user, backend)
            total += int(result.tag.split()[-1]) if result.tag else 0
        if not found:
            # "Regardless of any mandatory settings, COPY will terminate if no files are found."
            raise EmulationError(
                "XX000",
                f"Load into table '{command.table.strip(chr(34))}' failed: no files found at "
                f"{command.source} (COPY terminates if no files are found: {MANIFEST_DOC})",
            )
        backend.query(
            f"SELECT set_config('{LAST_COPY_COUNT}', '{total}', false), "
            f"set_config('{LAST_COPY_ID}', '{query_id}', false)"
        )
        if own:
            backend.query("COMMIT")
        return "COPY"
    except EmulationError:
        fail_transaction(backend, own)
        raise


def _load_failure(
    side: SideConnection,
    result: Result,
    entry: Entry,
    command: CopyCommand,
    oid: int,
    ids: tuple[int, int],
    user: str,
    backend: Backend,
) -> EmulationError:
    """Record a data error as Redshift does and build the error the client sees: STL's row
    under the COPY's query id, SYS's under its own query_id, the DETAIL naming the first in
    Redshift's current form (``query:     <id>[child_sequence:1]``)."""
    query_id, sys_id = ids
    error = result.error or {}
    state, reason = error.get("C", "XX000"), error.get("M", "")
    if not (state.startswith("22") or state == "23502"):
        return EmulationError(state, reason, error.get("D", ""))  # not the data: as PostgreSQL said
    where = _WHERE.search(error.get("W", ""))
    line = where.group(1) if where else "0"
    column = (where.group(2) or "") if where else ""
    if not column and state == "23502":  # PostgreSQL names the NOT NULL column in its message
        named = re.search(r'column "([^"]+)"', reason)
        column = named.group(1) if named else ""
    value = (where.group(3) or "") if where else ""
    code = _CODES.get(state, 1200)
    for text, format_code in _FORMAT_CODES:
        if text in reason:
            code = format_code
    raw_line, raw_value = ("", value) if column else (value, "")
    side.query(
        STL_INSERT,
        [
            user,
            str(oid),
            str(backend.pid),
            str(query_id),
            entry.url,
            line,
            column,
            "",
            "",
            raw_line[:1024],
            raw_value[:1024],
            str(code),
            reason[:100],
        ],
    )
    side.query(
        SYS_INSERT,
        [
            user,
            str(sys_id),
            str(backend.pid),
            str(oid),
            entry.url,
            line,
            column,
            "",
            "",
            str(code),
            reason[:512],
        ],
    )
    table = command.table.strip('"')
    detail = (
        "\n  -----------------------------------------------\n"
        f"  error:  {reason}\n  code:      {code}\n  context:   {column}\n"
        f"  query:     {query_id}[child_sequence:1]\n  location:  {entry.url}:{line}\n"
        "  process:   redshift_local\n  -----------------------------------------------\n"
    )
    return EmulationError(
        "XX000",
        f"Load into table '{table}' failed.  Check 'sys_load_error_detail' system table for "
        "details.",
        detail,
    )
