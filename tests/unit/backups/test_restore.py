"""Backup locations and restore SQL: only this deployment's backups/, only plain literals."""

from __future__ import annotations

import pytest

from chalicelib import keys
from chalicelib.errors import InvalidRequestError
from chalicelib.tables import get_table
from chalicelib.warehouse import sql

BID = "20261126T031500Z-0123456789ab"
BUCKET = "ingest-local"


@pytest.mark.parametrize(
    "uri",
    [
        f"s3://{BUCKET}/backups/{BID}/jobs/",
        f"s3://{BUCKET}/backups/{BID}/jobs",
        f"s3://{BUCKET}/backups/{BID}/jobs/manifest",
    ],
)
def test_parse_backup_location_accepts_a_backup_folder_or_its_manifest(uri: str) -> None:
    assert keys.parse_backup_location(uri, BUCKET) == (BID, "jobs")


@pytest.mark.parametrize(
    "uri",
    [
        f"s3://other-bucket/backups/{BID}/jobs/",
        f"s3://{BUCKET}.evil/backups/{BID}/jobs/",
        f"s3://{BUCKET}/raw/jobs/{BID}/jobs.csv",
        f"s3://{BUCKET}/backups/{BID}/../../raw/jobs/",
        f"s3://{BUCKET}/backups/{BID}/%2e%2e/jobs/",
        f"s3://{BUCKET}/backups/{BID}/jobs%2Fmanifest",
        f"s3://{BUCKET}/backups/..%2F{BID}/jobs/",
        f"s3://{BUCKET}/backups/{BID}/payroll/",
        f"s3://{BUCKET}/backups/{BID}/jobs/0000_part_00.parquet",
        f"s3://{BUCKET}/backups/{BID}/jobs/manifest?versionId=1",
        f"s3://{BUCKET}/backups/{BID}/jobs/\n",
        f"s3://{BUCKET}//backups/{BID}/jobs/",
        f"S3://{BUCKET}/backups/{BID}/jobs/",
        f"https://{BUCKET}.s3.amazonaws.com/backups/{BID}/jobs/",
        f"s3://{BUCKET}/backups/not-an-id/jobs/",
        f"s3://{BUCKET}/backups/",
        f"/backups/{BID}/jobs/",
        "",
        None,
        42,
    ],
)
def test_parse_backup_location_refuses_anything_outside_this_deployments_backups(
    uri: object,
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        keys.parse_backup_location(uri, BUCKET)  # type: ignore[arg-type]
    assert caught.value.fields == {"parameter": "s3_location"}


def test_backup_keys_round_trip_through_the_location_parser() -> None:
    folder = keys.s3_uri(BUCKET, keys.backup_prefix(BID, "hired_employees"))
    manifest = keys.s3_uri(BUCKET, keys.backup_manifest_key(BID, "hired_employees"))
    for uri in (folder, manifest):
        assert keys.parse_backup_location(uri, BUCKET) == (BID, "hired_employees")
    assert keys.backup_record_key(BID) == f"backups/{BID}/backup.json"


@pytest.mark.parametrize("backup_id", ["nope", f"{BID}\n", f"../{BID}", "", None])
def test_check_backup_id_refuses_malformed_ids(backup_id: object) -> None:
    with pytest.raises(InvalidRequestError):
        keys.check_backup_id(backup_id)  # type: ignore[arg-type]


def test_copy_literals_quote_plain_locations_and_roles() -> None:
    assert sql.s3_literal("s3://bkt/backups/x/manifest") == "'s3://bkt/backups/x/manifest'"
    assert sql.role_literal("arn:aws:iam::123456789012:role/r") == (
        "'arn:aws:iam::123456789012:role/r'"
    )


@pytest.mark.parametrize(
    "value", ["s3://b/x\\'; DROP TABLE jobs; --", "s3://b/line\nbreak", "s3://b/nul\x00", "b/x"]
)
def test_copy_literals_refuse_anything_but_plain_locations(value: str) -> None:
    with pytest.raises(sql.UnsafeIdentifierError):
        sql.s3_literal(value)
    with pytest.raises(sql.UnsafeIdentifierError):
        sql.role_literal(value)


def test_redshift_parquet_copy_needs_an_iam_role() -> None:
    with pytest.raises(sql.UnsafeIdentifierError, match="IAM role"):
        sql.copy_parquet("jobs_restore", ["id", "job"], "s3://b/m", "redshift")


def test_restore_statements_name_only_quoted_identifiers() -> None:
    jobs = get_table("jobs")
    assert sql.create_restore_staging(jobs, "jobs_restore", "redshift") == (
        'CREATE TEMP TABLE "jobs_restore" ("id" BIGINT NOT NULL, "job" VARCHAR(1024) NOT NULL)'
    )
    assert sql.delete_all(jobs) == 'DELETE FROM "jobs"'
    assert sql.insert_from(jobs, "jobs_restore") == (
        'INSERT INTO "jobs" ("id", "job") SELECT "id", "job" FROM "jobs_restore"'
    )
    assert sql.select_page(jobs, 10) == (
        'SELECT "id", "job" FROM "jobs" WHERE "id" > ? ORDER BY "id" LIMIT 10'
    )
