"""Fixtures of the tests that run on the local Redshift engine (the engine itself is a session
fixture in tests/conftest.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import boto3
import pytest
from moto import mock_aws

if TYPE_CHECKING:
    from collections.abc import Iterator

    from devstack.redshift_local import LocalRedshift

ENGINE_BUCKET = "ingest-redshift-local"


@pytest.fixture
def s3(redshift_engine: LocalRedshift) -> Iterator[Any]:
    """A moto S3 client with the engine's bucket, which the engine's COPY and UNLOAD read and
    write."""
    with mock_aws():
        client = boto3.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
        ).client("s3")
        client.create_bucket(Bucket=ENGINE_BUCKET)
        redshift_engine.use_s3(client)
        yield client
