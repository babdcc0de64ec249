"""The DataverseError family, and the mapping of a Dataverse error answer onto it.

Three kinds: `DataverseThrottledError` and `DataverseUnavailableError` (transient: retry later),
`DataversePermanentError` (retrying will not help), plus `DataverseConflictError` (412: read
again and decide again). Every text here may reach a log line or a problem+json detail, so the
bearer token and anything token-shaped is masked by `shared.logsafe`.
"""

from __future__ import annotations

import httpx

from shared.adapters.retry import parse_retry_after
from shared.domain.json_limits import decode  # bounded depth: upstream JSON too
from shared.errors import BridgeError, UnavailableError, UpstreamError
from shared.logsafe import excerpt, redact

DEFAULT_THROTTLE_WAIT = 5.0  # when a 429 comes without a usable Retry-After


class DataverseError(BridgeError):
    """Any failure of a Dataverse call."""


class DataverseTransientError(UnavailableError, DataverseError):
    """Dataverse could not take the write now; the same write may succeed later."""

    slug = "dataverse-unavailable"
    title = "Dynamics 365 unavailable"
    # Set by the client: the process's circuit is open after this failure (an outage, not the
    # event): the inbox retries it without counting an attempt.
    circuit_open: bool = False


class DataverseThrottledError(DataverseTransientError):
    """429 from service protection limits; wait `retry_after` seconds before the next call."""

    slug = "dataverse-throttled"
    title = "Dynamics 365 throttled the bridge"
    retry_after: float

    def __init__(self, retry_after: float, detail: str | None = None) -> None:
        super().__init__(detail or f"Dataverse throttled the call; retry after {retry_after:g} s.")
        self.retry_after = retry_after


class DataverseUnavailableError(DataverseTransientError):
    """5xx, timeout or connection failure."""

    def __init__(self, retry_after: float | None = None, detail: str | None = None) -> None:
        super().__init__(detail or "Dataverse is unavailable.", retry_after)


class DataverseCircuitOpenError(DataverseTransientError):
    """No call was made: the process's circuit is open (Dataverse failing or throttling).

    Not the event's fault: the inbox keeps it pending without counting an attempt.
    """

    def __init__(self, retry_in: float) -> None:
        super().__init__(
            f"Dataverse calls are paused for {retry_in:.0f} s (circuit open).", max(retry_in, 1.0)
        )
        self.retry_in = retry_in


class DataversePermanentError(UpstreamError, DataverseError):
    """Dataverse refused the call (4xx other than 429); the same call will fail again.

    `status` stays the bridge's own answer (502, from `UpstreamError`); Dataverse's HTTP status
    is `upstream_status`, its error code `code` and an excerpt of its message `upstream_message`.
    """

    slug = "dataverse-rejected"
    title = "Dynamics 365 rejected the write"

    def __init__(self, upstream_status: int | None, code: str | None, message: str) -> None:
        prefix = f"Dataverse answered {upstream_status}" if upstream_status else "Dataverse call"
        super().__init__(f"{prefix} ({code or 'no code'}): {message}")
        self.upstream_status = upstream_status
        self.code = code
        self.upstream_message = message


class DataverseConflictError(DataverseTransientError):
    """412: the condition of a conditional write failed (the row changed, or already exists).

    Not retried in-call: the caller must read the row again and decide again; when it gives up,
    it retries later like any transient failure (hence the `dataverse-unavailable` slug).
    """

    def __init__(self, code: str | None, message: str) -> None:
        super().__init__(f"Dataverse answered 412 ({code or 'no code'}): {message}")
        self.upstream_status = 412
        self.code = code
        self.upstream_message = message


class DataverseInputError(DataversePermanentError, ValueError):
    """The call was refused before any request: a bad entity set, entity name, id or field."""

    def __init__(self, message: str) -> None:
        super().__init__(None, "invalid-input", message)


def error_from_response(response: httpx.Response, token: str, now: float) -> DataverseError:
    """The typed error for a non-success answer; `token` (the one sent) never appears in it.

    `now` (epoch seconds, the client's clock) reads a Retry-After given as an HTTP date.
    """
    status = response.status_code
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now=now)
    if status == 429:
        return DataverseThrottledError(
            DEFAULT_THROTTLE_WAIT if retry_after is None else retry_after
        )
    code, message = _error_body(response, token)
    if status == 412:
        return DataverseConflictError(code, message)
    if status >= 500 or status == 401:
        # 401: the token may have been revoked or rotated; the cached one is dropped and
        # the inbox retries (bounded by INBOX_MAX_ATTEMPTS) rather than giving up at once.
        return DataverseUnavailableError(
            retry_after, f"Dataverse answered {status} ({code or 'no code'}): {message}"
        )
    return DataversePermanentError(status, code, message)


def _error_body(response: httpx.Response, token: str) -> tuple[str | None, str]:
    """Code and redacted message excerpt of an OData error body (or of whatever came instead)."""
    try:
        error = decode(response.content).get("error", {})
        code, message = error.get("code"), error.get("message")
    except (ValueError, AttributeError):
        code, message = None, None
    if not isinstance(message, str):
        message = response.text or response.reason_phrase
    # A misbehaving proxy or service could echo the request; keep the token out regardless.
    masked_code = redact(code, [token]) if isinstance(code, str) and code else None
    return masked_code, excerpt(message, [token])
