"""Redshift settings from the environment: what each auth mode needs, and what it refuses."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from chalicelib.config import Settings
from chalicelib.errors import ConfigError
from chalicelib.warehouse.redshift_connect import connect_kwargs, read_secret

if TYPE_CHECKING:
    from chalicelib.warehouse.settings import RedshiftSettings

ROLE = "arn:aws:iam::123456789012:role/ingest-copy-unload"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:ingest/redshift-AbCdEf"
BASE = {
    "INGEST_BUCKET": "ingest-test",
    "INGEST_WAREHOUSE": "redshift",
    "INGEST_REDSHIFT_DATABASE": "dev",
    "INGEST_REDSHIFT_IAM_ROLE": ROLE,
}


def redshift(**env: str) -> RedshiftSettings:
    settings = Settings.from_env({**BASE, **env})
    assert settings.redshift is not None
    return settings.redshift


def test_password_auth_is_the_default() -> None:
    found = redshift(
        INGEST_REDSHIFT_HOST="h.example.com",
        INGEST_REDSHIFT_USER="loader",
        INGEST_REDSHIFT_PASSWORD="pw-from-env",
    )
    assert (found.auth, found.host, found.port, found.user) == (
        "password",
        "h.example.com",
        5439,
        "loader",
    )
    assert "pw-from-env" not in repr(found)
    assert connect_kwargs(found) == {
        "database": "dev",
        "port": 5439,
        "timeout": 30,
        "application_name": "csv-ingest",
        "host": "h.example.com",
        "user": "loader",
        "password": "pw-from-env",
    }


def test_iam_auth_for_a_provisioned_cluster() -> None:
    found = redshift(
        INGEST_REDSHIFT_AUTH="iam",
        INGEST_REDSHIFT_CLUSTER_ID="ingest-prod",
        INGEST_REDSHIFT_USER="loader",
        INGEST_REDSHIFT_HOST="h.example.com",
        INGEST_REDSHIFT_REGION="eu-west-1",
    )
    kwargs = connect_kwargs(found)
    assert kwargs["iam"] is True
    assert (kwargs["cluster_identifier"], kwargs["db_user"], kwargs["region"]) == (
        "ingest-prod",
        "loader",
        "eu-west-1",
    )
    assert "password" not in kwargs


def test_iam_auth_for_a_serverless_workgroup() -> None:
    kwargs = connect_kwargs(redshift(INGEST_REDSHIFT_AUTH="iam", INGEST_REDSHIFT_WORKGROUP="wg"))
    assert kwargs["iam"] is True
    assert kwargs["is_serverless"] is True
    assert kwargs["serverless_work_group"] == "wg"
    assert "host" not in kwargs  # the driver looks the endpoint up with GetWorkgroup


def test_secret_auth_takes_user_password_host_and_port_from_the_secret() -> None:
    found = redshift(INGEST_REDSHIFT_AUTH="secret", INGEST_REDSHIFT_SECRET_ARN=SECRET)
    kwargs = connect_kwargs(found, {"username": "u", "password": "p", "host": "h", "port": 5440})
    assert (kwargs["user"], kwargs["password"], kwargs["host"], kwargs["port"]) == (
        "u",
        "p",
        "h",
        5440,
    )
    # A host set in the settings comes with the settings' port; the secret's goes with its host.
    found = redshift(
        INGEST_REDSHIFT_AUTH="secret",
        INGEST_REDSHIFT_SECRET_ARN=SECRET,
        INGEST_REDSHIFT_HOST="mine",
    )
    kwargs = connect_kwargs(found, {"username": "u", "password": "p", "host": "h", "port": 5440})
    assert (kwargs["host"], kwargs["port"]) == ("mine", 5439)


@pytest.mark.parametrize("secret", [None, {}, {"username": "u"}, {"password": "p"}])
def test_secret_without_credentials_is_a_config_error(secret: dict[str, str] | None) -> None:
    found = redshift(
        INGEST_REDSHIFT_AUTH="secret",
        INGEST_REDSHIFT_SECRET_ARN=SECRET,
        INGEST_REDSHIFT_HOST="h",
    )
    with pytest.raises(ConfigError) as raised:
        connect_kwargs(found, secret)
    assert "p" not in raised.value.message.replace(SECRET, "").split()


class Secrets:
    def __init__(self, text: str) -> None:
        self.text = text

    def get_secret_value(self, *, SecretId: str) -> dict[str, str]:  # noqa: N803 - boto3's name
        return {"SecretString": self.text}


def test_read_secret_never_echoes_a_malformed_secret() -> None:
    with pytest.raises(ConfigError) as raised:
        read_secret(Secrets("password=hunter2"), SECRET)
    assert "hunter2" not in str(raised.value)
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "needs INGEST_REDSHIFT_HOST, INGEST_REDSHIFT_USER, INGEST_REDSHIFT_PASSWORD"),
        ({"INGEST_REDSHIFT_AUTH": "kerberos"}, "must be one of password, iam, secret"),
        ({"INGEST_REDSHIFT_AUTH": "iam"}, "exactly one of INGEST_REDSHIFT_CLUSTER_ID"),
        (
            {
                "INGEST_REDSHIFT_AUTH": "iam",
                "INGEST_REDSHIFT_CLUSTER_ID": "c",
                "INGEST_REDSHIFT_WORKGROUP": "w",
            },
            "exactly one of",
        ),
        (
            {"INGEST_REDSHIFT_AUTH": "iam", "INGEST_REDSHIFT_CLUSTER_ID": "c"},
            "needs INGEST_REDSHIFT_USER",
        ),
        (
            {
                "INGEST_REDSHIFT_AUTH": "iam",
                "INGEST_REDSHIFT_WORKGROUP": "w",
                "INGEST_REDSHIFT_PASSWORD": "x",
            },
            "INGEST_REDSHIFT_PASSWORD cannot be used with INGEST_REDSHIFT_AUTH=iam",
        ),
        ({"INGEST_REDSHIFT_AUTH": "secret"}, "needs INGEST_REDSHIFT_SECRET_ARN"),
        (
            {
                "INGEST_REDSHIFT_AUTH": "secret",
                "INGEST_REDSHIFT_SECRET_ARN": SECRET,
                "INGEST_REDSHIFT_USER": "u",
            },
            "INGEST_REDSHIFT_USER cannot be used",
        ),
        (
            {
                "INGEST_REDSHIFT_HOST": "h",
                "INGEST_REDSHIFT_USER": "u",
                "INGEST_REDSHIFT_PASSWORD": "p",
                "INGEST_REDSHIFT_IAM_ROLE": "arn:aws:iam::123456789012:role/x' --",
            },
            "must be an IAM role ARN",
        ),
    ],
)
def test_from_env_refuses(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("=", "=")):
        Settings.from_env({**BASE, **env})


def test_duckdb_ignores_redshift_settings() -> None:
    settings = Settings.from_env({"INGEST_BUCKET": "b", "INGEST_REDSHIFT_AUTH": "bogus"})
    assert settings.warehouse == "duckdb" and settings.redshift is None
