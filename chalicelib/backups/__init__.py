"""Backups and restores of the target tables, kept apart from the ingest pipeline.

``backup`` UNLOADs a table to Parquet (or ``avro`` exports it, since Redshift cannot UNLOAD AVRO)
and records it in the ``catalog``, last; ``restore`` COPYs a backup back into a table, verified
and atomic. Nothing here reads an upload: backups start from the API, never from an S3 event.
"""

__all__ = ["avro", "backup", "catalog", "restore"]
