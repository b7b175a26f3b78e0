"""The clients and settings a Lambda container makes once and every invocation reuses.

Routes and handlers ask here for the settings, the AWS clients and the warehouse; nothing else
makes a boto3 client or opens a warehouse connection. Each is made on first use (so a cold start
pays only for what its function needs) and kept for the life of the container; ``reset`` forgets
them all, for a process that changes its environment (the local stack, tests).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import boto3

from chalicelib.api import apikey
from chalicelib.config import Settings
from chalicelib.tables import TABLES
from chalicelib.warehouse import (
    Warehouse,
    ensure_schema,
    make_data_api,
    make_statements,
    make_warehouse,
    uses_data_api,
)

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sqs import SQSClient

    from chalicelib.warehouse.redshift_data import DataApi


@functools.cache
def settings() -> Settings:
    return Settings.from_env()


@functools.cache
def s3() -> S3Client:
    return boto3.client("s3")


@functools.cache
def sqs() -> SQSClient:
    return boto3.client("sqs")


@functools.cache
def stage_key() -> str | None:
    """The key the API's own checks compare callers with: ``INGEST_API_KEY`` where the app is
    given one (the local stack), else the deployed stage's API Gateway key read by its id
    (``INGEST_API_KEY_ID``), else None."""
    given = settings()
    if given.api_key or not given.api_key_id:
        return given.api_key
    return apikey.stage_key(boto3.client("apigateway"), given.api_key_id)


@functools.cache
def warehouse() -> Warehouse:
    """The warehouse over a connection (DuckDB, or Redshift through ``redshift_connector``),
    with the target tables created."""
    made = make_warehouse(settings(), s3())
    ensure_schema(made, TABLES.values())
    return made


@functools.cache
def data_api() -> DataApi:
    """The Redshift Data API (only with ``INGEST_REDSHIFT_API=data``)."""
    return make_data_api(settings(), boto3.client("redshift-data"))


@functools.cache
def statements() -> Warehouse:
    """Where single statements run (reports, health): the Data API when chosen, with the
    target tables created; otherwise the connection."""
    made = make_statements(settings(), warehouse, data_api)
    if uses_data_api(settings()):  # otherwise it is the connection, whose tables exist
        ensure_schema(made, TABLES.values())
    return made


_PROVIDERS = (settings, s3, sqs, stage_key, warehouse, data_api, statements)


def reset() -> None:
    """Forget every client and the settings; the next use makes them from the environment."""
    if warehouse.cache_info().currsize:
        warehouse().close()
    for provider in _PROVIDERS:
        provider.cache_clear()
