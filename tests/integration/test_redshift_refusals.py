"""Negative controls: statements and Data API requests AWS documents as invalid are refused by
the local engine with the error Redshift gives, and what the adapter sends still runs.

Each case names the AWS page that makes it invalid (docs/redshift-local.md lists them all). The
statements go through the real driver and the engine's proxy, as the adapter's do.
"""

from __future__ import annotations

import json
import secrets
from typing import TYPE_CHECKING, Any

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redshift_connector
from botocore.exceptions import ClientError

from chalicelib.tables import TABLES, get_table
from chalicelib.warehouse import sql
from devstack.redshift_local import CLUSTER_ID, DATABASE, IAM_ROLE, USER
from tests.integration.conftest import ENGINE_BUCKET as BUCKET

if TYPE_CHECKING:
    from collections.abc import Iterator

    from devstack.redshift_local import LocalRedshift

ROLE = f"IAM_ROLE '{IAM_ROLE}'"


@pytest.fixture
def cursor(redshift_engine: LocalRedshift, s3: Any) -> Iterator[Any]:
    """A driver cursor in autocommit on a scratch schema holding the project's tables."""
    env = redshift_engine.environment()
    con = redshift_connector.connect(
        host="127.0.0.1",
        port=redshift_engine.port,
        database=DATABASE,
        user=USER,
        password=env["INGEST_REDSHIFT_PASSWORD"],
        ssl=False,
    )
    con.autocommit = True
    cur = con.cursor()
    schema = f"refusals_{secrets.token_hex(4)}"
    cur.execute(f'CREATE SCHEMA "{schema}"')
    cur.execute(f'SET search_path TO "{schema}"')
    for table in TABLES.values():
        cur.execute(sql.create_table(table, "redshift"))
        cur.execute(sql.create_staging(table, f"{table.name}_staging", "redshift", temporary=False))
    yield cur
    cur.execute(f'DROP SCHEMA "{schema}" CASCADE')
    con.close()


def _put(s3: Any, key: str, body: bytes) -> str:
    s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return f"s3://{BUCKET}/{key}"


def _manifest(s3: Any, key: str, urls: list[str]) -> str:
    entries = [{"url": u, "mandatory": True, "meta": {"content_length": 1}} for u in urls]
    return _put(s3, key, json.dumps({"entries": entries}).encode())


def _error(cursor: Any, statement: str) -> dict[str, str]:
    with pytest.raises(redshift_connector.Error) as caught:
        cursor.execute(statement)
    fields = caught.value.args[0]
    assert isinstance(fields, dict), caught.value
    return fields


def _parquet(s3: Any, key: str, table: pa.Table) -> str:
    path = f"/tmp/{secrets.token_hex(6)}.parquet"  # noqa: S108 - a scratch file, removed by S3 put
    pq.write_table(table, path)
    with open(path, "rb") as body:  # noqa: PTH123
        return _put(s3, key, body.read())


