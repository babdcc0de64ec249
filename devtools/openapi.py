"""Generate docs/openapi.json (OpenAPI 2.0) and the custom connector folder `connector/`.

The schemas come from the same pydantic models the endpoints validate with; a test fails when
a committed file differs from what this produces. Regenerate with
`python -m devtools.openapi > docs/openapi.json` and `python -m devtools.openapi --connector
connector/` (the committed folder keeps the placeholder host; for a deployment add `--host
"$(azd env get-value SERVICE_API_HOST)"`, see connector/README.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from devtools import openapi_connector, openapi_groups
from shared.domain.actions import ActionAccepted, ActionStatus, SendActionRequest
from shared.domain.flow_subscriptions import FlowResponse, SubscribeRequest
from shared.domain.media import MediaResource
from shared.domain.reminders import ReminderResult

PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details (application/problem+json)",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "correlationId": {"type": "string"},
    },
    "required": ["type", "title", "status", "detail"],
}


def _swagger2(schema: Any) -> Any:
    """Rewrite a JSON Schema (draft 2020-12, from pydantic) into the Swagger 2.0 subset."""
    if isinstance(schema, list):
        return [_swagger2(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    variants = schema.get("anyOf")
    if variants is not None:
        non_null = [v for v in variants if v.get("type") != "null"]
        if len(non_null) == 1:
            out.update(_swagger2(non_null[0]))
            if len(non_null) != len(variants):
                out["x-nullable"] = True
        else:
            # Swagger 2.0 has no anyOf: an untyped value, described in words.
            kinds = " or ".join(str(v.get("type", "object")) for v in non_null)
            out["description"] = f"{kinds}"
        for key in ("description", "title", "default"):
            if schema.get(key) is not None:  # a null default is implied by x-nullable
                out[key] = schema[key]
        out.update({k: v for k, v in schema.items() if k.startswith("x-ms-")})
        return out
    for key, value in schema.items():
        if key in ("examples", "$defs") or (key == "default" and value is None):
            continue
        if key == "const":
            out["enum"] = [value]
        elif key == "$ref":
            out["$ref"] = value.replace("#/$defs/", "#/definitions/")
        elif key in ("properties", "patternProperties"):
            out[key] = {k: _swagger2(v) for k, v in value.items()}
        elif key in ("items", "additionalProperties"):
            out[key] = _swagger2(value)
        else:
            out[key] = value
    return out


def _definitions(*models: type[BaseModel]) -> dict[str, Any]:
    defs: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/definitions/{model}")
        for name, sub in schema.pop("$defs", {}).items():
            defs[name] = _swagger2(sub)
        defs[model.__name__] = _swagger2(schema)
    defs["Problem"] = PROBLEM
    return dict(sorted(defs.items()))


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/definitions/{name}"}


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "schema": _ref("Problem")}


def build(host: str = openapi_connector.PLACEHOLDER_HOST) -> dict[str, Any]:
    return openapi_connector.annotate(_build(host))


def _build(host: str) -> dict[str, Any]:
    return {
        "swagger": "2.0",
        "info": {
            "title": "Kaizala Bridge",
            "description": "Send Kaizala surveys, polls, jobs, announcements and messages "
            "from Dynamics 365 and Power Automate; responses come back as activities.",
            "version": "1.0",
        },
        "host": host,
        "basePath": "/api",
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "securityDefinitions": {
            "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"}
        },
        "security": [{"functionKey": []}],
        "paths": {
            "/actions": {
                "post": {
                    "operationId": "SendAction",
                    "summary": "Send an action to a Kaizala group",
                    "description": "Exactly once per Idempotency-Key (or per request content). "
                    "201 when sent, 202 when queued behind Kaizala's throttle (poll Location).",
                    "parameters": [
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "type": "string",
                            "maxLength": 128,
                            "x-ms-summary": "Idempotency key",
                        },
                        {
                            "name": "body",
                            "in": "body",
                            "required": True,
                            "schema": _ref("SendActionRequest"),
                        },
                    ],
                    "responses": {
                        "201": {"description": "Sent", "schema": _ref("ActionAccepted")},
                        "200": {
                            "description": "A repeat: the first result",
                            "schema": _ref("ActionAccepted"),
                        },
                        "202": {
                            "description": "Queued (or sending, outcome pending): poll Location",
                            "schema": _ref("ActionAccepted"),
                            "headers": {
                                "Location": {"type": "string"},
                                "Retry-After": {"type": "integer"},
                            },
                        },
                        "400": _problem("Invalid request (names the field)"),
                        "404": _problem("Unknown template"),
                        "409": _problem("Idempotency-Key reused with another request"),
                        "413": _problem("Body over 64 KiB"),
                        "415": _problem("Body is not application/json"),
                        "500": _problem("Configuration error (names the setting)"),
                        "502": _problem("Kaizala refused the action"),
                        "503": _problem("Storage or Kaizala temporarily unavailable"),
                    },
                }
            },
            "/actions/{correlationId}": {
                "get": {
                    "operationId": "GetAction",
                    "summary": "Status of an action sent through the bridge",
                    "parameters": [
                        {
                            "name": "correlationId",
                            "in": "path",
                            "required": True,
                            "type": "string",
                            "format": "uuid",
                        }
                    ],
                    "responses": {
                        "200": {"description": "Sent or failed", "schema": _ref("ActionStatus")},
                        "202": {
                            "description": "Still queued or sending: poll again",
                            "schema": _ref("ActionStatus"),
                            "headers": {
                                "Location": {"type": "string"},
                                "Retry-After": {"type": "integer"},
                            },
                        },
                        "404": _problem("Unknown correlation id"),
                    },
                }
            },
            # issue 10: reminders and media
            "/actions/{correlationId}/reminder": {"post": _reminder()},
            "/media": {"post": _media()},
            **openapi_groups.paths(),
            # issue 12: connector (the trigger "When a Kaizala response arrives")
            **openapi_connector.trigger_paths(),
        },
        "definitions": _definitions(
            SendActionRequest,
            ActionAccepted,
            ActionStatus,
            ReminderResult,
            MediaResource,
            *openapi_groups.MODELS,
            SubscribeRequest,
            FlowResponse,
        ),
    }


def _reminder() -> dict[str, Any]:
    return {
        "operationId": "SendReminder",
        "summary": "Send Kaizala's reminder for a sent action",
        "description": "At most one per action per REMINDER_MIN_HOURS: 201 when sent now, 200 "
        "with the earlier reminder (and no Kaizala call) inside that window. No body, or {}.",
        "parameters": [
            {
                "name": "correlationId",
                "in": "path",
                "required": True,
                "type": "string",
                "format": "uuid",
            }
        ],
        "responses": {
            "201": {"description": "Reminder sent", "schema": _ref("ReminderResult")},
            "200": {
                "description": "Inside the window: the earlier reminder",
                "schema": _ref("ReminderResult"),
            },
            "400": _problem("A body other than {}"),
            "404": _problem("Unknown correlation id"),
            "409": _problem("The action is not sent, is a message, or a reminder is under way"),
            "502": _problem("Kaizala refused or did not confirm the reminder"),
            "503": _problem("Kaizala budget spent, throttled, or storage unavailable"),
        },
    }


def _media() -> dict[str, Any]:
    return {
        "operationId": "UploadMedia",
        "summary": "Upload an image or document to Kaizala",
        "description": "Returns the mediaResource for an Image or Document action, or an "
        "Announcement's MediaResources. The same file again answers 200 with the first one.",
        "consumes": ["multipart/form-data"],
        "parameters": [
            {
                "name": "file",
                "in": "formData",
                "required": True,
                "type": "file",
                "x-ms-summary": "File (image or document, at most MEDIA_MAX_BYTES)",
            }
        ],
        "responses": {
            "201": {"description": "Uploaded", "schema": _ref("MediaResource")},
            "200": {
                "description": "The same file, uploaded before",
                "schema": _ref("MediaResource"),
            },
            "400": _problem("No file part, a second part, an empty file or a bad file name"),
            "413": _problem("File over MEDIA_MAX_BYTES"),
            "415": _problem("Not multipart/form-data, or a file type that is not accepted"),
            "502": _problem("Kaizala refused the upload"),
            "503": _problem("Kaizala budget spent, throttled, or storage unavailable"),
        },
    }


def render(host: str = openapi_connector.PLACEHOLDER_HOST) -> str:
    return json.dumps(build(host), indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.openapi",
        description="Print docs/openapi.json, or write the custom connector folder.",
    )
    parser.add_argument(
        "--connector",
        type=Path,
        help="write apiDefinition.swagger.json, apiProperties.json "
        "and icon.png into this folder (paconn's layout) instead of printing",
    )
    parser.add_argument(
        "--host",
        default=openapi_connector.PLACEHOLDER_HOST,
        help='the function app\'s host name, e.g. "$(azd env get-value SERVICE_API_HOST)"',
    )
    args = parser.parse_args(argv)
    text = render(openapi_connector.check_host(args.host))
    if args.connector is None:
        sys.stdout.write(text)
    else:
        openapi_connector.write_folder(args.connector, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
