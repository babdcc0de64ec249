"""connector/ validates offline: the API definition against OpenAPI 2.0, apiProperties.json
against the connector properties format, the connector validator's rules, and both equal to
what the generator (devtools.openapi, the same code as docs/openapi.json) produces."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate

from devtools import openapi_connector
from devtools.openapi import build, main, render

ROOT = Path(__file__).resolve().parents[2]
FOLDER = ROOT / "connector"
DEFINITION = FOLDER / "apiDefinition.swagger.json"
PROPERTIES = FOLDER / "apiProperties.json"
ICON = FOLDER / "icon.png"
METHODS = {"get", "put", "post", "delete", "patch"}

# The connector properties format, written from Microsoft's description of apiProperties.json
# (https://learn.microsoft.com/connectors/custom-connectors/paconn-cli, "API properties file")
# and the published connectors' files: connection parameters with a type and a UI definition,
# the brand colour as #rrggbb, capabilities (gateway, cloud, ...: none for a cloud API),
# policy template instances, publisher and stack owner.
PROPERTIES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["properties"],
    "additionalProperties": False,
    "properties": {
        "properties": {
            "type": "object",
            "required": ["connectionParameters", "iconBrandColor"],
            "additionalProperties": False,
            "properties": {
                "connectionParameters": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "object",
                        "required": ["type"],
                        "properties": {
                            "type": {
                                "enum": [
                                    "string",
                                    "securestring",
                                    "bool",
                                    "int",
                                    "oauthSetting",
                                    "gatewaySetting",
                                ]
                            },
                            "uiDefinition": {
                                "type": "object",
                                "required": ["displayName", "description"],
                                "properties": {
                                    "displayName": {"type": "string", "minLength": 1},
                                    "description": {"type": "string", "minLength": 1},
                                    "tooltip": {"type": "string"},
                                    "constraints": {
                                        "type": "object",
                                        "properties": {
                                            "tabIndex": {"type": "integer"},
                                            "clearText": {"type": "boolean"},
                                            "required": {"enum": ["true", "false"]},
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
                "iconBrandColor": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
                "capabilities": {
                    "type": "array",
                    "items": {"enum": ["gateway", "cloud", "blob", "tabular", "composite"]},
                },
                "policyTemplateInstances": {"type": "array"},
                "publisher": {"type": "string", "minLength": 1},
                "stackOwner": {"type": "string", "minLength": 1},
            },
        }
    },
}


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in METHODS
    ]


def test_committed_folder_is_what_the_generator_makes() -> None:
    assert DEFINITION.read_text(encoding="utf-8") == render(), (
        "connector/ is stale: run `python -m devtools.openapi --connector connector/`"
    )
    assert PROPERTIES.read_text(encoding="utf-8") == openapi_connector.render_json(
        openapi_connector.api_properties()
    )
    assert ICON.read_bytes() == openapi_connector.icon_png()
    # One definition: docs/openapi.json is the same file (with the same placeholder host).
    assert (ROOT / "docs" / "openapi.json").read_text(encoding="utf-8") == render()
    assert load(DEFINITION)["host"] == openapi_connector.PLACEHOLDER_HOST


def test_definition_is_valid_openapi_2() -> None:
    validate(load(DEFINITION))


def test_properties_follow_the_connector_properties_format() -> None:
    props = load(PROPERTIES)
    jsonschema.validate(props, PROPERTIES_SCHEMA)
    key = props["properties"]["connectionParameters"]["api_key"]
    assert key["type"] == "securestring"
    # The API key goes where the function app reads it: the x-functions-key header.
    security = load(DEFINITION)["securityDefinitions"]
    assert list(security.values()) == [
        {"type": "apiKey", "in": "header", "name": "x-functions-key"}
    ]


def test_the_connector_validator_rules() -> None:
    spec = load(DEFINITION)
    ops = operations(spec)
    ids = [op["operationId"] for _, _, op in ops]
    assert len(ids) == len(set(ids))
    for path, method, op in ops:
        where = f"{method.upper()} {path}"
        assert op.get("summary") and op.get("description"), where
        assert op.get("x-ms-visibility") in ("important", "advanced", "internal"), where
        for param in op.get("parameters", []):
            if param["in"] == "path":
                assert param.get("x-ms-url-encoding") == "single", (where, param["name"])
            if param["in"] != "body":
                assert param.get("x-ms-summary"), (where, param["name"])
        # One response schema per operation: every 2xx answer that has a body has the same.
        schemas = {
            json.dumps(r["schema"], sort_keys=True)
            for status, r in op["responses"].items()
            if status.startswith("2") and "schema" in r
        }
        assert len(schemas) <= 1, where
        assert any(s.startswith("2") for s in op["responses"]), where
    for name, definition in spec["definitions"].items():
        for prop, schema in definition.get("properties", {}).items():
            if "$ref" not in schema:
                assert schema.get("x-ms-summary"), (name, prop)


def test_the_operations_a_flow_maker_needs() -> None:
    ids = {op["operationId"] for _, _, op in operations(load(DEFINITION))}
    assert {
        "SendAction",
        "GetAction",
        "CreateGroup",
        "AddGroupMembers",
        "ListGroupMembers",
        "RemoveGroupMember",
        "SendReminder",
        "OnKaizalaResponse",
        "DeleteFlowSubscription",
    } <= ids


def test_the_webhook_trigger() -> None:
    spec = load(DEFINITION)
    item = spec["paths"]["/subscriptions"]
    trigger = item["post"]
    assert trigger["x-ms-trigger"] == "single"
    assert trigger["summary"] == "When a Kaizala response arrives"
    [body] = [p for p in trigger["parameters"] if p["in"] == "body"]
    request = spec["definitions"][body["schema"]["$ref"].rsplit("/", 1)[1]]
    callback = request["properties"]["callbackUrl"]
    assert callback["x-ms-notification-url"] is True
    assert callback["x-ms-visibility"] == "internal"
    assert request["required"] == ["callbackUrl"]
    created = trigger["responses"]["201"]
    assert created["headers"]["Location"] == {"type": "string"}
    # The trigger's outputs are the body each callback receives (rendering.forward_body).
    assert created["schema"] == {"$ref": "#/definitions/FlowResponse"}
    assert item["x-ms-notification-content"]["schema"] == {"$ref": "#/definitions/FlowResponse"}
    # Power Automate DELETEs the Location when the flow is turned off.
    delete = spec["paths"]["/subscriptions/{subscriptionId}"]["delete"]
    assert delete["x-ms-visibility"] == "internal"
    assert "204" in delete["responses"]


def test_host_comes_from_the_deployment(tmp_path: Path) -> None:
    assert build("kb-api-abc123.azurewebsites.net")["host"] == "kb-api-abc123.azurewebsites.net"
    assert main(["--connector", str(tmp_path), "--host", "kb-api-abc123.azurewebsites.net"]) == 0
    written = load(tmp_path / "apiDefinition.swagger.json")
    assert written["host"] == "kb-api-abc123.azurewebsites.net"
    assert written["paths"] == load(DEFINITION)["paths"]
    assert (tmp_path / "icon.png").read_bytes() == ICON.read_bytes()
    for bad in ("https://kb.azurewebsites.net", "kb.azurewebsites.net/api", ""):
        with pytest.raises(SystemExit):
            main(["--host", bad])


def test_icon_is_a_real_png() -> None:
    data = ICON.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        chunks[kind] = body
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (width, height, depth, colour) == (230, 230, 8, 2)
    assert len(zlib.decompress(chunks[b"IDAT"])) == height * (1 + width * 3)
    assert b"IEND" in chunks
