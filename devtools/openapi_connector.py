"""The Power Automate custom connector: its trigger paths, the flow-maker annotations, and the
`connector/` folder the Power Platform connector CLI (paconn) reads.

The same definition as docs/openapi.json (`devtools.openapi.build`), with the deployment's host:
`apiDefinition.swagger.json`, `apiProperties.json` and `icon.png`. Shapes from Microsoft's docs:
- https://learn.microsoft.com/connectors/custom-connectors/openapi-extensions (summary,
  x-ms-summary, description, x-ms-visibility, x-ms-trigger, x-ms-notification-content,
  x-ms-notification-url, x-ms-url-encoding);
- https://learn.microsoft.com/connectors/custom-connectors/create-webhook-trigger (a webhook
  trigger: POST with the notification URL in the body, 201 with a Location that the platform
  DELETEs when the flow is turned off);
- https://learn.microsoft.com/connectors/custom-connectors/paconn-cli (the folder's files and
  apiProperties.json: connectionParameters, iconBrandColor, capabilities, policies).
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from pathlib import Path
from typing import Any

PLACEHOLDER_HOST = "your-function-app.azurewebsites.net"
BRAND_COLOR = "#0b6a9f"  # the icon's background: the designer shows both together
ICON_SIZE = 230  # px, square: the size Microsoft asks of connector icons
API_DEFINITION = "apiDefinition.swagger.json"
API_PROPERTIES = "apiProperties.json"
ICON = "icon.png"
_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$")

# The operations a flow maker sees first; every other one is `advanced`.
IMPORTANT = {"SendAction", "GetAction", "CreateGroup", "OnKaizalaResponse"}
INTERNAL = {"DeleteFlowSubscription"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{name}"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "schema": _ref("Problem")}


def trigger_paths() -> dict[str, Any]:
    """`/subscriptions`: the webhook trigger "When a Kaizala response arrives" (subscribe) and
    its unsubscribe operation (hidden: Power Automate calls it with the Location it got)."""
    return {
        "/subscriptions": {
            "x-ms-notification-content": {
                "description": "One Kaizala response, as the bridge wrote it to Dynamics",
                "schema": _ref("FlowResponse"),
            },
            "post": {
                "operationId": "OnKaizalaResponse",
                "summary": "When a Kaizala response arrives",
                "description": "Fires for every survey, poll or job response written back to "
                "Dynamics, optionally only for one group or one regarding record.",
                "x-ms-trigger": "single",
                "x-ms-trigger-hint": "To see it work, answer an action the bridge sent.",
                "parameters": [
                    {
                        "name": "body",
                        "in": "body",
                        "required": True,
                        "schema": _ref("SubscribeRequest"),
                    }
                ],
                "responses": {
                    # The designer takes a trigger's outputs from its 201 schema: the body each
                    # callback receives (the API itself answers the subscription, SubscriptionOut).
                    "201": {
                        "description": "Subscribed; each response is POSTed to the callback",
                        "schema": _ref("FlowResponse"),
                        "headers": {"Location": {"type": "string"}},
                    },
                    "400": _problem("Invalid callback URL or filter (names the field)"),
                    "413": _problem("Body over 8 KiB"),
                    "415": _problem("Body is not application/json"),
                    "503": _problem("Storage temporarily unavailable"),
                },
            },
        },
        "/subscriptions/{subscriptionId}": {
            "delete": {
                "operationId": "DeleteFlowSubscription",
                "summary": "Remove a trigger subscription",
                "description": "Called by Power Automate when the flow is turned off (the Location "
                "of the subscription). 204 also when it was removed already.",
                "parameters": [
                    {
                        "name": "subscriptionId",
                        "in": "path",
                        "required": True,
                        "type": "string",
                        "pattern": "^[0-9a-f]{32}$",
                        "x-ms-summary": "Subscription id",
                    }
                ],
                "responses": {
                    "204": {"description": "Removed (or already gone)"},
                    "404": _problem("Not a subscription id"),
                    "409": _problem("The static subscription (RESPONSE_FORWARD_URL)"),
                },
            }
        },
    }


def _humanise(name: str) -> str:
    """`correlationId` -> `Correlation id`: a title for a property without one of its own."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).split()
    text = " ".join(w if w.isupper() and len(w) > 1 else w.lower() for w in words)
    return text[:1].upper() + text[1:]


