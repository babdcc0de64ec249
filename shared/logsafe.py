"""Log safety, defined once: the redactor and the escaping of untrusted values.

Anything that reaches a log line, an error's text, a problem+json detail or a dead-letter row
passes through here: known secret values and token-shaped runs are masked (`redact`), request
URLs lose signature-like query values (`redact_url`), and text from a request is escaped so
that it can neither forge a log line (CR/LF) nor drive a terminal (ANSI) (`log_value`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

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
# A bare `Bearer x` (a proxy echoing someone else's request) whatever the token looks like.
_BEARER_RE = re.compile(r"(?i)\b(bearer\s+)[^\s\"',;]+")
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

    text = _BEARER_RE.sub(r"\1" + _MASK, text)
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


# A forward URL (a Power Automate trigger) is signed in its query string.
_SENSITIVE_QUERY_NAMES = frozenset(
    {"sig", "signature", "code", "token", "access_token", "key", "apikey", "api_key"}
)


def redact_url(url: str) -> str:
    """`url` with the values of signature-like query parameters replaced by REDACTED."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [
        (k, "REDACTED" if k.lower() in _SENSITIVE_QUERY_NAMES else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


class RedactRequestUrls(logging.Filter):
    """Masks signed query values in the request URLs that HTTP clients log (httpx at INFO).

    Installed on a logger by the composition root, never as a side effect of an import.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(a)) if type(a).__name__ == "URL" else a for a in record.args
            )
        return True


def install_url_redaction(logger_name: str = "httpx") -> None:
    """Idempotent: one filter per logger however often a runtime is built."""
    target = logging.getLogger(logger_name)
    if not any(isinstance(f, RedactRequestUrls) for f in target.filters):
        target.addFilter(RedactRequestUrls())


_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
LOG_VALUE_LIMIT = 200


def log_value(value: object, limit: int = LOG_VALUE_LIMIT) -> str:
    """An untrusted value made safe for one log line: control characters escaped, bounded."""
    text = value if isinstance(value, str) else repr(value)
    if len(text) > limit:
        text = text[:limit] + f"…(+{len(text) - limit})"
    return _UNSAFE_CHARS.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)
