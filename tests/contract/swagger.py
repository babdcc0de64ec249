"""Holds a request on the wire to the published swagger, with a schema validator.

The swagger is the copy the simulator ships (devtools/kaizala_sim/kaizala-v1.swagger.json,
kept identical to ../shared/kaizala-api/ by test_swagger_copy.py). Bodies are checked with
jsonschema's Draft 4 validator (swagger 2.0 schemas are a subset of draft 4), `#/definitions/`
references resolved against the swagger document itself, twice: as published (swagger 2.0
allows properties it does not list), and closed (`additionalProperties: false` on every
object), since a property the schema does not list is a misspelling on this API, whose names
are case-sensitive. Parameters are checked by their declaration: required ones present, and
of the declared type.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from jsonschema import Draft4Validator

from devtools.kaizala_sim import spec

# A path segment the swagger writes as a literal GUID (RemoveMembers names no parameter).
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def document() -> dict[str, Any]:
    return spec.swagger()


def operations() -> dict[str, tuple[str, str, dict[str, Any]]]:
    """operationId → (HTTP method, path template, operation)."""
    found: dict[str, tuple[str, str, dict[str, Any]]] = {}
    for path, ops in document()["paths"].items():
        for method, op in ops.items():
            found[op["operationId"]] = (method.upper(), path, op)
    return found


def path_pattern(template: str) -> re.Pattern[str]:
    parts = []
    for segment in template.strip("/").split("/"):
        if segment.startswith("{") and segment.endswith("}"):
            parts.append(f"(?P<{_group(segment[1:-1])}>[^/]+)")
        elif _GUID.match(segment):
            parts.append("[^/]+")
        else:
            parts.append(re.escape(segment))  # exact: paths are case-sensitive here too
    return re.compile("^/" + "/".join(parts) + "$")


def _group(name: str) -> str:
    return re.sub(r"\W", "_", name)


def with_definitions(schema: Mapping[str, Any], definitions: Mapping[str, Any]) -> dict[str, Any]:
    # allOf, not a sibling of $ref: draft 4 ignores a $ref's siblings.
    return {"allOf": [dict(schema)], "definitions": dict(definitions)}


def closed(schema: Any, extra: Mapping[str, Any] | None = None) -> Any:
    """`schema` with `additionalProperties: false` on every object (and `extra` properties,
    by name, on the top-level object)."""
    if not isinstance(schema, dict):
        return schema
    out = dict(schema)
    if "properties" in out or out.get("type") == "object":
        props = {name: closed(sub) for name, sub in out.get("properties", {}).items()}
        props.update(extra or {})
        out["properties"] = props
        out["additionalProperties"] = False
    if "items" in out:
        out["items"] = closed(out["items"])
    for key in ("allOf", "anyOf", "oneOf"):
        if key in out:
            out[key] = [closed(sub) for sub in out[key]]
    return out


def body_errors(
    value: Any, schema: Mapping[str, Any], *, extra: Mapping[str, Any] | None = None
) -> list[str]:
    """Every way `value` departs from `schema`: as published, then closed."""
    definitions = document()["definitions"]
    published = Draft4Validator(with_definitions(schema, definitions))
    closed_defs = {name: closed(d) for name, d in definitions.items()}
    top = copy.deepcopy(dict(schema))
    if "$ref" in top:
        top = copy.deepcopy(definitions[top["$ref"].split("/")[-1]])
    strict = Draft4Validator(with_definitions(closed(top, extra), closed_defs))
    problems = [f"{_where(e.absolute_path)}: {e.message}" for e in published.iter_errors(value)]
    problems += [
        f"{_where(e.absolute_path)}: {e.message} (closed)" for e in strict.iter_errors(value)
    ]
    return problems


def _where(path: Iterable[Any]) -> str:
    return "body" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


@dataclass(frozen=True)
class Sent:
    """One request as it went on the wire, and the answer."""

    method: str
    url: httpx.URL
    headers: httpx.Headers
    content: bytes
    status: int
    answer: bytes

    @property
    def rel_path(self) -> str:
        """The path after the API root (`/v1`) or the platform base (`.../v1`)."""
        path = self.url.path
        return path[path.index("/v1/") + len("/v1") :]

    def json(self) -> Any:
        return json.loads(self.content)


def request_errors(
    operation_id: str, sent: Sent, *, documented_query: Iterable[str] = ()
) -> list[str]:
    """Every way a request departs from its operation's parameters and body schema.

    `documented_query`: query parameters the swagger does not declare but the project's API
    notes document (an undeclared one is an error: the swagger's operations say
    AllowDynamicQueryParameters false).
    """
    method, template, op = operations()[operation_id]
    problems: list[str] = []
    if sent.method != method:
        problems.append(f"method {sent.method}, the swagger says {method}")
    match = path_pattern(template).match(sent.rel_path)
    if match is None:
        problems.append(f"path {sent.rel_path} does not match {template}")
    declared_query = set()
    for param in op["parameters"]:
        name, where = param["name"], param["in"]
        if where == "header":
            problems += _header_errors(param, sent.headers.get(name))
        elif where == "query":
            declared_query.add(name)
            problems += _scalar_errors(param, sent.url.params.get(name), f"query {name}")
        elif where == "path" and match is not None and not match.group(_group(name)):
            problems.append(f"path parameter {name} is empty")
        elif where == "body":
            problems += _body_param_errors(param, sent)
        elif where == "formData":
            problems += _form_errors(param, sent)
    allowed = declared_query | set(documented_query)
    problems += [f"query {k} is not declared" for k in sent.url.params if k not in allowed]
    return problems


def _header_errors(param: Mapping[str, Any], value: str | None) -> list[str]:
    name = param["name"]
    if value is None or not value.strip():
        return [f"header {name} is missing"] if param.get("required") else []
    if name.lower() == "content-type":
        # The swagger's description is the value: application/json.
        media = value.split(";", 1)[0].strip().lower()
        expected = param.get("description", "").strip().lower()
        if expected and media != expected:
            return [f"header Content-Type is {value!r}, the swagger says {expected}"]
    return []


def _scalar_errors(param: Mapping[str, Any], value: str | None, what: str) -> list[str]:
    if value is None:
        return [f"{what} is missing"] if param.get("required") else []
    kind = param.get("type")
    if kind == "boolean" and value not in ("true", "false"):
        return [f"{what} is {value!r}, not a boolean"]
    if kind == "integer" and not re.fullmatch(r"-?\d+", value):
        return [f"{what} is {value!r}, not an integer"]
    return []


def _body_param_errors(param: Mapping[str, Any], sent: Sent) -> list[str]:
    if not sent.content:
        return ["the body is missing"] if param.get("required") else []
    try:
        value = sent.json()
    except ValueError:
        return ["the body is not JSON"]
    return body_errors(value, param["schema"])


def _form_errors(param: Mapping[str, Any], sent: Sent) -> list[str]:
    declared = sent.headers.get("content-type", "")
    if not declared.startswith("multipart/form-data; boundary="):
        return [f"Content-Type is {declared!r}, not multipart/form-data"]
    disposition = f'name="{param["name"]}"; filename="'.encode()
    if param.get("type") == "file" and disposition not in sent.content:
        return [f"no file part named {param['name']}"]
    return []


def response_errors(operation_id: str, sent: Sent) -> list[str]:
    """The 200 answer against the operation's documented response schema, if it has one."""
    schema = operations()[operation_id][2]["responses"].get("200", {}).get("schema")
    if schema is None:
        return []
    definitions = document()["definitions"]
    validator = Draft4Validator(with_definitions(schema, definitions))
    answer = json.loads(sent.answer)
    return [f"answer {_where(e.absolute_path)}: {e.message}" for e in validator.iter_errors(answer)]
