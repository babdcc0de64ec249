"""The simulator's error vocabulary: OData errors with the real service's codes, and GUID keys."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

# Error codes as the real service reports them (hex HRESULTs), so clients can be tested on them.
CODE_NOT_FOUND = "0x80040217"  # ObjectDoesNotExist
CODE_DUPLICATE = "0x80040237"  # DuplicateRecord
CODE_INVALID_ARGUMENT = "0x80040203"  # InvalidArgument (e.g. statuscode vs statecode)
CODE_LENGTH = "0x80044331"  # string longer than the column's MaxLength
CODE_PAYLOAD = "0x80048d19"  # error in the JSON payload
CODE_QUERY = "0x80060888"  # OData syntax / undeclared property
CODE_SEGMENT = "0x8006088a"  # resource not found for the segment
CODE_UNEXPECTED = "0x80040216"  # unexpected server error
CODE_THROTTLED = "0x80072322"  # service protection: number of requests
CODE_UNAUTHORIZED = "0x80072560"  # missing or invalid bearer token
CODE_UNAVAILABLE = "0x80040265"  # the simulator's 503 (down mode, injected faults)

GUID_RE = re.compile(r"^[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")


class ODataError(Exception):
    """A Web API failure, rendered as `{"error": {"code", "message"}}` with `status`."""

    def __init__(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}}


def parse_guid(text: str) -> str:
    """The canonical lower-case form of a GUID key, or a 400 like the service's."""
    if not GUID_RE.match(text):
        raise ODataError(400, CODE_QUERY, f"Bad Request - Error in query syntax: '{text[:60]}'.")
    return text.lower()


def not_found(logical_name: str, key: str) -> ODataError:
    return ODataError(404, CODE_NOT_FOUND, f"{logical_name} With Id = {key} Does Not Exist")


def duplicate() -> ODataError:
    return ODataError(412, CODE_DUPLICATE, "A record with matching key values already exists.")