# (case, statement builder, SQLSTATE, words of the message) -- each invalid per the cited page.
def _cases(s3: Any) -> list[tuple[str, str, str, str]]:
    jobs = "jobs_staging"
    cols = '("id", "job", "source_row")'
    empty = _put(s3, "neg/empty.json", b'{"entries": []}')
    gone = _put(
        s3,
        "neg/gone.json",
        json.dumps({"entries": [{"url": f"s3://{BUCKET}/neg/nothing.csv"}]}).encode(),
    )
    null_text = _manifest(s3, "neg/null.json", [_put(s3, "neg/null.csv", b"1,\\N,1\n")])
    ints = _parquet(s3, "neg/ints.parquet", pa.table({"id": [1], "job": [7]}))
    ints_manifest = _manifest(s3, "neg/ints.json", [ints])
    return [
        # loading-data-files-using-manifest.html: "COPY will terminate if no files are found"
        ("empty manifest", f"COPY {jobs} {cols} FROM '{empty}' {ROLE} MANIFEST CSV", "XX000",
         "no files found"),
        ("no file found", f"COPY {jobs} {cols} FROM '{gone}' {ROLE} MANIFEST CSV", "XX000",
         "no files found"),
        # copy-parameters-data-conversion.html: default null_string '\N'; NULL into NOT NULL
        ("unquoted \\N into NOT NULL", f"COPY {jobs} {cols} FROM '{null_text}' {ROLE} MANIFEST CSV",
         "XX000", "Load into table"),
        # copy-usage_notes-copy-from-columnar.html: only some parameters; REGION refused
        ("parquet REGION", f"COPY jobs FROM '{ints_manifest}' {ROLE} FORMAT AS PARQUET MANIFEST "
         "REGION 'us-east-1'", "XX000", "REGION argument is not supported for PARQUET"),
        ("parquet COMPUPDATE", f"COPY jobs FROM '{ints_manifest}' {ROLE} FORMAT AS PARQUET "
         "MANIFEST COMPUPDATE OFF", "XX000", "COMPUPDATE argument is not supported"),
        ("parquet int64 into VARCHAR", f"COPY jobs FROM '{ints_manifest}' {ROLE} FORMAT AS "
         "PARQUET MANIFEST", "XX000", "Spectrum Scan Error"),
        # r_MERGE.html: source_table is a table, not a view or a subquery; no target alias
        ("merge from a subquery", 'MERGE INTO jobs USING (SELECT * FROM jobs_staging) AS s ON '
         'jobs.id = s.id WHEN MATCHED THEN UPDATE SET job = s.job WHEN NOT MATCHED THEN INSERT '
         '(id, job) VALUES (s.id, s.job)', "42601", 'near "("'),
        ("merge with a target alias", "MERGE INTO jobs AS t USING jobs_staging AS s ON t.id = s.id "
         "WHEN MATCHED THEN UPDATE SET job = s.job WHEN NOT MATCHED THEN INSERT (id, job) VALUES "
         "(s.id, s.job)", "42601", 'near "AS"'),
        ("merge without NOT MATCHED", "MERGE INTO jobs USING jobs_staging AS s ON jobs.id = s.id "
         "WHEN MATCHED THEN UPDATE SET job = s.job", "42601", "WHEN NOT MATCHED"),
        # r_UNLOAD.html: no LIMIT in the outer select
        ("unload with an outer LIMIT", f"UNLOAD ('SELECT * FROM jobs LIMIT 5') TO "
         f"'s3://{BUCKET}/neg/u/' {ROLE} FORMAT AS PARQUET", "0A000", "Limit clause"),
        # r_CREATE_TABLE_NEW.html: keys name the table's columns; DISTKEY with DISTSTYLE KEY
        ("distkey of a missing column", "CREATE TABLE t1 (a BIGINT, b INT) DISTKEY (c)", "42703",
         'column "c"'),
        ("sortkey of a missing column", "CREATE TABLE t2 (a BIGINT) SORTKEY (a, z)", "42703",
         'column "z"'),
        ("distkey with DISTSTYLE ALL", "CREATE TABLE t3 (a BIGINT) DISTSTYLE ALL DISTKEY (a)",
         "42601", "DISTSTYLE ALL"),
        ("two distkey columns", "CREATE TABLE t4 (a BIGINT DISTKEY, b INT DISTKEY)", "42601",
         "one DISTKEY"),
    ]  # fmt: skip


def test_engine_refuses_what_redshift_documents_as_invalid(cursor: Any, s3: Any) -> None:
    refused = {}
    for case, statement, state, words in _cases(s3):
        fields = _error(cursor, statement)
        refused[case] = (fields.get("C"), words in fields.get("M", "") + fields.get("D", ""))
        assert refused[case] == (state, True), (case, fields)
    assert len(refused) == 14


def test_a_null_marker_in_a_not_null_column_is_recorded_as_redshift_records_it(
    cursor: Any, s3: Any
) -> None:
    manifest = _manifest(s3, "neg/n2.json", [_put(s3, "neg/n2.csv", b"5,\\N,1\n")])

    fields = _error(
        cursor,
        f'COPY jobs_staging ("id", "job", "source_row") FROM \'{manifest}\' {ROLE} MANIFEST CSV',
    )

    detail = fields["D"]
    assert "[child_sequence:1]" in detail
    stl_id = int(detail.split("query:")[1].split("[")[0])
    cursor.execute(
        "SELECT err_code, TRIM(colname) FROM stl_load_errors WHERE query = %s", (stl_id,)
    )
    # 1213: missing data for a not-null field (r_Load_Error_Reference.html)
    assert [tuple(r) for r in cursor.fetchall()] == [(1213, "job")]


