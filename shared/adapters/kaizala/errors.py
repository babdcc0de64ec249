"""Typed errors of the Kaizala client, and the redaction that keeps secrets out of them.

Every error here is a `BridgeError`, so a trigger maps it like any other: a refused argument is
a 400 `validation` problem, throttling a 503 `unavailable` one with Retry-After, any other
failure a 502 `upstream` one whose detail is "Kaizala call failed: <the error's text>".

An error's `str()` and `repr()` end up in logs, problem+json details and dead-letter rows, so
everything that comes from the wire (body excerpt, request id) is scrubbed of the known secret
values of the call and of anything that looks like a token before it is stored. `status` is the
bridge's own answer (502, 503); Kaizala's HTTP status is `upstream_status`.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.errors import UnavailableError, UpstreamError, ValidationError
from shared.logsafe import excerpt, redact, safe_request_id

__all__ = [
    "KaizalaAuthError",
    "KaizalaBadRequestError",
    "KaizalaEndpointRefusedError",
    "KaizalaError",
    "KaizalaNotFoundError",
    "KaizalaRateLimitedError",
    "KaizalaRedirectRefusedError",
    "KaizalaServerError",
    "KaizalaTransportError",
    "KaizalaValidationError",
    "safe_request_id",
]

THROTTLED_DETAIL = "Kaizala is throttling the connector."


class KaizalaValidationError(ValidationError, ValueError):
    """An argument was refused before any request was made (malformed id, conflicting options).

    Still a ValueError, as before it became a BridgeError, for callers that catch that.
    """

    def __init__(self, detail: str) -> None:
        super().__init__(detail)


class KaizalaError(UpstreamError):
    """A Kaizala call failed. Carries only log-safe data: no header, token or query string."""

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        body_excerpt: str = "",
        request_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        secrets: Iterable[str | None] = (),
    ) -> None:
        secret_list = list(secrets)
        self.upstream_status = upstream_status
        self.body_excerpt = excerpt(body_excerpt, secret_list) if body_excerpt else ""
        self.request_id = safe_request_id(request_id, secret_list)
        self.method = method
        # Path only: a query string could carry ids of other tenants or, worse, secrets.
        self.path = path.split("?", 1)[0] if path else path
        self.message = redact(message, secret_list)
        text = self._render()
        # The texts are built without tokens or secrets, so they may reach the caller.
        super().__init__(f"Kaizala call failed: {text}")
        # str() and repr() stay the error's own text, without the caller-facing prefix.
        self.args = (text,)

    def _render(self) -> str:
        parts = [self.message]
        if self.method or self.path:
            parts.append(f"[{self.method or '?'} {self.path or '?'}]")
        if self.upstream_status is not None:
            parts.append(f"status={self.upstream_status}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        if self.body_excerpt:
            parts.append(f"body={self.body_excerpt!r}")
        return " ".join(parts)


class KaizalaAuthError(KaizalaError):
    """401/403: the token was refused (after one refresh) or lacks the scope."""


class KaizalaNotFoundError(KaizalaError):
    """404: the group, action or webhook does not exist (or is not visible to the token)."""


class KaizalaBadRequestError(KaizalaError):
    """400 and the other 4xx: Kaizala refused the request as malformed."""


class KaizalaRateLimitedError(KaizalaError, UnavailableError):
    """429 after the bounded retries; `retry_after` is how long the caller should wait.

    Answered as 503 `unavailable` with a Retry-After header, not as a 502: the caller may retry.
    """

    status = UnavailableError.status
    slug = UnavailableError.slug
    title = UnavailableError.title

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        upstream_status: int | None = 429,
        body_excerpt: str = "",
        request_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        secrets: Iterable[str | None] = (),
    ) -> None:
        super().__init__(
            f"{message} (retry after {retry_after:g}s)",
            upstream_status=upstream_status,
            body_excerpt=body_excerpt,
            request_id=request_id,
            method=method,
            path=path,
            secrets=secrets,
        )
        # Set after super(): UnavailableError's __init__, reached through the MRO, resets it.
        self.retry_after = retry_after
        self.detail = THROTTLED_DETAIL


class KaizalaServerError(KaizalaError):
    """5xx after the bounded retries (or at once for a POST, which may have been applied)."""


class KaizalaTransportError(KaizalaError):
    """No usable response: connection refused or reset, timeout, protocol error."""


class KaizalaEndpointRefusedError(KaizalaError):
    """The access token would have gone to a host or scheme that is not allowed; nothing sent."""


class KaizalaRedirectRefusedError(KaizalaEndpointRefusedError):
    """A 308 pointed outside the allowed hosts (or too many redirects); the token was not sent."""
