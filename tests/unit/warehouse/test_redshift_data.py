"""The Data API adapter without a network: parameters, fields, waiting, errors, the load batch."""

from __future__ import annotations

import doctest
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from chalicelib.api.health import DeepHealth, WarehouseHealth
from chalicelib.config import Settings
from chalicelib.errors import (
    ConfigError,
    InvalidRequestError,
    PermanentWarehouseError,
    SerializationConflictError,
    TransientWarehouseError,
)
from chalicelib.pipeline import load_async
from chalicelib.tables import get_table
from chalicelib.warehouse import redshift_data, sql
from chalicelib.warehouse.redshift_data import DataApi, Status, Target, field_value, qmark_to_named
from chalicelib.warehouse.sql import batchload

if TYPE_CHECKING:
    from collections.abc import Mapping

ROLE = "arn:aws:iam::123456789012:role/r"
UID = "20211126T031500Z-0123456789ab"
BASE = {
    "INGEST_BUCKET": "b",
    "INGEST_WAREHOUSE": "redshift",
    "INGEST_REDSHIFT_DATABASE": "dev",
    "INGEST_REDSHIFT_IAM_ROLE": ROLE,
}


class FakeClient:
    """Answers DescribeStatement from a script of statuses and GetStatementResult from pages."""

    def __init__(
        self,
        statuses: list[dict[str, Any]] | None = None,
        pages: list[dict[str, Any]] | None = None,
        error: Exception | None = None,
    ) -> None:
        self.statuses, self.pages, self.error = statuses or [], pages or [], error
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _record(self, name: str, kwargs: dict[str, Any]) -> None:
        self.calls.append((name, kwargs))
        if self.error is not None:
            raise self.error

    def execute_statement(self, **kwargs: Any) -> Mapping[str, Any]:
        self._record("execute_statement", kwargs)
        return {"Id": "s-1"}

    def batch_execute_statement(self, **kwargs: Any) -> Mapping[str, Any]:
        self._record("batch_execute_statement", kwargs)
        return {"Id": "b-1"}

    def describe_statement(self, **kwargs: Any) -> Mapping[str, Any]:
        self._record("describe_statement", kwargs)
        return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def get_statement_result(self, **kwargs: Any) -> Mapping[str, Any]:
        self._record("get_statement_result", kwargs)
        return self.pages.pop(0)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _api(client: FakeClient, clock: Clock | None = None) -> DataApi:
    clock = clock or Clock()
    return DataApi(
        client, Target("dev", cluster_identifier="c", db_user="u"), sleep=clock.sleep, clock=clock
    )


def test_data_api_docstring_examples_hold() -> None:
    for module in (redshift_data, batchload):
        result = doctest.testmod(module, extraglobs={"get_table": get_table, "datetime": datetime})
        assert result.failed == 0 and result.attempted >= 1


