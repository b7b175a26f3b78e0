"""A local Redshift-compatible engine: PostgreSQL 15 behind a Redshift translation proxy.

``LocalRedshift`` starts a fresh PostgreSQL cluster (``cluster.py``), adds Redshift's system
tables and functions (``catalog.py``) and puts the proxy (``proxy.py``) in front of it, so the
unpatched ``redshift_connector`` connects through the adapter's own connect path. Redshift-only
statements are emulated in ``copyload.py`` (COPY from S3) and ``unload.py`` (UNLOAD) against the
local S3 endpoint. Never imported by ``chalicelib``; docs/redshift-local.md lists every known
difference from Redshift.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.redshift_local.catalog import bootstrap
from devstack.redshift_local.cluster import INSTALL_HINT, Cluster, ClusterError, find_binaries
from devstack.redshift_local.data_checks import Identity
from devstack.redshift_local.data_service import DataApiServer
from devstack.redshift_local.proxy import EngineContext, Proxy

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["INSTALL_HINT", "ClusterError", "DataApiServer", "LocalRedshift", "available"]

DATABASE = "dev"
USER = "ingest"
# COPY and UNLOAD must name a role; the engine checks its shape only.
IAM_ROLE = "arn:aws:iam::123456789012:role/redshift-local"
# The cluster identifier the Data API stand-in answers to (any other is refused, as AWS would).
CLUSTER_ID = "redshift-local"


def available() -> bool:
    """Whether PostgreSQL's server binaries are installed here."""
    return find_binaries() is not None


@dataclass
class LocalRedshift:
    """The engine; ``start()`` then ``stop()``, or use it as a context manager.

    ``root`` keeps the cluster between runs (its tables stay, like the DuckDB file); without
    it the cluster lives in a temporary folder removed at ``stop()``.
    """

    s3: Any
    root: Path | None = None
    cluster: Cluster | None = None
    proxy: Proxy | None = None
    data_api: DataApiServer | None = None
    password: str = field(default_factory=lambda: secrets.token_hex(16), repr=False)
    _temporary: bool = False

    def start(self) -> LocalRedshift:
        """Raises:
        ClusterError: PostgreSQL is missing or would not start.
        """
        if self.root is None:
            self.root = Path(tempfile.mkdtemp(prefix="redshift-local-"))
            self._temporary = True
        self.cluster = Cluster(self.root).start()
        admin, database = self.cluster.side("postgres"), self.cluster.side(DATABASE)
        try:
            bootstrap(admin, database, USER, self.password)
        except BaseException:
            self.cluster.stop()
            raise
        finally:
            admin.close()
            database.close()
        context = EngineContext(
            self.cluster.port,
            self.cluster.socket_path(),
            DATABASE,
            self.s3,
            delay_s=float(os.environ.get("REDSHIFT_LOCAL_STATEMENT_DELAY") or 0),
            delay_match=os.environ.get("REDSHIFT_LOCAL_DELAY_MATCH", ""),
        )
        self.proxy = Proxy(context).start()
        return self

    def delay(self, seconds: float, match: str = "") -> None:
        """Make each statement matching ``match`` (a regular expression; empty: every one) wait
        ``seconds`` on the server first; 0 turns the delay off."""
        assert self.proxy is not None
        self.proxy.context.delay_s, self.proxy.context.delay_match = seconds, match

    def use_s3(self, s3: Any) -> None:
        """Point COPY and UNLOAD at another S3 client (tests: the one inside their moto mock)."""
        self.s3 = s3
        if self.proxy is not None:
            self.proxy.context.s3 = s3

    @property
    def port(self) -> int:
        assert self.proxy is not None
        return self.proxy.port

    def environment(self) -> dict[str, str]:
        """The INGEST_REDSHIFT_* settings that point the adapter at this engine."""
        return {
            "INGEST_WAREHOUSE": "redshift",
            "INGEST_REDSHIFT_HOST": "127.0.0.1",
            "INGEST_REDSHIFT_PORT": str(self.port),
            "INGEST_REDSHIFT_DATABASE": DATABASE,
            "INGEST_REDSHIFT_USER": USER,
            "INGEST_REDSHIFT_PASSWORD": self.password,
            "INGEST_REDSHIFT_IAM_ROLE": IAM_ROLE,
            "INGEST_REDSHIFT_AUTH": "password",
            "INGEST_REDSHIFT_SSL": "false",
        }

    def start_data_api(
        self,
        events: Callable[[dict[str, Any]], None] | None = None,
        port: int = 0,
        cluster_id: str = CLUSTER_ID,
        secret_arns: frozenset[str] = frozenset(),
    ) -> DataApiServer:
        """The local stand-in of the Redshift Data API, running statements on this engine;
        ``events`` sends its statement events (``DataApiServer``); ``cluster_id`` is the name the
        engine answers to and ``secret_arns`` the secrets that stand for its user (a deployed
        stage's, where the stack names them)."""
        if self.data_api is None:
            self.data_api = DataApiServer(
                {
                    "host": "127.0.0.1",
                    "port": self.port,
                    "database": DATABASE,
                    "user": USER,
                    "password": self.password,
                    "ssl": False,
                },
                Identity(cluster_id, DATABASE, USER, secret_arns=secret_arns),
                port=port,
                events=events,
            ).start()
        return self.data_api

    def data_api_environment(self) -> dict[str, str]:
        """``environment()`` plus the settings that send statements through the Data API
        stand-in (started here if needed); loads finish by polling, not by events."""
        server = self.start_data_api()
        return {
            **self.environment(),
            "INGEST_REDSHIFT_API": "data",
            "INGEST_REDSHIFT_CLUSTER_ID": CLUSTER_ID,
            "INGEST_REDSHIFT_DATA_EVENTS": "false",
            "INGEST_REDSHIFT_DATA_WAIT_SECONDS": "2",
            "AWS_ENDPOINT_URL_REDSHIFT_DATA": server.url,
        }

    def stop(self) -> None:
        if self.data_api is not None:
            self.data_api.stop()
            self.data_api = None
        if self.proxy is not None:
            self.proxy.stop()
            self.proxy = None
        if self.cluster is not None:
            self.cluster.stop()
            self.cluster = None
        if self._temporary and self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LocalRedshift:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
