"""Building POST /api/media requests: multipart bodies as a client (httpx) encodes them."""

from __future__ import annotations

from typing import Any

import azure.functions as func
import httpx

from tests.support import body_json, call, request

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"


def encoded(files: Any = None, data: Any = None) -> tuple[str, bytes]:
    """(Content-Type, body) of a multipart/form-data request, boundary included."""
    built = httpx.Request("POST", "http://bridge/api/media", files=files, data=data)
    return built.headers["content-type"], built.read()


def media_request(body: bytes, content_type: str | None) -> func.HttpRequest:
    headers = {"content-type": content_type} if content_type is not None else {}
    return request("POST", "/api/media", body=body, headers=headers)


async def upload(
    name: str, content: bytes, content_type: str | None = "image/png", field: str = "file"
) -> func.HttpResponse:
    part = (name, content) if content_type is None else (name, content, content_type)
    ctype, body = encoded(files={field: part})
    return await call("upload_media", media_request(body, ctype))


async def uploaded(name: str, content: bytes, content_type: str = "image/png") -> dict[str, Any]:
    resp = await upload(name, content, content_type)
    assert resp.status_code == 201, body_json(resp)
    result: dict[str, Any] = body_json(resp)
    return result
