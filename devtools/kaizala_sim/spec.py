"""The published swagger and the walker that holds a request to it.

`kaizala-v1.swagger.json` beside this file is a copy of ../shared/kaizala-api's (a test keeps
them identical). `check` holds a JSON value to one of its schemas the way the simulator answers
a client: property names exact (case-sensitive; a name the schema does not list is refused,
with the right spelling when only the case differs), every `required` one present, JSON types
as declared (`integer` with `format: int32` within 32 bits; `null` is no type the swagger
allows). Each problem is a 400 naming the field. `Relax` states, by location, where the
simulator departs from a schema because the swagger contradicts its own example or
description (each case is listed in README.md, "Where the swagger contradicts itself").
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from devtools.kaizala_sim.errors import bad_request

SWAGGER_PATH = Path(__file__).with_name("kaizala-v1.swagger.json")
INT32 = (-(2**31), 2**31 - 1)

Schema = dict[str, Any]


@cache
def swagger() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(SWAGGER_PATH.read_text(encoding="utf-8"))
    return document


def definition(name: str) -> Schema:
    found: Schema = swagger()["definitions"][name]
    return found


def operation(operation_id: str) -> Schema:
    for ops in swagger()["paths"].values():
        for op in ops.values():
            if op.get("operationId") == operation_id:
                found: Schema = op
                return found
    raise KeyError(operation_id)


def body_schema(operation_id: str) -> Schema:
    """The schema of the operation's `in: body` parameter."""
    for param in operation(operation_id)["parameters"]:
        if param["in"] == "body":
            schema: Schema = param["schema"]
            return schema
    raise KeyError(f"{operation_id} takes no body")


@dataclass(frozen=True)
class Relax:
    """Departures from a schema, by location (`actionBody.questions[].title`; "" is the root).

    - `extra`: fields the swagger omits but the project's docs name (location → schema, or
      None for a value the route checks itself);
    - `replace`: the schema used at a location instead of the swagger's (None: the route
      checks that value itself);
    - `optional`: required in the schema, optional here.
    """

    extra: Mapping[str, Schema | None] = field(default_factory=dict)
    replace: Mapping[str, Schema | None] = field(default_factory=dict)
    optional: frozenset[str] = frozenset()


NO_RELAX = Relax()


def check(value: Any, schema: Schema, *, relax: Relax = NO_RELAX, where: str = "body") -> None:
    _check(value, schema, "", where, relax)


def _resolve(schema: Schema) -> Schema:
    seen = 0
    while "$ref" in schema:
        ref: str = schema["$ref"]
        if not ref.startswith("#/definitions/") or seen > 20:
            raise ValueError(f"unsupported $ref {ref!r}")
        schema = definition(ref[len("#/definitions/") :])
        seen += 1
    return schema


def _join(loc: str, name: str) -> str:
    return f"{loc}.{name}" if loc else name


def _check(value: Any, schema: Schema, loc: str, where: str, relax: Relax) -> None:
    if loc in relax.replace:
        replacement = relax.replace[loc]
        if replacement is None:
            return
        schema = replacement
    schema = _resolve(schema)
    kind = schema.get("type", "object" if "properties" in schema else None)
    if kind == "object":
        _check_object(value, schema, loc, where, relax)
    elif kind == "array":
        if not isinstance(value, list):
            raise bad_request(f"{where} must be a list")
        items = schema.get("items", {})
        for i, item in enumerate(value):
            _check(item, items, f"{loc}[]", f"{where}[{i}]", relax)
    elif kind == "string":
        if not isinstance(value, str):
            raise bad_request(f"{where} must be a string")
    elif kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(f"{where} must be a whole number")
        if schema.get("format") == "int32" and not INT32[0] <= value <= INT32[1]:
            raise bad_request(f"{where} must fit in 32 bits (int32)")
    elif kind == "number":
        if not _is_number(value):
            raise bad_request(f"{where} must be a number")
    elif kind == "boolean" and not isinstance(value, bool):
        raise bad_request(f"{where} must be true or false")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check_object(value: Any, schema: Schema, loc: str, where: str, relax: Relax) -> None:
    if not isinstance(value, dict):
        raise bad_request(f"{where} must be a JSON object")
    props: dict[str, Schema | None] = dict(schema.get("properties", {}))
    for extra_loc, extra_schema in relax.extra.items():
        parent, _, name = extra_loc.rpartition(".")
        if parent == loc:
            props.setdefault(name, extra_schema)
    for key in value:
        if key not in props:
            spelled = next((p for p in props if p.lower() == key.lower()), None)
            if spelled is not None:
                raise bad_request(
                    f"{where}.{key} is not a field of this request; the swagger spells it "
                    f"{spelled!r} (names are case-sensitive)"
                )
            raise bad_request(
                f"{where}.{key} is not a field of this request (fields: {', '.join(props)})"
            )
    for name in schema.get("required", []):
        if name not in value and _join(loc, name) not in relax.optional:
            raise bad_request(f"{where}.{name} is required")
    for key, item in value.items():
        sub = props[key]
        if sub is not None:
            _check(item, sub, _join(loc, key), f"{where}.{key}", relax)
