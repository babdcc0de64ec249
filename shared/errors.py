"""The bridge's typed errors and their problem+json (RFC 9457) form.

Services raise these; triggers map them to responses with `problem()`. The `detail` of an error
is written for the caller and must never contain a secret, a connection string or a stack trace.
"""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://kaizala-bridge.invalid/problems/"


class BridgeError(Exception):
    status: int = 500
    slug: str = "internal"
    title: str = "Internal error"

    def __init__(self, detail: str, *, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra or {}

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body

    def headers(self) -> dict[str, str]:
        return {}


class ConfigError(BridgeError):
    """A setting is missing or malformed. Raised at start-up (fail fast) or on first use."""

    status = 500
    slug = "configuration"
    title = "Configuration error"

    def __init__(self, setting: str, reason: str) -> None:
        super().__init__(f"Setting {setting} {reason}.", extra={"setting": setting})
        self.setting = setting


class ValidationError(BridgeError):
    status = 400
    slug = "validation"
    title = "Invalid request"

    def __init__(self, detail: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail, extra={"errors": errors} if errors else None)
        self.errors = errors or []


class UnauthorizedError(BridgeError):
    status = 401
    slug = "unauthorized"
    title = "Unauthorized"


class NotFoundError(BridgeError):
    status = 404
    slug = "not-found"
    title = "Not found"


class ConflictError(BridgeError):
    status = 409
    slug = "conflict"
    title = "Conflict"


class PayloadTooLargeError(BridgeError):
    status = 413
    slug = "payload-too-large"
    title = "Payload too large"


class UnsupportedMediaTypeError(BridgeError):
    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class UpstreamError(BridgeError):
    """A dependency (Kaizala, Dataverse) refused or failed the request."""

    status = 502
    slug = "upstream"
    title = "Upstream error"


class UnavailableError(BridgeError):
    """Temporarily unavailable (storage down, throttled without a queue): the caller may retry."""

    status = 503
    slug = "unavailable"
    title = "Service unavailable"

    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, round(self.retry_after)))}


class StorageError(UnavailableError):
    slug = "storage-unavailable"
    title = "Storage unavailable"
