"""What the call log keeps of a request body, so a test can check what a client sent.

JSON bodies are kept parsed, with any field named like a secret masked; multipart bodies as
their parts' names, file names, content types and sizes, never the bytes. Headers are never
kept: the token endpoints take their secrets (applicationSecret, refreshToken) there.
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

from starlette.types import Message, Receive, Scope

from devtools.kaizala_sim import multipart

MAX_JSON_BYTES = 64 * 1024  # a larger body is kept by its size only
MASK = "***"
_SECRET_NAME = re.compile(r"secret|token|password", re.IGNORECASE)


def mask_secrets(value: Any) -> Any:
    """The JSON value with every field whose name says secret, token or password masked (the
    webhook's callBackToken); PINs and phone numbers stay, the simulator being test-only."""
    if isinstance(value, dict):
        return {
            k: MASK if _SECRET_NAME.search(k) and v is not None else mask_secrets(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [mask_secrets(v) for v in value]
    return value


class BodyCapture:
    """Sees the request body as the app reads it, through `receive`; `drain` reads a small body
    the app answered without reading (401, 429, 308, an injected fault)."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length", "")
        self._declared = int(length) if length.isdigit() else None
        self._receive = receive
        self.size = 0
        self.complete = False
        content_type = headers.get("content-type", "")
        self._json: bytearray | None = None  # the raw JSON while it stays small
        self._parts: multipart.PartsReader | None = None
        if content_type.lower().startswith("multipart/"):
            with contextlib.suppress(multipart.NotMultipartError):
                self._parts = multipart.PartsReader(content_type, keep_data=False)
        else:
            self._json = bytearray()

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._take(message.get("body", b""))
            if not message.get("more_body", False):
                self.complete = True
        return message

    async def drain(self) -> None:
        if self.complete or self._declared is None or self._declared > MAX_JSON_BYTES:
            return
        while not self.complete:
            if (await self.receive())["type"] != "http.request":
                return  # the client went away

    def _take(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self._parts is not None:
            try:
                self._parts.write(chunk)
            except multipart.MalformedMultipartError:
                self._parts = None
        elif self._json is not None:
            if len(self._json) + len(chunk) > MAX_JSON_BYTES:
                self._json = None
            else:
                self._json.extend(chunk)

    def describe(self) -> dict[str, Any]:
        """`bodyBytes`, `body` (the parsed JSON, else null) and `parts` (multipart, else null)."""
        return {"bodyBytes": self.size, "body": self._body(), "parts": self._part_list()}

    def _body(self) -> Any:
        if not self.complete or not self._json:
            return None
        try:
            return mask_secrets(json.loads(self._json))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None

    def _part_list(self) -> list[dict[str, Any]] | None:
        if not self.complete or self._parts is None:
            return None
        try:
            parts = self._parts.finish()
        except multipart.MalformedMultipartError:
            return None
        return [
            {"name": p.name, "filename": p.filename, "contentType": p.content_type, "size": p.size}
            for p in parts
        ]