def _annotate_schema(schema: Any) -> None:
    if isinstance(schema, list):
        for s in schema:
            _annotate_schema(s)
        return
    if not isinstance(schema, dict):
        return
    for name, prop in (schema.get("properties") or {}).items():
        if isinstance(prop, dict) and "$ref" not in prop:
            prop.setdefault("x-ms-summary", _humanise(name))
        _annotate_schema(prop)
    for key in ("items", "additionalProperties"):
        _annotate_schema(schema.get(key))


def annotate(spec: dict[str, Any]) -> dict[str, Any]:
    """The connector validator's rules, applied to every operation: a description, a visibility,
    `x-ms-url-encoding` and `x-ms-summary` on path parameters, `x-ms-summary` on properties."""
    for item in spec["paths"].values():
        for method, op in item.items():
            if method.startswith("x-ms-"):
                continue
            op.setdefault("description", op["summary"] + ".")
            op_id = op["operationId"]
            visibility = (
                "internal" if op_id in INTERNAL else "important" if op_id in IMPORTANT else None
            )
            op.setdefault("x-ms-visibility", visibility or "advanced")
            for param in op.get("parameters", []):
                if param["in"] == "path":
                    param.setdefault("x-ms-url-encoding", "single")
                if param["in"] != "body":
                    param.setdefault("x-ms-summary", _humanise(param["name"]))
                    param.setdefault("description", param["x-ms-summary"])
    for definition in spec["definitions"].values():
        _annotate_schema(definition)
    return spec


def api_properties() -> dict[str, Any]:
    """apiProperties.json: an API key sent as `x-functions-key` (the function key)."""
    return {
        "properties": {
            "connectionParameters": {
                "api_key": {
                    "type": "securestring",
                    "uiDefinition": {
                        "displayName": "Function key",
                        "description": "A function key of the Kaizala Bridge function app",
                        "tooltip": "Azure portal: the function app, App keys, a host key",
                        "constraints": {"tabIndex": 2, "clearText": False, "required": "true"},
                    },
                }
            },
            "iconBrandColor": BRAND_COLOR,
            "capabilities": [],
            "publisher": "Kaizala Bridge",
            "stackOwner": "Kaizala Bridge",
        }
    }


def icon_png(size: int = ICON_SIZE) -> bytes:
    """A real PNG, made here (no binary asset to keep in sync): the brand colour with a white
    speech bubble, 8-bit RGB, deterministic bytes."""
    bg = bytes.fromhex(BRAND_COLOR[1:])
    white = b"\xff\xff\xff"
    lo, hi = size * 22 // 100, size * 78 // 100
    top, bottom = size * 26 // 100, size * 64 // 100
    rows = []
    for y in range(size):
        row = bytearray(b"\x00")  # filter type 0 for every scanline
        for x in range(size):
            bubble = lo <= x < hi and top <= y < bottom
            tail = bottom <= y < bottom + size // 8 and lo + size // 10 <= x < lo + size // 10 + (
                bottom + size // 8 - y
            )
            row += white if bubble or tail else bg
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + chunk(b"IEND", b"")
    )


def check_host(host: str) -> str:
    """The deployment's host name (`azd env get-value SERVICE_API_HOST`), no scheme or path."""
    if not _HOST.fullmatch(host):
        raise SystemExit(f"--host must be a host name such as {PLACEHOLDER_HOST}")
    return host


def render_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_folder(folder: Path, definition: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / API_DEFINITION).write_text(definition, encoding="utf-8")
    (folder / API_PROPERTIES).write_text(render_json(api_properties()), encoding="utf-8")
    (folder / ICON).write_bytes(icon_png())
