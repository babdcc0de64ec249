"""Typed errors of the Kaizala client, and the redaction that keeps secrets out of them.

An error's `str()` and `repr()` end up in logs, problem+json details and dead-letter rows, so
everything that comes from the wire (body excerpt, request id) is scrubbed of the known secret
values of the call and of anything that looks like a token before it is stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from urllib.parse import quote

EXCERPT_LIMIT = 300
_SCAN_LIMIT = 4000  # redact a bounded prefix, then cut: a cut never splits a secret in view
_MASK = "***"

# `"accessToken": "..."`, `refreshToken=...`, `kz-callback-token: ...`, `Authorization: Bearer x`
_KEY_VALUE_RE = re.compile(
    r"""(?ix)
    ( ["']? [\w-]*? (?:token|secret|password|passwd|pin|signature|sig|authorization|api[_-]?key)
      ["']? \s* [:=] \s* )
    ( "(?:[^"\\]|\\.)*" | '[^']*' | (?:bearer\s+)?[^\s,;&}\]"']+ )
    """
)
# Long opaque runs (JWTs, base64 tokens, SAS signatures). GUIDs stay readable: they are ids.
_OPAQUE_RE = re.compile(r"[A-Za-z0-9+/_=.~-]{32,}")
_GUID_RE = re.compile(
    r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
)
_REQUEST_ID_RE = re.compile(r"[A-Za-z0-9._:|-]{1,100}")


def _secret_forms(secret: str) -> set[str]:
    # A server may echo a value URL-encoded or JSON-escaped; hide those spellings too.
    forms = {secret, quote(secret, safe=""), json.dumps(secret)[1:-1]}
    return {f for f in forms if f}


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with the given secret values and anything token-shaped replaced by `***`."""
    # Longest first, so a secret that contains another is hidden whole.
    for secret in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        for form in _secret_forms(secret):
            text = text.replace(form, _MASK)

    def _mask_value(match: re.Match[str]) -> str:
        value = match.group(2)
        quote_char = value[0] if value[:1] in ("'", '"') else ""
        return f"{match.group(1)}{quote_char}{_MASK}{quote_char}"

    text = _KEY_VALUE_RE.sub(_mask_value, text)
    return _OPAQUE_RE.sub(lambda m: m.group(0) if _GUID_RE.fullmatch(m.group(0)) else _MASK, text)


def excerpt(text: str, secrets: Iterable[str | None] = ()) -> str:
    """A log-safe excerpt of a response body: redacted, one line, at most 300 characters."""
    cleaned = redact(text[:_SCAN_LIMIT], secrets)
    cleaned = " ".join(cleaned.split())
    if len(cleaned) > EXCERPT_LIMIT:
        cleaned = cleaned[: EXCERPT_LIMIT - 1] + "…"
    return cleaned


def safe_request_id(value: str | None, secrets: Iterable[str | None] = ()) -> str | None:
    """A response's request id if it looks like one (a header is attacker-controlled text)."""
    if not value:
        return None
    value = value.strip()
    if not _REQUEST_ID_RE.fullmatch(value) or redact(value, secrets) != value:
        return None
    return value


class KaizalaValidationError(ValueError):
    """An argument was refused before any request was made (malformed id, conflicting options)."""


class KaizalaError(Exception):
    """A Kaizala call failed. Carries only log-safe data: no header, token or query string."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body_excerpt: str = "",
        request_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        secrets: Iterable[str | None] = (),
    ) -> None:
        secret_list = list(secrets)
        self.status = status
        self.body_excerpt = excerpt(body_excerpt, secret_list) if body_excerpt else ""
        self.request_id = safe_request_id(request_id, secret_list)
        self.method = method
        # Path only: a query string could carry ids of other tenants or, worse, secrets.
        self.path = path.split("?", 1)[0] if path else path
        self.message = redact(message, secret_list)
        super().__init__(self._render())

    def _render(self) -> str:
        parts = [self.message]
        if self.method or self.path:
            parts.append(f"[{self.method or '?'} {self.path or '?'}]")
        if self.status is not None:
            parts.append(f"status={self.status}")
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


class KaizalaRateLimitedError(KaizalaError):
    """429 after the bounded retries; `retry_after` is how long the caller should wait."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        status: int | None = 429,
        body_excerpt: str = "",
        request_id: str | None = None,
        method: str | None = None,
        path: str | None = None,
        secrets: Iterable[str | None] = (),
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"{message} (retry after {retry_after:g}s)",
            status=status,
            body_excerpt=body_excerpt,
            request_id=request_id,
            method=method,
            path=path,
            secrets=secrets,
        )


class KaizalaServerError(KaizalaError):
    """5xx after the bounded retries (or at once for a POST, which may have been applied)."""


class KaizalaTransportError(KaizalaError):
    """No usable response: connection refused or reset, timeout, protocol error."""


class KaizalaEndpointRefusedError(KaizalaError):
    """The access token would have gone to a host or scheme that is not allowed; nothing sent."""


class KaizalaRedirectRefusedError(KaizalaEndpointRefusedError):
    """A 308 pointed outside the allowed hosts (or too many redirects); the token was not sent."""