def test_qmark_to_named_types_values_as_text_and_refuses_null() -> None:
    text, values = qmark_to_named("SELECT 1 WHERE t >= ? AND x = '?'", [datetime(2021, 1, 2)])
    assert text == "SELECT 1 WHERE t >= :p1 AND x = '?'"
    assert values == [{"name": "p1", "value": "2021-01-02 00:00:00"}]
    with pytest.raises(PermanentWarehouseError):
        qmark_to_named("SELECT ?", [None])
    with pytest.raises(PermanentWarehouseError):
        qmark_to_named("SELECT ?, ?", [1])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ({"isNull": True}, None),
        ({"longValue": 7}, 7),
        ({"doubleValue": 2.5}, 2.5),
        ({"stringValue": "3.50"}, "3.50"),
        ({"booleanValue": False}, False),
    ],
)
def test_field_value_reads_each_kind(field: dict[str, Any], value: Any) -> None:
    assert field_value(field) == value


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"INGEST_REDSHIFT_AUTH": "iam", "INGEST_REDSHIFT_CLUSTER_ID": "c",
             "INGEST_REDSHIFT_USER": "loader"},
            {"Database": "dev", "ClusterIdentifier": "c", "DbUser": "loader"},
        ),
        (
            {"INGEST_REDSHIFT_AUTH": "iam", "INGEST_REDSHIFT_WORKGROUP": "wg"},
            {"Database": "dev", "WorkgroupName": "wg"},
        ),
        (
            {"INGEST_REDSHIFT_AUTH": "secret", "INGEST_REDSHIFT_CLUSTER_ID": "c",
             "INGEST_REDSHIFT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:s"},
            {"Database": "dev", "ClusterIdentifier": "c",
             "SecretArn": "arn:aws:secretsmanager:us-east-1:1:secret:s"},
        ),
    ],
)  # fmt: skip
def test_target_follows_the_auth_mode(env: dict[str, str], expected: dict[str, str]) -> None:
    settings = Settings.from_env({**BASE, **env, "INGEST_REDSHIFT_API": "data"})
    assert settings.redshift is not None and settings.redshift.api == "data"
    assert Target.of(settings.redshift).kwargs() == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INGEST_REDSHIFT_API": "jdbc"}, "must be 'connector' or 'data'"),
        ({"INGEST_REDSHIFT_API": "data"}, "needs INGEST_REDSHIFT_CLUSTER_ID or"),
    ],
)  # fmt: skip
def test_config_refuses_a_bad_api_choice(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(
            {**BASE, "INGEST_REDSHIFT_HOST": "h", "INGEST_REDSHIFT_USER": "u",
             "INGEST_REDSHIFT_PASSWORD": "p", **env}
        )  # fmt: skip


def test_config_defaults_to_the_connector_and_events() -> None:
    env = {**BASE, "INGEST_REDSHIFT_HOST": "h", "INGEST_REDSHIFT_USER": "u",
           "INGEST_REDSHIFT_PASSWORD": "p"}  # fmt: skip
    redshift = Settings.from_env(env).redshift
    assert redshift is not None
    assert (redshift.api, redshift.data_events, redshift.data_wait_s) == ("connector", True, 20)


@pytest.mark.parametrize(
    ("status", "error", "kind"),
    [
        ("FAILED", "ERROR: 1023 Serializable isolation violation", SerializationConflictError),
        ("FAILED", "ERROR: could not serialize access", SerializationConflictError),
        ("ABORTED", None, TransientWarehouseError),
        ("FAILED", "ERROR: Load into table 'x' failed.", PermanentWarehouseError),
    ],
)  # fmt: skip
def test_status_failure_sorts_errors(status: str, error: str | None, kind: type) -> None:
    failure = Status("s", status, error, 7).failure()
    assert type(failure) is kind


def test_wait_polls_until_the_statement_ends() -> None:
    client = FakeClient([{"Status": "SUBMITTED"}, {"Status": "STARTED"}, {"Status": "FINISHED"}])
    status = _api(client).wait("b-1", 10)
    assert status.status == "FINISHED"
    assert [c[0] for c in client.calls] == ["describe_statement"] * 3


def test_wait_returns_a_running_statement_when_its_budget_is_spent() -> None:
    clock = Clock()
    client = FakeClient([{"Status": "STARTED"}])
    status = _api(client, clock).wait("b-1", 5)
    assert status.running and clock.now <= 5


def test_describe_names_the_failed_part_of_a_batch() -> None:
    client = FakeClient(
        [
            {
                "Status": "FAILED",
                "Error": "batch failed",
                "SubStatements": [
                    {"Status": "FINISHED", "RedshiftQueryId": 1},
                    {"Status": "FAILED", "Error": "ERROR: Load failed", "RedshiftQueryId": 42,
                     "QueryString": "COPY x"},
                    {"Status": "ABORTED", "RedshiftQueryId": 0},
                ],
            }
        ]
    )  # fmt: skip
    status = _api(client).describe("b-1")
    assert (status.error, status.failed_query_id, status.failed_sql) == (
        "ERROR: Load failed",
        42,
        "COPY x",
    )


def test_query_sends_named_parameters_and_reads_every_page() -> None:
    client = FakeClient(
        [{"Status": "FINISHED", "HasResultSet": True}],
        [
            {"Records": [[{"longValue": 1}, {"stringValue": "a"}]], "NextToken": "t"},
            {"Records": [[{"longValue": 2}, {"isNull": True}]]},
        ],
    )
    rows = _api(client).query("SELECT a, b FROM t WHERE c = ?", ["x"])
    assert rows == [(1, "a"), (2, None)]
    sent = client.calls[0][1]
    assert sent["Sql"] == "SELECT a, b FROM t WHERE c = :p1"
    assert sent["Parameters"] == [{"name": "p1", "value": "x"}]
    assert (sent["ClusterIdentifier"], sent["DbUser"], sent["Database"]) == ("c", "u", "dev")
    assert client.calls[-1] == ("get_statement_result", {"Id": "s-1", "NextToken": "t"})


def test_submit_sends_one_batch_with_its_name_token_and_event() -> None:
    client = FakeClient()
    made = _api(client).submit(["SELECT 1", "SELECT 2"], name="n", token="t", with_event=True)
    assert made == "b-1"
    assert client.calls[0][1] | {} == {
        "Sqls": ["SELECT 1", "SELECT 2"],
        "StatementName": "n",
        "ClientToken": "t",
        "WithEvent": True,
        "Database": "dev",
        "ClusterIdentifier": "c",
        "DbUser": "u",
    }


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ClientError({"Error": {"Code": "ThrottlingException"}}, "X"), TransientWarehouseError),
        (ClientError({"Error": {"Code": "ValidationException"}}, "X"), PermanentWarehouseError),
        (ClientError({"Error": {"Code": "ResourceNotFound"}}, "X"), PermanentWarehouseError),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), TransientWarehouseError),
    ],
)  # fmt: skip
def test_api_errors_become_warehouse_errors(error: Exception, kind: type) -> None:
    with pytest.raises(kind):
        _api(FakeClient(error=error)).query("SELECT 1")


