"""The warehouse protocol and the factories that pick an adapter.

The protocol itself is in ``protocol.py`` (adapters import it from there), re-exported here.

Callers see only ``Warehouse``: statements, a COPY from a manifest of CSV or Parquet files in S3,
an UNLOAD of a query to Parquet, and a transaction. SQL text comes from ``warehouse.sql``; each
adapter turns its driver's exceptions into ``TransientWarehouseError`` or
``PermanentWarehouseError``. On Redshift, statements travel over a connection
(``redshift_connector``) or the Redshift Data API (``INGEST_REDSHIFT_API``); the factories here
are the one place that choice is read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.errors import ConfigError
from chalicelib.warehouse.protocol import UnloadResult, Warehouse
from chalicelib.warehouse.sql import Dialect

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from mypy_boto3_s3 import S3Client

    from chalicelib.config import Settings
    from chalicelib.tables import Table
    from chalicelib.warehouse.redshift_data import DataApi, DataApiClient

__all__ = [
    "Dialect",
    "UnloadResult",
    "Warehouse",
    "ensure_schema",
    "make_data_api",
    "make_statements",
    "make_warehouse",
    "uses_data_api",
]


def make_warehouse(settings: Settings, s3: S3Client) -> Warehouse:
    """The adapter the settings ask for.

    Raises:
        ConfigError: the configured warehouse cannot be used here.
    """
    if settings.warehouse == "duckdb":
        from chalicelib.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(settings.duckdb_path, s3)
    if settings.warehouse == "redshift" and settings.redshift is not None:
        from chalicelib.warehouse.redshift import RedshiftWarehouse
        from chalicelib.warehouse.redshift_connect import connector

        return RedshiftWarehouse(connector(settings.redshift), settings.redshift.iam_role, s3)
    raise ConfigError(f"warehouse {settings.warehouse!r} has no adapter in this build")


def uses_data_api(settings: Settings) -> bool:
    """True when Redshift is reached through the Data API rather than a connection."""
    return settings.redshift is not None and settings.redshift.api == "data"


def make_data_api(settings: Settings, client: DataApiClient) -> DataApi:
    """The Data API of the configured Redshift, over a boto3 ``redshift-data`` client.

    Raises:
        ConfigError: the settings do not choose the Data API.
    """
    from chalicelib.warehouse.redshift_data import DataApi, Target

    if settings.redshift is None or not uses_data_api(settings):
        raise ConfigError("the Data API is used only with INGEST_REDSHIFT_API=data")
    return DataApi(client, Target.of(settings.redshift))


def make_statements(
    settings: Settings,
    connection: Callable[[], Warehouse],
    data_api: Callable[[], DataApi],
) -> Warehouse:
    """Where single statements run (reports, health): the Data API when the settings choose
    it, else the connection ``connection`` makes (called only then)."""
    if not uses_data_api(settings):
        return connection()
    from chalicelib.warehouse.redshift_data import DataApiWarehouse

    return DataApiWarehouse(data_api())


def ensure_schema(warehouse: Warehouse, tables: Iterable[Table]) -> None:
    """Create the target tables and the load ledger if they do not exist."""
    from chalicelib.warehouse import sql

    for table in tables:
        warehouse.execute(sql.create_table(table, warehouse.dialect))
    warehouse.execute(sql.create_ledger(warehouse.dialect))
