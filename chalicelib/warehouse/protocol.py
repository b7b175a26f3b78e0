"""What every warehouse adapter offers: the ``Warehouse`` protocol and what an UNLOAD returns.

Kept apart from the factories in ``__init__.py`` so that the adapters, which the factories
import, can name the protocol without importing the factories back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractContextManager

    from chalicelib.warehouse.sql import Dialect

T = TypeVar("T")


@dataclass(frozen=True)
class UnloadResult:
    """What an UNLOAD wrote: the Parquet files, their row count and the manifest describing them."""

    files: tuple[str, ...]
    rows: int
    manifest_uri: str


class Warehouse(Protocol):
    """What every warehouse adapter offers."""

    dialect: Dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement with qmark (``?``) parameters; return its rows (empty if none)."""
        ...

    def copy_from_s3(self, table: str, columns: Sequence[str], manifest_uri: str) -> int:
        """COPY the CSV files a Redshift-style manifest lists into ``table``; return rows copied."""
        ...

    def copy_parquet_from_s3(self, table: str, columns: Sequence[str], manifest_uri: str) -> int:
        """COPY the Parquet files listed in a manifest (as UNLOAD writes it) into ``table``.

        The files' columns must be ``columns``, in that order (Redshift maps Parquet columns by
        position); return the rows copied.
        """
        ...

    def unload_to_parquet(self, query: str, prefix_uri: str) -> UnloadResult:
        """Write the rows of ``query`` as Parquet files under ``prefix_uri`` with a manifest."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """A block that commits on success and rolls back on any exception."""
        ...

    def run_transaction(self, work: Callable[[], T], lock: Sequence[str] = ()) -> T:
        """Run ``work`` in a transaction that first locks the tables in ``lock`` against other
        writers; rerun it (bounded, with backoff) if the warehouse aborts it for a conflict."""
        ...

    def close(self) -> None: ...
