"""The embedded warehouse: DuckDB in a file under DATA_DIR, for the local stack and tests.

It offers what the Redshift adapter offers, on the same S3 objects: COPY reads a Redshift-style
manifest and its CSV files through boto3 (DuckDB's httpfs is not available offline), UNLOAD writes
Parquet files and a manifest back to S3. One connection, guarded by a lock, serves all threads.
"""

from __future__ import annotations

import json
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from boto3.s3.transfer import TransferConfig

from chalicelib.errors import PermanentWarehouseError, TransientWarehouseError
from chalicelib.keys import parse_s3_uri, s3_uri
from chalicelib.warehouse import UnloadResult
from chalicelib.warehouse.sql import Dialect, ident

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from mypy_boto3_s3 import S3Client

# The load handler runs with DuckDB in its process locally; this keeps it within 256 MB.
MEMORY_LIMIT = "96MB"
# Downloads one part at a time: ten parallel parts would each hold a buffer in the handler.
_ONE_PART = TransferConfig(use_threads=False)
# Lock conflicts and I/O trouble may pass; anything else (bad SQL, constraint) will not.
_TRANSIENT = (duckdb.TransactionException, duckdb.IOException, duckdb.InterruptException)


def _translate(exc: duckdb.Error) -> Exception:
    kind = TransientWarehouseError if isinstance(exc, _TRANSIENT) else PermanentWarehouseError
    return kind(f"duckdb: {exc}")


class DuckDBWarehouse:
    """A ``Warehouse`` on a DuckDB database file (or ``:memory:``)."""

    dialect: Dialect = "duckdb"

    def __init__(self, path: str, s3: S3Client) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._con = duckdb.connect(path)
            # A Lambda-sized budget: past it DuckDB spills to temporary files instead of growing.
            self._con.execute(f"SET memory_limit = '{MEMORY_LIMIT}'")
        except duckdb.Error as exc:
            raise _translate(exc) from exc
        self._s3 = s3
        self._lock = threading.RLock()
        self._in_transaction = False

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                cursor = self._con.execute(sql, list(params))
                return cursor.fetchall() if cursor.description else []
            except duckdb.Error as exc:
                raise _translate(exc) from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            if self._in_transaction:
                raise PermanentWarehouseError("nested transactions are not supported")
            self.execute("BEGIN TRANSACTION")
            self._in_transaction = True
            try:
                yield
            except BaseException:
                self._con.rollback()
                raise
            else:
                self.execute("COMMIT")
            finally:
                self._in_transaction = False

    def copy_from_s3(self, table: str, columns: Sequence[str], manifest_uri: str) -> int:
        bucket, key = parse_s3_uri(manifest_uri)
        manifest = json.loads(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        entries = manifest.get("entries", [])
        if not entries:
            return 0
        types = {name: kind for name, kind, *_ in self.execute(f"DESCRIBE {ident(table)}")}
        spec = "{" + ", ".join(f"'{c}': '{types[c]}'" for c in columns) + "}"
        cols = ", ".join(ident(c) for c in columns)
        with tempfile.TemporaryDirectory(prefix="copy-") as tmp:
            files = []
            for i, entry in enumerate(entries):
                src_bucket, src_key = parse_s3_uri(entry["url"])
                path = Path(tmp) / f"{i:05d}.csv"
                self._s3.download_file(src_bucket, src_key, str(path), Config=_ONE_PART)
                files.append(str(path))
            rows = self.execute(
                f"INSERT INTO {ident(table)} ({cols}) SELECT {cols} FROM read_csv(?, "
                f"columns = {spec}, header = false, delim = ',', quote = '\"', escape = '\"', "
                "auto_detect = false, strict_mode = true, timestampformat = '%Y-%m-%d %H:%M:%S')",
                [files],
            )
        return int(rows[0][0]) if rows else 0

    def unload_to_parquet(self, query: str, prefix_uri: str) -> UnloadResult:
        bucket, prefix = parse_s3_uri(prefix_uri.rstrip("/") + "/")
        with tempfile.TemporaryDirectory(prefix="unload-") as tmp:
            path = Path(tmp) / "0000_part_00.parquet"
            with self._lock:
                try:
                    self._con.execute(f"COPY ({query}) TO '{path}' (FORMAT parquet)")
                    rows = self._con.execute(
                        "SELECT COUNT(*) FROM read_parquet(?)", [str(path)]
                    ).fetchone()
                except duckdb.Error as exc:
                    raise _translate(exc) from exc
            count = int(rows[0]) if rows else 0
            key = f"{prefix}{path.name}"
            self._s3.upload_file(str(path), bucket, key)
            size = path.stat().st_size
        # The same shape as Redshift's UNLOAD ... MANIFEST VERBOSE, so restore reads either.
        manifest = {
            "entries": [
                {
                    "url": s3_uri(bucket, key),
                    "meta": {"content_length": size, "record_count": count},
                }
            ],
            "meta": {"content_length": size, "record_count": count},
        }
        manifest_key = f"{prefix}manifest"
        self._s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest).encode())
        return UnloadResult((s3_uri(bucket, key),), count, s3_uri(bucket, manifest_key))

    def close(self) -> None:
        with self._lock:
            self._con.close()
