"""The S3 key layout: built and parsed in one place, refusing names that could escape it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib import keys
from chalicelib.errors import InvalidRequestError
from tests.properties import examples

UID = "20261126T031500Z-0123456789ab"


def test_keys_round_trip_through_their_parsers() -> None:
    assert keys.parse_chunk_key(keys.chunk_key("jobs", UID, 7)) == ("jobs", UID, 7)
    assert keys.parse_load_key(keys.load_key("jobs", UID)) == ("jobs", UID)
    raw = keys.parse_raw_key(keys.raw_key("jobs", UID, "jobs.csv"))
    assert raw == keys.RawKey(f"raw/jobs/{UID}/jobs.csv", "jobs", UID, "jobs.csv")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("raw/jobs/jobs.csv", ("jobs", None, "jobs.csv")),
        ("raw/jobs/2021/export/jobs.csv", ("jobs", None, "jobs.csv")),
        (f"raw/jobs/{UID}/a.csv", ("jobs", UID, "a.csv")),
        ("raw/unknown/a.csv", None),
        ("raw/jobs/", None),
        ("raw/jobs/folder/", None),
        ("chunks/jobs/x.csv", None),
    ],
)
def test_parse_raw_key(key: str, expected: tuple[str, str | None, str] | None) -> None:
    parsed = keys.parse_raw_key(key)
    assert (
        None if parsed is None else (parsed.table, parsed.upload_id, parsed.filename)
    ) == expected


@pytest.mark.parametrize(
    "key",
    [
        "chunks/jobs/../x/000001.rec",
        f"chunks/evil/{UID}/000001.rec",
        f"chunks/jobs/{UID}/1.rec",
        "loads/jobs/not-an-id.json",
        f"loads/jobs/{UID}/x.json",
        f"chunks/jobs/{UID}/000001.rec\n",
        f"loads/jobs/{UID}.json\n",
    ],
)
def test_parsers_refuse_keys_outside_the_layout(key: str) -> None:
    assert keys.parse_chunk_key(key) is None
    assert keys.parse_load_key(key) is None


@pytest.mark.parametrize(
    "name",
    [
        "jobs (1).csv",
        "hired employees (1).csv",
        "../jobs.csv",
        "a/b.csv",
        "<script>.csv",
        "C:\\Users\\me\\jobs.csv",
        "résumé: final.csv",
        "日本語.csv",
        "x" * 200 + ".csv",
        ".hidden",
        "a\n",
    ],
)
def test_check_filename_takes_any_name_a_computer_makes(name: str) -> None:
    assert keys.check_filename(name) == name


@pytest.mark.parametrize(
    "name", ["", "   ", "a\x00b.csv", "\ud800.csv", "x" * 1025, None, 7, ["jobs.csv"]]
)
def test_check_filename_refuses_what_no_file_is_named(name: object) -> None:
    with pytest.raises(InvalidRequestError, match="filename"):
        keys.check_filename(name)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("jobs.csv", "jobs.csv"),
        ("hired employees (1).csv", "hired_employees_1.csv"),
        ("../jobs.csv", "jobs.csv"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\jobs 2021.csv", "jobs_2021.csv"),
        ("<script>alert(1)</script>.csv", "script.csv"),
        ("<b>x</b >.csv", "b.csv"),
        ("<img src=x onerror=alert(1)>.csv", "img_src_x_onerror_alert_1.csv"),
        ("jobs:2021?.csv", "jobs_2021.csv"),
        ("résumé.csv", "resume.csv"),
        ("日本語.csv", "file.csv"),
        ("hired_employees.csv.gz", "hired_employees.csv.gz"),
        ("a..b.csv", "a.b.csv"),
        (".hidden", "file.hidden"),
        ("..", "file"),
        ("jobs.csv/", "file"),
        ("-rf .csv", "rf.csv"),
        ("%2e%2e%2f", "2e_2e_2f"),
        ("x" * 300 + ".csv", "x" * 124 + ".csv"),
        ("x" * 300, "x" * 128),
    ],
)
def test_object_name_keeps_what_is_safe_in_a_key_and_drops_path_parts(
    name: str, expected: str
) -> None:
    assert keys.object_name(name) == expected
    assert keys.raw_key("jobs", UID, name) == f"raw/jobs/{UID}/{expected}"


@settings(max_examples=examples(300), deadline=None)
@given(st.text(max_size=300))
def test_object_name_of_any_text_is_one_safe_key_segment(name: str) -> None:
    made = keys.object_name(name)
    assert keys.OBJECT_NAME.match(made), made
    assert ".." not in made
    parsed = keys.parse_raw_key(keys.raw_key("jobs", UID, name))
    assert parsed == keys.RawKey(f"raw/jobs/{UID}/{made}", "jobs", UID, made)


@pytest.mark.parametrize("uid", ["../../etc", "x", UID + "/", "'; DROP TABLE jobs; --", UID + "\n"])
def test_check_upload_id_refuses_malformed_ids(uid: str) -> None:
    with pytest.raises(InvalidRequestError):
        keys.check_upload_id(uid)


def test_upload_ids_sort_by_time_and_derived_ids_are_stable() -> None:
    early = keys.new_upload_id(datetime(2021, 1, 1, tzinfo=UTC))
    late = keys.new_upload_id(datetime(2022, 1, 1, tzinfo=UTC))
    assert early < late and keys.UPLOAD_ID.match(early)
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    first = keys.derived_upload_id("raw/jobs/a.csv", "etag1", when)
    assert first == keys.derived_upload_id("raw/jobs/a.csv", "etag1", when)
    assert first != keys.derived_upload_id("raw/jobs/a.csv", "etag2", when)
    assert first.startswith("20260102T030405Z-")


def test_parse_s3_uri() -> None:
    assert keys.parse_s3_uri("s3://b/k/x") == ("b", "k/x")
    with pytest.raises(InvalidRequestError):
        keys.parse_s3_uri("https://b/k")