def test_load_batch_locks_first_and_records_the_ledger_last() -> None:
    table = get_table("jobs")
    batch = sql.load_batch(table, UID, "s3://bkt/m.json", ROLE, datetime(2021, 1, 2))
    staging, superseded = sql.load_tables(table, UID)
    assert batch[0] == 'LOCK "jobs", "ingest_loads"'
    assert batch[3].startswith(f'CREATE TABLE "{staging}"')  # not TEMP: read after the commit
    assert batch[4].startswith(f'COPY "{staging}"')
    assert batch[5].startswith(f'CREATE TABLE "{superseded}" AS')
    assert batch[-2].startswith('MERGE INTO "jobs"')
    assert batch[-1].startswith('INSERT INTO "ingest_loads"') and "NOT EXISTS" in batch[-1]
    assert sql.skip_if_loaded(staging, UID) in batch


@pytest.mark.parametrize("uid", ["x'; DROP TABLE jobs; --", "20211126T031500Z-0123456789AB!"])
def test_load_batch_refuses_a_malformed_upload_id(uid: str) -> None:
    with pytest.raises(InvalidRequestError):
        sql.load_batch(get_table("jobs"), uid, "s3://bkt/m.json", ROLE, datetime(2021, 1, 2))


def test_statement_names_round_trip_and_other_statements_are_ignored() -> None:
    name = load_async.statement_name("jobs", UID)
    assert load_async.parse_statement_name(name) == ("jobs", UID)
    detail = {"statementName": name, "statementId": "abc", "state": "FINISHED"}
    assert load_async.statement_of(detail) == ("jobs", UID, "abc")
    for other in ("someone-else", f"{load_async.STATEMENT_PREFIX}nope:{UID}",
                  f"{load_async.STATEMENT_PREFIX}jobs:not-an-id"):  # fmt: skip
        assert load_async.statement_of({"statementName": other, "statementId": "a"}) is None


def test_health_names_the_api_only_on_redshift() -> None:
    redshift = DeepHealth("ok", "ok", WarehouseHealth("redshift", "data", "ok"))
    assert redshift.to_json()["warehouse"] == {"engine": "redshift", "api": "data", "status": "ok"}
    duckdb = DeepHealth("ok", "ok", WarehouseHealth("duckdb", None, "ok"))
    assert duckdb.to_json()["warehouse"] == {"engine": "duckdb", "api": None, "status": "ok"}


def test_stand_in_binds_named_values_as_quoted_literals() -> None:
    from devstack.redshift_local.data_service import ApiError, bind_named, field_of

    sql_text = "SELECT ':p1', x::text FROM t WHERE a = :p1 AND b = :p2"
    bound = bind_named(sql_text, [{"name": "p1", "value": "it's"}, {"name": "p2", "value": "7"}])
    assert bound == "SELECT ':p1', x::text FROM t WHERE a = 'it''s' AND b = '7'"
    with pytest.raises(ApiError):
        bind_named("SELECT :missing", [])
    assert [field_of(v) for v in (None, True, 3, datetime(2021, 1, 2, 3, 4, 5))] == [
        {"isNull": True},
        {"booleanValue": True},
        {"longValue": 3},
        {"stringValue": "2021-01-02 03:04:05"},
    ]
