"""The Redshift adapter's settings: where the cluster is, how to sign in, which API to use.

Owns the ``INGEST_REDSHIFT_*`` variables and what combinations of them mean (three auth modes,
the connector or the Data API). ``config.Settings.from_env`` reads them through
``redshift_settings`` when the warehouse is Redshift; nothing here reads ``os.environ``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from chalicelib import envvars
from chalicelib.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Mapping

ENV_REDSHIFT_HOST = "INGEST_REDSHIFT_HOST"
ENV_REDSHIFT_PORT = "INGEST_REDSHIFT_PORT"
ENV_REDSHIFT_DATABASE = "INGEST_REDSHIFT_DATABASE"
ENV_REDSHIFT_USER = "INGEST_REDSHIFT_USER"
ENV_REDSHIFT_PASSWORD = "INGEST_REDSHIFT_PASSWORD"  # noqa: S105 - env var name, not a secret
ENV_REDSHIFT_IAM_ROLE = "INGEST_REDSHIFT_IAM_ROLE"
ENV_REDSHIFT_AUTH = "INGEST_REDSHIFT_AUTH"
ENV_REDSHIFT_CLUSTER_ID = "INGEST_REDSHIFT_CLUSTER_ID"
ENV_REDSHIFT_WORKGROUP = "INGEST_REDSHIFT_WORKGROUP"
ENV_REDSHIFT_SECRET_ARN = "INGEST_REDSHIFT_SECRET_ARN"  # noqa: S105 - env var name, not a secret
ENV_REDSHIFT_REGION = "INGEST_REDSHIFT_REGION"
# "false" only for the local engine (devstack/redshift_local), which speaks no TLS.
ENV_REDSHIFT_SSL = "INGEST_REDSHIFT_SSL"
# connector: redshift_connector over TCP (the Lambda in the cluster's VPC); data: the Redshift Data
# API (HTTPS, a load may outlast the Lambda; docs/data-api.md).
ENV_REDSHIFT_API = "INGEST_REDSHIFT_API"
# true: the load finishes on the Data API's EventBridge event; false: by re-queueing itself.
ENV_REDSHIFT_DATA_EVENTS = "INGEST_REDSHIFT_DATA_EVENTS"
# How long a load invocation waits on its Data API statement before handing over.
ENV_REDSHIFT_DATA_WAIT = "INGEST_REDSHIFT_DATA_WAIT_SECONDS"
# Each connector session's statement_timeout; 0 leaves it to the cluster (its parameter group's
# statement_timeout or WLM query monitoring rules).
ENV_REDSHIFT_STATEMENT_TIMEOUT = "INGEST_REDSHIFT_STATEMENT_TIMEOUT_SECONDS"

# password: user and password from the environment (dev clusters); iam: temporary credentials from
# GetClusterCredentials / redshift-serverless GetCredentials; secret: a Secrets Manager secret.
RedshiftAuth = Literal["password", "iam", "secret"]
REDSHIFT_AUTHS: tuple[RedshiftAuth, ...] = ("password", "iam", "secret")
RedshiftApi = Literal["connector", "data"]
DEFAULT_DATA_WAIT_S = 20
# The role Redshift assumes for COPY/UNLOAD; it is written into SQL text, so its shape is checked.
IAM_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$")


@dataclass(frozen=True)
class RedshiftSettings:
    """Connection settings for the Redshift adapter; the password is never logged."""

    host: str | None
    port: int
    database: str
    user: str | None
    password: str | None = field(repr=False)
    iam_role: str
    auth: RedshiftAuth = "password"
    cluster_identifier: str | None = None
    workgroup: str | None = None
    secret_arn: str | None = None
    region: str | None = None
    ssl: bool = True
    api: RedshiftApi = "connector"
    data_events: bool = True
    data_wait_s: int = DEFAULT_DATA_WAIT_S
    statement_timeout_s: int = 0

    def __repr__(self) -> str:
        return (
            f"RedshiftSettings(api={self.api!r}, auth={self.auth!r}, host={self.host!r}, "
            f"database={self.database!r}, user={self.user!r})"
        )


def redshift_settings(env: Mapping[str, str]) -> RedshiftSettings:
    """The Redshift adapter's settings, from the ``INGEST_REDSHIFT_*`` variables.

    Raises:
        ConfigError: a variable the chosen auth mode needs is missing, one it cannot use is
            set, or a value does not parse.
    """

    def get(name: str) -> str | None:
        return env.get(name, "").strip() or None

    auth = get(ENV_REDSHIFT_AUTH) or "password"
    if auth not in REDSHIFT_AUTHS:
        raise ConfigError(f"{ENV_REDSHIFT_AUTH} must be one of {', '.join(REDSHIFT_AUTHS)}")
    required = [ENV_REDSHIFT_DATABASE, ENV_REDSHIFT_IAM_ROLE]
    unused: list[str] = []
    if auth == "password":
        required += [ENV_REDSHIFT_HOST, ENV_REDSHIFT_USER, ENV_REDSHIFT_PASSWORD]
        unused += [ENV_REDSHIFT_SECRET_ARN]
    elif auth == "iam":
        if bool(get(ENV_REDSHIFT_CLUSTER_ID)) == bool(get(ENV_REDSHIFT_WORKGROUP)):
            raise ConfigError(
                f"{ENV_REDSHIFT_AUTH}=iam needs exactly one of "
                f"{ENV_REDSHIFT_CLUSTER_ID} (provisioned) or {ENV_REDSHIFT_WORKGROUP} (serverless)"
            )
        if get(ENV_REDSHIFT_CLUSTER_ID):
            required.append(ENV_REDSHIFT_USER)  # GetClusterCredentials issues a password for it
        unused += [ENV_REDSHIFT_PASSWORD, ENV_REDSHIFT_SECRET_ARN]
    else:
        required.append(ENV_REDSHIFT_SECRET_ARN)
        unused += [ENV_REDSHIFT_USER, ENV_REDSHIFT_PASSWORD]
    missing = [name for name in required if not get(name)]
    if missing:
        raise ConfigError(f"warehouse 'redshift' with {auth} auth needs {', '.join(missing)}")
    ignored = [name for name in unused if get(name)]
    if ignored:
        raise ConfigError(f"{', '.join(ignored)} cannot be used with {ENV_REDSHIFT_AUTH}={auth}")
    api = get(ENV_REDSHIFT_API) or "connector"
    if api not in ("connector", "data"):
        raise ConfigError(f"{ENV_REDSHIFT_API} must be 'connector' or 'data', got {api!r}")
    if api == "data" and not (get(ENV_REDSHIFT_CLUSTER_ID) or get(ENV_REDSHIFT_WORKGROUP)):
        raise ConfigError(
            f"{ENV_REDSHIFT_API}=data needs {ENV_REDSHIFT_CLUSTER_ID} or {ENV_REDSHIFT_WORKGROUP}"
        )
    iam_role = env[ENV_REDSHIFT_IAM_ROLE].strip()
    if not IAM_ROLE_ARN.fullmatch(iam_role):
        raise ConfigError(f"{ENV_REDSHIFT_IAM_ROLE} must be an IAM role ARN, got {iam_role!r}")
    return RedshiftSettings(
        host=get(ENV_REDSHIFT_HOST),
        port=envvars.integer(env, ENV_REDSHIFT_PORT, 5439, minimum=1),
        database=env[ENV_REDSHIFT_DATABASE].strip(),
        user=get(ENV_REDSHIFT_USER),
        password=env.get(ENV_REDSHIFT_PASSWORD) or None,
        iam_role=iam_role,
        auth=auth,
        cluster_identifier=get(ENV_REDSHIFT_CLUSTER_ID),
        workgroup=get(ENV_REDSHIFT_WORKGROUP),
        secret_arn=get(ENV_REDSHIFT_SECRET_ARN),
        region=get(ENV_REDSHIFT_REGION),
        ssl=envvars.flag(env, ENV_REDSHIFT_SSL, default=True),
        api=api,  # type: ignore[arg-type]  # checked above
        data_events=envvars.flag(env, ENV_REDSHIFT_DATA_EVENTS, default=True),
        data_wait_s=envvars.integer(env, ENV_REDSHIFT_DATA_WAIT, DEFAULT_DATA_WAIT_S, minimum=0),
        statement_timeout_s=envvars.integer(env, ENV_REDSHIFT_STATEMENT_TIMEOUT, 0, minimum=0),
    )
