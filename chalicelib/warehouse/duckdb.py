"""The embedded warehouse: DuckDB in a file under DATA_DIR, for the local stack and tests.

It offers what the Redshift adapter offers, on the same S3 objects: COPY reads a Redshift-style
manifest and its CSV (or, for a restore, Parquet) files through boto3 (DuckDB's httpfs is not
available offline), UNLOAD writes Parquet files and a manifest back to S3. One connection,
guarded by a lock, serves all threads, so there are no concurrent writers to lock out.
"""

from __future__ import annotations

import json
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import duckdb
from boto3.s3.transfer import TransferConfig

from chalicelib.errors import PermanentWarehouseError, TransientWarehouseError
from chalicelib.keys import parse_s3_uri, s3_uri
from chalicelib.warehouse.protocol import UnloadResult
from chalicelib.warehouse.sql import Dialect, copy_parquet, ident
from chalicelib.warehouse.sql import duckdb as duckdb_sql

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from mypy_boto3_s3 import S3Client

T = TypeVar("T")

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
            for statement in duckdb_sql.settings(MEMORY_LIMIT):
                self._con.execute(statement)
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

    def run_transaction(self, work: Callable[[], T], lock: Sequence[str] = ()) -> T:
        # One connection and one lock serve every caller: nothing else can write meanwhile, and
        # DuckDB has no LOCK statement. The names are still checked, as Redshift's LOCK would.
        for name in lock:
            ident(name)
        with self.transaction():
            return work()

    def _entries(self, manifest_uri: str) -> list[tuple[str, str]]:
        """The (bucket, key) of every file a manifest lists, in order."""
        bucket, key = parse_s3_uri(manifest_uri)
        manifest = json.loads(self._s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        return [parse_s3_uri(entry["url"]) for entry in manifest.get("entries", [])]

    def _download(self, manifest_uri: str, tmp: str, suffix: str) -> list[str]:
        """Fetch every file a manifest lists into ``tmp``; return their local paths in order."""
        return list(self._downloads(self._entries(manifest_uri), tmp, suffix))

    def _downloads(self, entries: list[tuple[str, str]], tmp: str, suffix: str) -> Iterator[str]:
        """Download ``entries`` one after the other into ``tmp``, yielding each local path when
        its file is complete; the next file downloads while the caller works on this one."""
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="copy-download")

        def fetch(i: int) -> str:
            path = str(Path(tmp) / f"{i:05d}{suffix}")
            self._s3.download_file(*entries[i], path, Config=_ONE_PART)
            return path

        try:
            ahead = pool.submit(fetch, 0)
            for i in range(len(entries)):
                path = ahead.result()
                if i + 1 < len(entries):
                    ahead = pool.submit(fetch, i + 1)
                yield path
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def copy_from_s3(self, table: str, columns: Sequence[str], manifest_uri: str) -> int:
        for name in (table, *columns):
            ident(name)  # before any I/O
        entries = self._entries(manifest_uri)
        if not entries:
            return 0
        types = {name: kind for name, kind, *_ in self.execute(duckdb_sql.describe(table))}
        statement = duckdb_sql.insert_csv_files(table, columns, types)
        copied = 0
        # One file at a time, each parsed while the next downloads: /tmp holds two files at most,
        # whatever the size of the upload.
        with tempfile.TemporaryDirectory(prefix="copy-") as tmp:
            for path in self._downloads(entries, tmp, ".csv"):
                copied += self._insert_csv(statement, [path])
                Path(path).unlink()
        return copied

    def _insert_csv(self, statement: str, files: list[str]) -> int:
        """Run ``duckdb_sql.insert_csv_files``' statement on ``files``; return the count."""
        with self._lock:
            rows = self.execute(statement, [files])
        return int(rows[0][0]) if rows else 0

    def copy_parquet_from_s3(self, table: str, columns: Sequence[str], manifest_uri: str) -> int:
        statement = copy_parquet(table, columns, manifest_uri, self.dialect)  # before any I/O
        with tempfile.TemporaryDirectory(prefix="restore-") as tmp:
            files = self._download(manifest_uri, tmp, ".parquet")
            if not files:
                return 0
            rows = self.execute(statement, [files])
        return int(rows[0][0]) if rows else 0

    def unload_to_parquet(self, query: str, prefix_uri: str) -> UnloadResult:
        bucket, prefix = parse_s3_uri(prefix_uri.rstrip("/") + "/")
        with tempfile.TemporaryDirectory(prefix="unload-") as tmp:
            path = Path(tmp) / "0000_part_00.parquet"
            with self._lock:
                try:
                    self._con.execute(duckdb_sql.copy_to_parquet_file(query, str(path)))
                    rows = self._con.execute(
                        duckdb_sql.count_parquet_file(), [str(path)]
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
