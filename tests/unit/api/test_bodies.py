"""Reading requests: the same 400 for a body that is not JSON, or a field no route knows."""

from __future__ import annotations

import pytest
from chalice.app import Request

from chalicelib.api import bodies
from chalicelib.errors import InvalidRequestError


def _request(body: str | None, query: dict[str, list[str]] | None = None) -> Request:
    return Request(
        {
            "multiValueQueryStringParameters": query,
            "headers": {"content-type": "application/json"},
            "pathParameters": None,
            "requestContext": {"httpMethod": "POST", "resourcePath": "/x"},
            "body": body,
            "isBase64Encoded": False,
            "stageVariables": None,
        }
    )


def test_bodies_any_json_body_reads_json_and_empty() -> None:
    assert bodies.any_json_body(_request('{"a": 1}')) == {"a": 1}
    assert bodies.any_json_body(_request("  ")) is None


@pytest.mark.parametrize("text", ["{", "not json", '{"a": }'])
def test_bodies_refuse_a_body_that_is_not_json(text: str) -> None:
    with pytest.raises(InvalidRequestError, match="not valid JSON"):
        bodies.any_json_body(_request(text))


def test_bodies_params_overlay_the_body_on_the_query() -> None:
    request = _request('{"table": "jobs"}', {"table": ["departments"], "format": ["avro"]})
    assert bodies.params(request, ("table", "format")) == {"table": "jobs", "format": "avro"}


def test_bodies_params_refuse_an_unknown_field_and_name_the_known_ones() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        bodies.params(_request('{"tabel": "jobs"}'), ("table", "format"))
    assert "'tabel'" in caught.value.message and "table, format" in caught.value.message


def test_bodies_params_refuse_a_body_that_is_not_an_object() -> None:
    with pytest.raises(InvalidRequestError, match="JSON object"):
        bodies.params(_request("[1, 2]"), ("table",))


def test_bodies_query_reads_one_parameter() -> None:
    request = _request(None, {"year": ["2021"]})
    assert bodies.query(request, "year") == "2021"
    assert bodies.query(request, "deep") is None
