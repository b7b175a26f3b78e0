"""How rows enter a target table: staging → de-duplicate → MERGE → ledger, one transaction.

Shared by the file load stage (``pipeline/load.py``) and the batch-rows route
(``api/batch_rows.py``): both write cleaned CSV files and a COPY manifest, then call
``merge_manifest``. The load ledger makes a replayed upload id a no-op. It does not write
manifests or rejects files.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib.warehouse import sql

if TYPE_CHECKING:
    from chalicelib.tables import Table
    from chalicelib.warehouse.protocol import Warehouse

logger = logging.getLogger(__name__)

# Given the superseded (row, winning row) pairs; may return what to do just before the commit.
BeforeCommit = Callable[[list[tuple[int, int]]], Callable[[], None] | None]


@dataclass(frozen=True)
class Merged:
    """What one staging → de-duplicate → MERGE transaction did (or had already done)."""

    rows_loaded: int
    rows_superseded: int
    superseded: tuple[tuple[int, int], ...] = ()
    already_loaded: bool = False


def merge_manifest(
    warehouse: Warehouse,
    table: Table,
    manifest_uri: str | None,
    upload_id: str,
    before_commit: BeforeCommit | None = None,
) -> Merged:
    """COPY the cleaned CSV files of a manifest into staging, drop superseded ids, MERGE by id and
    record ``upload_id`` in the ledger, all in one transaction; an upload id already in the
    ledger is a no-op. ``manifest_uri`` None means no file holds a valid row: nothing is copied
    (Redshift's COPY fails when it finds no file) and the upload is recorded with 0 rows.
    ``before_commit`` receives the superseded (row, winning row) pairs inside the
    transaction, as soon as they are known; it may return a function, called just before the
    commit, that finishes its work (so slow reads can overlap the MERGE). A failure in either
    rolls the load back.

    Raises:
        TransientWarehouseError: the warehouse may recover; retry.
        PermanentWarehouseError: the warehouse rejected the load.
    """
    staging = sql.staging_name(table, "staging")
    replaced = sql.staging_name(table, "superseded")

    def work() -> Merged:
        recorded = warehouse.execute(sql.ledger_lookup(), [upload_id])
        if recorded:
            logger.info("load.skipped", extra={"reason": "already in the load ledger"})
            return Merged(int(recorded[0][0]), int(recorded[0][1]), already_loaded=True)
        for name in (staging, replaced):
            warehouse.execute(sql.drop_table(name))
        warehouse.execute(sql.create_staging(table, staging, warehouse.dialect))
        copied = (
            warehouse.copy_from_s3(staging, sql.staging_columns(table), manifest_uri)
            if manifest_uri is not None
            else 0
        )
        warehouse.execute(sql.create_superseded(table, staging, replaced))
        superseded = [
            (int(row), int(winner))
            for row, winner in warehouse.execute(sql.superseded_rows(replaced))
        ]
        finish = before_commit(superseded) if before_commit is not None else None
        # Most uploads repeat no id: staging is then already one row per id.
        dropped = replaced if superseded else None
        for statement in sql.merge_staged(table, staging, dropped, warehouse.dialect):
            warehouse.execute(statement)
        loaded = copied - len(superseded)
        loaded_at = datetime.now(UTC).replace(tzinfo=None)
        warehouse.execute(
            sql.ledger_insert(), [upload_id, table.name, loaded, len(superseded), loaded_at]
        )
        for name in (staging, replaced):
            warehouse.execute(sql.drop_table(name))
        if finish is not None:
            finish()
        return Merged(loaded, len(superseded), tuple(superseded))

    # Every load writes the ledger, so loads of any table take turns on it; the target is locked
    # too so that nothing else writes it between our snapshot and commit. A conflict reruns
    # ``work`` whole, ``before_commit`` included (it only overwrites a file).
    return warehouse.run_transaction(work, lock=(table.name, sql.LEDGER_TABLE))
