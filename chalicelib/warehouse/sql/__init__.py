"""Pure functions that build SQL text for the warehouse adapters, one module per job.

``quoting`` (identifiers, and the literals COPY/UNLOAD need), ``ddl`` (tables, the ledger,
staging), ``upsert`` (superseded rows and the MERGE), ``s3io`` (COPY, UNLOAD, load errors),
``batchload`` (the load as one Data API batch), ``reports`` (the analytics), ``batchload`` (the Data API's one-batch load) and ``duckdb`` (what
only the embedded warehouse runs). Every name but
DuckDB's is re-exported here, so callers write ``sql.create_table(...)`` whichever module holds
it.
"""

from chalicelib.errors import UnsafeIdentifierError
from chalicelib.warehouse.sql.batchload import (
    drop_load_tables,
    ledger_insert_counted,
    load_batch,
    load_tables,
    skip_if_loaded,
)
from chalicelib.warehouse.sql.ddl import (
    LEDGER_TABLE,
    SOURCE_ROW,
    column_list,
    column_type,
    count_rows,
    create_ledger,
    create_restore_staging,
    create_staging,
    create_table,
    delete_all,
    drop_table,
    insert_from,
    ledger_insert,
    ledger_lookup,
    lock,
    redshift_layout,
    select_all,
    select_page,
    staging_columns,
    staging_name,
)
from chalicelib.warehouse.sql.quoting import (
    Dialect,
    ident,
    role_literal,
    s3_literal,
    string_literal,
)
from chalicelib.warehouse.sql.reports import (
    departments_above_mean,
    hires_by_quarter,
    hires_per_department,
    mean_hires_per_department,
)
from chalicelib.warehouse.sql.s3io import (
    COPY_TIMEFORMAT,
    UNLOAD_MAX_FILE_MB,
    copy_csv,
    copy_parquet,
    last_copy_count,
    load_errors,
    load_errors_by_file,
    load_errors_stl,
    unload_parquet,
)
from chalicelib.warehouse.sql.upsert import (
    create_superseded,
    delete_superseded,
    merge,
    merge_staged,
    superseded_rows,
)

__all__ = [
    "COPY_TIMEFORMAT",
    "LEDGER_TABLE",
    "SOURCE_ROW",
    "UNLOAD_MAX_FILE_MB",
    "Dialect",
    "UnsafeIdentifierError",
    "column_list",
    "column_type",
    "copy_csv",
    "copy_parquet",
    "count_rows",
    "create_ledger",
    "create_restore_staging",
    "create_staging",
    "create_superseded",
    "create_table",
    "delete_all",
    "delete_superseded",
    "departments_above_mean",
    "drop_load_tables",
    "drop_table",
    "hires_by_quarter",
    "hires_per_department",
    "ident",
    "insert_from",
    "last_copy_count",
    "ledger_insert",
    "ledger_insert_counted",
    "ledger_lookup",
    "load_batch",
    "load_errors",
    "load_errors_by_file",
    "load_errors_stl",
    "load_tables",
    "lock",
    "mean_hires_per_department",
    "merge",
    "merge_staged",
    "redshift_layout",
    "role_literal",
    "s3_literal",
    "select_all",
    "select_page",
    "skip_if_loaded",
    "staging_columns",
    "staging_name",
    "string_literal",
    "superseded_rows",
    "unload_parquet",
]
