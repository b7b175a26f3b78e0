"""CSV ingest service: S3 → split → validate → load into Redshift (or DuckDB locally)."""
