"""The deep health check: reach the bucket and run a query on the warehouse, report each.

On Redshift it also says which way statements travel (``api``: ``connector`` or ``data``), and
the query goes that way.

Owns what ``GET /api/v1/health`` answers: a constant ``Health`` (the API is up), or with
``deep=true`` the ``DeepHealth`` of each dependency. It changes nothing: one HeadBucket, one
``SELECT 1``.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import IngestError

if TYPE_CHECKING:
    from collections.abc import Callable

    from mypy_boto3_s3 import S3Client

    from chalicelib.config import Settings
    from chalicelib.warehouse import Warehouse

logger = logging.getLogger(__name__)

OK = "ok"


@dataclass(frozen=True)
class Health:
    """The API is up."""

    status: Literal["ok"] = "ok"


@dataclass(frozen=True)
class WarehouseHealth:
    """The warehouse engine that was asked, how (Redshift: the Data API or a connection;
    null for DuckDB), and its answer: ``ok`` or a one-line reason."""

    engine: str
    api: Literal["data", "connector"] | None
    status: str


@dataclass(frozen=True)
class DeepHealth:
    """Each dependency's status after reaching it: ``ok`` or a one-line reason (never a
    credential); ``degraded`` when any is not ok."""

    status: Literal["ok", "degraded"]
    s3: str
    warehouse: WarehouseHealth

    @property
    def ok(self) -> bool:
        return self.status == OK

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def check(s3: S3Client, settings: Settings, warehouse: Callable[[], Warehouse]) -> DeepHealth:
    """Reach the bucket (HeadBucket) and run ``SELECT 1`` on the warehouse."""
    try:
        s3.head_bucket(Bucket=settings.bucket)
        s3_status = OK
    except ClientError as exc:
        s3_status = f"bucket {settings.bucket}: {exc.response.get('Error', {}).get('Code', '?')}"
    except BotoCoreError as exc:
        s3_status = f"bucket {settings.bucket}: {type(exc).__name__}"
    try:
        rows = warehouse().execute("SELECT 1")
        warehouse_status = OK if rows and rows[0][0] == 1 else f"SELECT 1 answered {rows!r}"
    except IngestError as exc:
        warehouse_status = exc.message
    ok = s3_status == OK and warehouse_status == OK
    api = settings.redshift.api if settings.redshift is not None else None
    health = DeepHealth(
        "ok" if ok else "degraded",
        s3_status,
        WarehouseHealth(settings.warehouse, api, warehouse_status),
    )
    if not health.ok:
        logger.warning("health.degraded", extra=health.to_json())
    return health
