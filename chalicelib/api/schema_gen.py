"""JSON Schemas generated from the typed reply bodies (frozen dataclasses and TypedDicts).

Owns turning a class's fields and type hints into a JSON Schema in the 2020-12 dialect that
OpenAPI 3.1 uses: ``str``, ``int``, ``float``, ``bool``, ``None`` and unions of them, ``Literal``
(an ``enum``), lists and tuples, ``dict[str, ...]`` and nested classes (each its own component,
referenced by ``$ref``). The class docstring becomes the description; in ``Annotated`` hints a
string is a field's description and a tuple lists the values allowed (an ``enum`` read from
data, such as the table names, where a ``Literal`` would restate it). Every object lists all
its fields as required and forbids any other, so a reply that gains, loses or renames a field
no longer matches. Hints are read at run time, so a reply class's field types must be imported
for real, not only under ``TYPE_CHECKING``. It does not know the routes (``openapi.py``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import (
    Annotated,
    Any,
    Literal,
    NotRequired,
    Required,
    Union,
    get_args,
    get_origin,
    is_typeddict,
)

Schema = dict[str, Any]

_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}
_REF_PREFIX = "#/components/schemas/"


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    for python, name in _SCALARS.items():
        if type(value) is python:
            return name
    raise TypeError(f"Literal value {value!r} has no JSON type")


def _description(cls: type) -> str:
    doc = cls.__dict__.get("__doc__") or ""
    # A dataclass without a docstring gets its signature as one, which describes nothing.
    if not doc.strip() or doc.startswith(f"{cls.__name__}("):
        raise TypeError(f"{cls.__qualname__} has no docstring to describe it")
    return " ".join(doc.split())


def _required(hint: Any, total: bool) -> bool:
    """Whether a TypedDict key must be present (read from the hint: ``__required_keys__`` misses
    ``NotRequired`` under postponed annotations before Python 3.12)."""
    if get_origin(hint) is Annotated:
        hint = get_args(hint)[0]
    if get_origin(hint) is NotRequired:
        return False
    return get_origin(hint) is Required or total


def _with_null(schema: Schema) -> Schema:
    """``schema`` or null, written as a type list where the schema has a plain type."""
    kind = schema.get("type")
    if isinstance(kind, str) and "$ref" not in schema:
        widened: Schema = {**schema, "type": [kind, "null"]}
        if "enum" in schema:
            widened["enum"] = [*schema["enum"], None]
        return widened
    return {"anyOf": [schema, {"type": "null"}]}


class SchemaSet:
    """Component schemas collected while describing reply types, keyed by class name."""

    def __init__(self) -> None:
        self.components: dict[str, Schema] = {}
        self._classes: dict[str, type] = {}

    def ref(self, cls: type) -> Schema:
        """A ``$ref`` to the component for ``cls``, generating it (and what it nests) once.

        Raises:
            TypeError: ``cls`` is not a dataclass or TypedDict, lacks a docstring, has a field
                type with no JSON Schema, or shares its name with another class.
        """
        name = cls.__name__
        known = self._classes.get(name)
        if known is None:
            self._classes[name] = cls
            self.components[name] = self._object(cls)
        elif known is not cls:
            raise TypeError(f"two reply types are named {name}: {known!r} and {cls!r}")
        return {"$ref": _REF_PREFIX + name}

    def of(self, hint: Any) -> Schema:
        """The schema of values of type ``hint``.

        Raises:
            TypeError: a type with no JSON Schema (a set, a non-str dict key, a bare class).
        """
        origin, args = get_origin(hint), get_args(hint)
        if origin is Annotated:
            return self._annotated(args[0], args[1:])
        if origin in (Required, NotRequired):
            return self.of(args[0])
        if hint is Any:
            return {}
        if hint is None or hint is type(None):
            return {"type": "null"}
        if isinstance(hint, type) and hint in _SCALARS:
            return {"type": _SCALARS[hint]}
        if origin is Literal:
            kinds = sorted({_json_type(v) for v in args})
            return {"type": kinds[0] if len(kinds) == 1 else kinds, "enum": list(args)}
        if origin in (Union, types.UnionType):
            return self._union(args)
        if origin is list:
            return {"type": "array", "items": self.of(args[0])}
        if origin is tuple:
            return self._tuple(args)
        if origin is dict:
            return self._mapping(args)
        if isinstance(hint, type) and (dataclasses.is_dataclass(hint) or is_typeddict(hint)):
            return self.ref(hint)
        raise TypeError(f"no JSON Schema for the type {hint!r}")

    def _annotated(self, inner: Any, extras: tuple[Any, ...]) -> Schema:
        schema = dict(self.of(inner))
        for extra in extras:
            if isinstance(extra, str):
                schema["description"] = extra
            elif isinstance(extra, tuple):
                schema["enum"] = list(extra)
        return schema

    def _union(self, args: tuple[Any, ...]) -> Schema:
        members = [a for a in args if a is not type(None)]
        schema = (
            self.of(members[0]) if len(members) == 1 else {"anyOf": [self.of(m) for m in members]}
        )
        return _with_null(schema) if len(members) < len(args) else schema

    def _tuple(self, args: tuple[Any, ...]) -> Schema:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": self.of(args[0])}
        return {
            "type": "array",
            "prefixItems": [self.of(a) for a in args],
            "items": False,
            "minItems": len(args),
        }

    def _mapping(self, args: tuple[Any, ...]) -> Schema:
        key, value = args
        key_schema = self.of(key)
        if key_schema.get("type") != "string":
            raise TypeError(f"JSON object keys are strings, not {key!r}")
        schema: Schema = {"type": "object", "additionalProperties": self.of(value)}
        if set(key_schema) - {"type"}:
            schema["propertyNames"] = key_schema
        return schema

    def _object(self, cls: type) -> Schema:
        hints = typing.get_type_hints(cls, include_extras=True)
        if dataclasses.is_dataclass(cls):
            names = [f.name for f in dataclasses.fields(cls)]
            required = names
        elif is_typeddict(cls):
            names = list(hints)
            total = bool(getattr(cls, "__total__", True))
            required = [n for n in names if _required(hints[n], total)]
        else:
            raise TypeError(f"{cls!r} is neither a dataclass nor a TypedDict")
        return {
            "type": "object",
            "description": _description(cls),
            "properties": {name: self.of(hints[name]) for name in names},
            "required": required,
            "additionalProperties": False,
        }
