"""JSON Schemas generated from reply classes, and how strictly they judge a body."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, NotRequired, TypedDict

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from app import app
from chalicelib.api import openapi
from chalicelib.api.schema_gen import SchemaSet


@dataclass(frozen=True)
class Inner:
    """A nested reply."""

    name: str


class Extra(TypedDict):
    """A dict-shaped reply."""

    count: int
    note: NotRequired[str]


@dataclass(frozen=True)
class Outer:
    """A reply with
    every supported kind of field."""

    text: str
    number: float
    flag: bool
    maybe: int | None
    kind: Literal["a", "b"]
    state: Literal["x", None]
    table: Annotated[str, ("jobs", "departments"), "Which table"]
    items: list[Inner]
    pair: tuple[int, str]
    many: tuple[str, ...]
    by_name: dict[str, Inner]
    by_table: dict[Annotated[str, ("jobs",)], int]
    either: Inner | Extra
    raw: dict[str, Any] = field(default_factory=dict)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def test_schema_set_describes_every_field_kind() -> None:
    schemas = SchemaSet()
    assert schemas.ref(Outer) == _ref("Outer")
    outer = schemas.components["Outer"]
    assert outer["description"] == "A reply with every supported kind of field."
    assert outer["additionalProperties"] is False
    assert outer["required"] == list(outer["properties"])
    assert outer["properties"] == {
        "text": {"type": "string"},
        "number": {"type": "number"},
        "flag": {"type": "boolean"},
        "maybe": {"type": ["integer", "null"]},
        "kind": {"type": "string", "enum": ["a", "b"]},
        "state": {"type": ["null", "string"], "enum": ["x", None]},
        "table": {"type": "string", "enum": ["jobs", "departments"], "description": "Which table"},
        "items": {"type": "array", "items": _ref("Inner")},
        "pair": {
            "type": "array",
            "prefixItems": [{"type": "integer"}, {"type": "string"}],
            "items": False,
            "minItems": 2,
        },
        "many": {"type": "array", "items": {"type": "string"}},
        "by_name": {"type": "object", "additionalProperties": _ref("Inner")},
        "by_table": {
            "type": "object",
            "additionalProperties": {"type": "integer"},
            "propertyNames": {"type": "string", "enum": ["jobs"]},
        },
        "either": {"anyOf": [_ref("Inner"), _ref("Extra")]},
        "raw": {"type": "object", "additionalProperties": {}},
    }
    assert schemas.components["Extra"]["required"] == ["count"]
    assert set(schemas.components) == {"Outer", "Inner", "Extra"}


def test_schema_set_nullable_reference_is_any_of() -> None:
    @dataclass(frozen=True)
    class Holder:
        """Holds an optional nested reply."""

        inner: Inner | None

    schemas = SchemaSet()
    schemas.ref(Holder)
    assert schemas.components["Holder"]["properties"]["inner"] == {
        "anyOf": [_ref("Inner"), {"type": "null"}]
    }


@dataclass(frozen=True)
class Undocumented:
    name: str


@dataclass(frozen=True)
class WithSet:
    """A field JSON cannot carry as such."""

    names: set[str]


@dataclass(frozen=True)
class WithIntKeys:
    """JSON object keys are strings."""

    counts: dict[int, int]


@pytest.mark.parametrize(
    ("cls", "fragment"),
    [
        (Undocumented, "no docstring"),
        (WithSet, "no JSON Schema"),
        (WithIntKeys, "keys are strings"),
        (int, "neither a dataclass nor a TypedDict"),
    ],
)
def test_schema_set_refuses_what_it_cannot_describe(cls: type, fragment: str) -> None:
    with pytest.raises(TypeError, match=fragment):
        SchemaSet().ref(cls)


def test_schema_set_refuses_two_classes_of_one_name() -> None:
    schemas = SchemaSet()
    schemas.ref(Inner)

    @dataclass(frozen=True)
    class Inner2:
        """Another class called Inner."""

        other: int

    Inner2.__name__ = "Inner"
    with pytest.raises(TypeError, match="two reply types are named Inner"):
        schemas.ref(Inner2)


STATUS = {
    "upload_id": "20260101T000000Z-0123456789ab",
    "table": "jobs",
    "state": "loaded",
    "filename": "jobs.csv",
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:01Z",
    "rows_total": 2,
    "rows_valid": 1,
    "rows_rejected": 1,
    "chunks_total": 1,
    "chunks_done": 1,
    "rejected_url": None,
    "error": None,
    "options": {"header": "auto", "encoding": "utf-8", "delimiter": ","},
    "compression": "gzip",
    "encoding_read": "utf-8",
    "header_skipped": False,
    "split": "copy",
    "split_invocations": 1,
    "planning": "sequential",
    "retryable": False,
    "warnings": [
        {
            "code": "most_rows_rejected",
            "message": "2 of 2 rows were rejected for one reason: ...",
            "option": {"delimiter": ";"},
        }
    ],
}


def _renamed(body: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    return {(new if k == old else k): v for k, v in body.items()}


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        (STATUS, True),
        ({**STATUS, "stage": "load"}, False),
        ({k: v for k, v in STATUS.items() if k != "error"}, False),
        (_renamed(STATUS, "rows_valid", "rows_ok"), False),
        ({**STATUS, "state": "validating"}, False),
        ({**STATUS, "options": {"header": "maybe", "encoding": "utf-8", "delimiter": ","}}, False),
        ({**STATUS, "compression": "zip"}, False),
        ({**STATUS, "rows_total": "2"}, False),
        ({**STATUS, "warnings": [{"code": "odd", "message": "x", "option": None}]}, False),
        ({**STATUS, "warnings": [{"code": "no_data_rows", "message": "x"}]}, False),
        ({**STATUS, "retryable": None}, False),
    ],
)
def test_document_upload_status_rejects_drifted_bodies(body: dict[str, Any], valid: bool) -> None:
    document = openapi.document(app.routes)
    registry: Registry[Any] = Registry().with_resource(
        "urn:doc", DRAFT202012.create_resource(document)
    )
    validator = Draft202012Validator(
        {"$ref": "urn:doc#/components/schemas/UploadStatus"}, registry=registry
    )
    assert validator.is_valid(body) is valid