def test_everything_the_adapter_sends_still_runs(cursor: Any, s3: Any) -> None:
    jobs = get_table("jobs")
    body = b'1,Engineer,1\n2,\\N,2\n3,"with, comma",3\n'
    manifest = _manifest(s3, "pos/m.json", [_put(s3, "pos/a.csv", body)])
    role = IAM_ROLE
    cursor.execute(sql.copy_csv("jobs_staging", sql.staging_columns(jobs), manifest, role))
    for statement in sql.merge_staged(jobs, "jobs_staging", None, "redshift"):
        cursor.execute(statement)
    cursor.execute(sql.select_all(jobs))
    assert [tuple(r) for r in cursor.fetchall()] == [
        (1, "Engineer"),
        (2, "\\N"),
        (3, "with, comma"),
    ]
    cursor.execute(sql.unload_parquet(sql.select_all(jobs), f"s3://{BUCKET}/pos/u/", role))
    cursor.execute(sql.create_restore_staging(jobs, "jobs_restore", "redshift"))
    cursor.execute(
        sql.copy_parquet(
            "jobs_restore", ["id", "job"], f"s3://{BUCKET}/pos/u/manifest", "redshift", role
        )
    )
    cursor.execute(sql.count_rows("jobs_restore"))
    assert [tuple(r) for r in cursor.fetchall()] == [(3,)]


def _data_api(redshift_engine: LocalRedshift) -> Any:
    server = redshift_engine.start_data_api()
    return boto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name="us-east-1"
    ).client("redshift-data", endpoint_url=server.url)


TARGET = {"ClusterIdentifier": CLUSTER_ID, "Database": DATABASE, "DbUser": USER}


SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:x"
# Invalid per botocore's model of the API (lengths, list sizes), the documented 100 KB statement
# limit, and the auth combinations of the API reference; each is a ValidationException.
DATA_API_REFUSALS = [
    ("41 statements", "batch_execute_statement", {"Sqls": ["SELECT 1"] * 41}),
    ("statement over 100 KB", "execute_statement", {"Sql": "SELECT '" + "x" * 102_400 + "'"}),
    ("long statement name", "execute_statement", {"Sql": "SELECT 1", "StatementName": "n" * 2049}),
    ("another cluster", "execute_statement", {"Sql": "SELECT 1", "ClusterIdentifier": "other"}),
    ("another database", "execute_statement", {"Sql": "SELECT 1", "Database": "prod"}),
    ("another user", "execute_statement", {"Sql": "SELECT 1", "DbUser": "admin"}),
    ("secret and user", "execute_statement", {"Sql": "SELECT 1", "SecretArn": SECRET}),
    ("cluster and workgroup", "execute_statement", {"Sql": "SELECT 1", "WorkgroupName": "wg-1"}),
]


@pytest.mark.parametrize(("case", "call", "request_"), DATA_API_REFUSALS)
def test_data_api_stand_in_refuses_what_aws_refuses(
    redshift_engine: LocalRedshift, case: str, call: str, request_: dict[str, Any]
) -> None:
    client = _data_api(redshift_engine)

    with pytest.raises(ClientError) as caught:
        getattr(client, call)(**{**TARGET, **request_})

    assert caught.value.response["Error"]["Code"] == "ValidationException", case


def test_data_api_client_token_is_the_first_statement_only_for_the_same_request(
    redshift_engine: LocalRedshift,
) -> None:
    client = _data_api(redshift_engine)
    token = secrets.token_hex(8)

    first = client.execute_statement(Sql="SELECT 1", ClientToken=token, **TARGET)
    again = client.execute_statement(Sql="SELECT 1", ClientToken=token, **TARGET)
    with pytest.raises(ClientError) as caught:
        client.execute_statement(Sql="SELECT 2", ClientToken=token, **TARGET)

    assert again["Id"] == first["Id"]
    assert caught.value.response["Error"]["Code"] == "ValidationException"
