"""Dataverse (Dynamics 365) Web API adapter: write activities regarding a record.

The bridge writes each survey response as a task (or phone call) regarding an opportunity with
`PATCH <set>(<id>)`, an upsert. The id is derived from the response id (`activity_id_for`), so a
retried write updates the same row instead of adding a second one; that is what makes the
in-call retry below and the caller's durable retry safe.

A write can be made conditional on what the caller read (`get_activity` gives the row and its
`@odata.etag`): `if_match=<etag>` only updates that version of the row, `if_none_match=True`
only creates it. Dataverse answers 412 when the condition fails, raised as
`DataverseConflictError`: someone wrote meanwhile; read again and decide again.

Failures come out as three kinds: `DataverseThrottledError` and `DataverseUnavailableError`
(transient: retry later) and `DataversePermanentError` (retrying will not help), plus the
conflict above. The adapter retries at most once in-call, briefly, so a webhook answer stays fast.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

import httpx

from shared.config import is_loopback_host
from shared.errors import BridgeError, ConfigError, UnavailableError, UpstreamError

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

    from shared.config import Settings

log = logging.getLogger(__name__)

API_PATH = "/api/data/v9.2"
ACTIVITY_SETS: Mapping[str, str] = {"tasks": "task", "phonecalls": "phonecall"}
SUBJECT_MAX_LENGTH = 200
# Fixed for good: uuid5(NAMESPACE_URL, "https://kaizala-bridge.invalid/dataverse/activity").
# Changing it would give every already-written response a new id, hence a duplicate activity.
ACTIVITY_NAMESPACE = uuid.UUID("2befec43-1259-5cd5-8e40-28095bd53995")
DEFAULT_SELECT: tuple[str, ...] = (
    "activityid",
    "subject",
    "description",
    "scheduledend",
    "actualend",
    "prioritycode",
    "statecode",
    "statuscode",
    "_regardingobjectid_value",
    "createdon",
    "modifiedon",
)
DEFAULT_THROTTLE_WAIT = 5.0  # when a 429 comes without a usable Retry-After

_ENTITY_RE = re.compile(r"^[a-z_]{1,64}$")
_GUID_RE = re.compile(r"^\{?([0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})\}?$")
_FIELD_RE = re.compile(r"^[a-z][a-z0-9_]{0,99}(?:@odata\.bind)?$")
_COLUMN_RE = re.compile(r"^_?[a-z][a-z0-9_]{0,99}$")
_BEARER_RE = re.compile(r"(?i)bearer\s+[^\s\"',;]+")
# A weak or strong entity tag as Dataverse sends it (W/"123"); nothing that could break a header.
_ETAG_RE = re.compile(r'^(?:W/)?"[^"\x00-\x1f\x7f]{0,200}"$')
# Entity sets that the plural rules below would get wrong, or that the bridge relies on.
_PLURALS: Mapping[str, str] = {"opportunity": "opportunities"}


# ---- errors ------------------------------------------------------------------------------------


class DataverseError(BridgeError):
    """Any failure of a Dataverse call."""


class DataverseTransientError(UnavailableError, DataverseError):
    """Dataverse could not take the write now; the same write may succeed later."""

    slug = "dataverse-unavailable"
    title = "Dynamics 365 unavailable"


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


# ---- helpers -----------------------------------------------------------------------------------


def activity_id_for(response_id: str, namespace: uuid.UUID = ACTIVITY_NAMESPACE) -> uuid.UUID:
    """The activity id for one survey response: the same response always maps to the same row."""
    if not isinstance(response_id, str) or not response_id.strip():
        raise DataverseInputError("response id must be a non-empty string")
    return uuid.uuid5(namespace, response_id.strip())


def entity_set_for(logical_name: str) -> str:
    """The Web API entity set of a table: `opportunity` -> `opportunities`, `account` -> ..."""
    name = _check_entity(logical_name)
    if name in _PLURALS:
        return _PLURALS[name]
    if name.endswith("y") and len(name) > 1 and name[-2] not in "aeiou":
        return name[:-1] + "ies"
    if name.endswith(("s", "x", "ch", "sh")):
        return name + "es"
    return name + "s"


def regarding_bind_property(entity_set: str, regarding_entity: str) -> str:
    """`regardingobjectid_<entity>_<activity>@odata.bind`: the name depends on the table."""
    activity = _check_set(entity_set)
    return f"regardingobjectid_{_check_entity(regarding_entity)}_{activity}@odata.bind"


def truncate_utf16(text: str, limit: int) -> str:
    """`text` cut to `limit` UTF-16 code units (Dataverse's MaxLength unit), with an ellipsis."""
    if len(text.encode("utf-16-le")) // 2 <= limit:
        return text
    kept: list[str] = []
    used = 0
    for char in text:
        units = 2 if ord(char) > 0xFFFF else 1
        if used + units > limit - 1:  # room for the ellipsis
            break
        kept.append(char)
        used += units
    return "".join(kept) + "…"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if seconds == seconds else None  # NaN is not a wait


def _check_set(entity_set: str) -> str:
    if not isinstance(entity_set, str) or entity_set not in ACTIVITY_SETS:
        raise DataverseInputError(f"entity set must be one of {sorted(ACTIVITY_SETS)}")
    return ACTIVITY_SETS[entity_set]


def _check_entity(name: str) -> str:
    if not isinstance(name, str) or not _ENTITY_RE.match(name):
        raise DataverseInputError("regarding entity must match ^[a-z_]{1,64}$")
    return name


def _check_guid(value: uuid.UUID | str, what: str) -> str:
    if isinstance(value, uuid.UUID):
        parsed = value
    else:
        match = _GUID_RE.match(value) if isinstance(value, str) else None
        if match is None:
            raise DataverseInputError(f"{what} is not a GUID")
        parsed = uuid.UUID(match[1])
    if parsed.int == 0:
        raise DataverseInputError(f"{what} is the empty GUID")
    return str(parsed)


def _check_select(select: Sequence[str]) -> list[str]:
    if isinstance(select, str) or not all(
        isinstance(c, str) and _COLUMN_RE.match(c) for c in select
    ):
        raise DataverseInputError("select must be a sequence of column names")
    return list(select)


def _check_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(fields, Mapping):
        raise DataverseInputError("fields must be a mapping of column names to values")
    checked: dict[str, Any] = {}
    for name, value in fields.items():
        if not isinstance(name, str) or not _FIELD_RE.match(name):
            raise DataverseInputError(f"field name {str(name)[:60]!r} is not a column name")
        if name == "activityid" or name.startswith("regardingobjectid"):
            # The id travels in the URL and the regarding link is built here; a second copy in
            # the body could only disagree with them.
            raise DataverseInputError(f"field {name!r} is set by the adapter")
        checked[name] = value
    subject = checked.get("subject")
    if isinstance(subject, str):
        checked["subject"] = truncate_utf16(subject, SUBJECT_MAX_LENGTH)
    return checked


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetime (Dataverse needs an offset)")
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _redact(text: str, secret: str | None) -> str:
    if secret:
        text = text.replace(secret, "[redacted]")
    return _BEARER_RE.sub("Bearer [redacted]", text)


def build_http_client(transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The process-wide client for Dataverse: connect 10 s, read 30 s, no redirects.

    Redirects are not followed so the bearer token never goes to another host; at most 50
    connections keep the bridge under Dataverse's 52 concurrent requests per user.
    """
    return httpx.AsyncClient(
        timeout=httpx.Timeout(30.0, connect=10.0),
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        follow_redirects=False,
        transport=transport,
    )


# ---- tokens ------------------------------------------------------------------------------------


class TokenSource(Protocol):
    async def token(self, scope: str) -> str: ...

    def invalidate(self) -> None: ...

    async def close(self) -> None: ...


class StaticTokenSource:
    """A fixed bearer token, for a local simulator only (DataverseClient enforces loopback)."""

    def __init__(self, token: str) -> None:
        if not token:
            raise ConfigError("DATAVERSE_STATIC_TOKEN", "is empty")
        self._token = token

    def __repr__(self) -> str:
        return "StaticTokenSource(<redacted>)"

    async def token(self, scope: str) -> str:
        return self._token

    def invalidate(self) -> None:
        """Nothing to refresh: a static token stays what it is."""

    async def close(self) -> None:
        """Nothing to release."""


@dataclass(frozen=True)
class _CachedToken:
    token: str
    refresh_at: float


class AzureIdentityTokenSource:
    """Tokens from an azure-identity async credential, cached until shortly before expiry.

    One credential call per token lifetime (about an hour), not one per request: the managed
    identity endpoint is slow and has its own limits.
    """

    def __init__(
        self,
        credential: AsyncTokenCredential,
        *,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.time,
        close_credential: bool = False,
    ) -> None:
        self._credential = credential
        self._margin = refresh_margin
        self._clock = clock
        self._close_credential = close_credential
        self._cache: dict[str, _CachedToken] = {}
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"AzureIdentityTokenSource({type(self._credential).__name__})"

    async def token(self, scope: str) -> str:
        cached = self._cache.get(scope)
        if cached and self._clock() < cached.refresh_at:
            return cached.token
        # One refresh at a time: concurrent callers wait for it instead of all asking.
        async with self._lock:
            cached = self._cache.get(scope)
            now = self._clock()
            if cached and now < cached.refresh_at:
                return cached.token
            try:
                access = await self._credential.get_token(scope)
            except Exception as exc:
                # Managed identity endpoints fail transiently; a misconfiguration also ends up
                # here and surfaces through the caller's attempt limit.
                raise DataverseUnavailableError(
                    None, f"Could not get a Dataverse token ({type(exc).__name__})."
                ) from exc
            refresh_at = access.expires_on - self._margin
            if refresh_at <= now:  # a short-lived token: use it for half its remaining life
                refresh_at = now + max(0.0, access.expires_on - now) / 2
            self._cache[scope] = _CachedToken(access.token, refresh_at)
            return access.token

    def invalidate(self) -> None:
        """Forget cached tokens (after a 401: the token may have been revoked)."""
        self._cache.clear()

    async def close(self) -> None:
        if self._close_credential:
            await self._credential.close()


# ---- client ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UpsertResult:
    entity_set: str
    activity_id: uuid.UUID
    status: int
    attempts: int
    entity_url: str | None  # the OData-EntityId header, when Dataverse sends it


class DataverseClient:
    """Built once per process; safe for concurrent use from one event loop."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        token_source: TokenSource,
        *,
        max_attempts: int = 2,
        retry_delay: float = 0.25,
        max_throttle_wait: float = 2.0,
    ) -> None:
        parts = urlsplit(base_url.strip() if isinstance(base_url, str) else "")
        loopback = is_loopback_host(parts.hostname)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError("DATAVERSE_URL", "must be an absolute http(s) URL")
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise ConfigError("DATAVERSE_URL", "must be the environment root, without a path")
        if isinstance(token_source, StaticTokenSource) and not loopback:
            raise ConfigError(
                "DATAVERSE_STATIC_TOKEN",
                "is only allowed with a loopback DATAVERSE_URL (a local simulator)",
            )
        if parts.scheme != "https" and not loopback:
            raise ConfigError("DATAVERSE_URL", "must use https (http only for loopback hosts)")
        self._http = http
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._scope = f"{self._origin}/.default"
        self._tokens = token_source
        self._max_attempts = max(1, max_attempts)
        self._retry_delay = retry_delay
        self._max_throttle_wait = max_throttle_wait

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        http: httpx.AsyncClient,
        credential: AsyncTokenCredential | None = None,
    ) -> DataverseClient:
        """The static token when one is set (simulator), else azure-identity.

        Without `credential`, a DefaultAzureCredential is built (managed identity in Azure,
        with the user-assigned client id of `AzureWebJobsStorage__clientId` when set) and
        closed by `aclose()`.
        """
        url = settings.require("DATAVERSE_URL")
        source: TokenSource
        if settings.dataverse_static_token:
            source = StaticTokenSource(settings.dataverse_static_token)
        elif credential is not None:
            source = AzureIdentityTokenSource(credential)
        else:
            # Imported here: azure.identity is slow to import and a simulator run never needs it.
            from azure.identity.aio import DefaultAzureCredential

            owned = DefaultAzureCredential(managed_identity_client_id=settings.storage.client_id)
            source = AzureIdentityTokenSource(owned, close_credential=True)
        return cls(http, url, source)

    @property
    def base_url(self) -> str:
        return self._origin

    async def aclose(self) -> None:
        """Release the token source (the http client belongs to the caller)."""
        await self._tokens.close()

    async def upsert_activity(
        self,
        entity_set: str,
        activity_id: uuid.UUID | str,
        regarding_entity: str,
        regarding_id: str,
        fields: Mapping[str, Any],
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> UpsertResult:
        """Create or update the activity `activity_id`, regarding `<regarding_entity>(<id>)`.

        `if_match` (an `@odata.etag` from `get_activity`): update that version only;
        `if_none_match`: create only. Either way a failed condition raises
        DataverseConflictError (412), and `if_match` on a row deleted meanwhile answers 404
        (DataversePermanentError, as for a missing regarding record).
        """
        # Everything is checked before the first request: a bad id must not cost a call.
        conditions: dict[str, str] = {}
        if if_match is not None:
            if if_none_match:
                raise DataverseInputError("if_match and if_none_match exclude each other")
            if not isinstance(if_match, str) or not _ETAG_RE.match(if_match):
                raise DataverseInputError('if_match must be an entity tag such as W/"123"')
            conditions["If-Match"] = if_match
        elif if_none_match:
            conditions["If-None-Match"] = "*"
        bind = regarding_bind_property(entity_set, regarding_entity)
        key = _check_guid(activity_id, "activity id")
        target = f"/{entity_set_for(regarding_entity)}({_check_guid(regarding_id, 'regarding id')})"
        body = {**_check_fields(fields), bind: target}
        try:
            content = json.dumps(
                body, ensure_ascii=False, allow_nan=False, default=_json_default
            ).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise DataverseInputError(f"fields are not JSON: {exc}") from None
        response, attempts = await self._call(
            "PATCH", entity_set, f"{entity_set}({key})", content, conditions
        )
        return UpsertResult(
            entity_set=entity_set,
            activity_id=uuid.UUID(key),
            status=response.status_code,
            attempts=attempts,
            entity_url=response.headers.get("OData-EntityId"),
        )

    async def get_activity(
        self,
        entity_set: str,
        activity_id: uuid.UUID | str,
        select: Sequence[str] = DEFAULT_SELECT,
    ) -> tuple[dict[str, Any], str] | None:
        """The activity's selected columns and its `@odata.etag`, or None when it does not exist.

        The etag is what `upsert_activity(if_match=...)` needs to write only over this version.
        """
        _check_set(entity_set)
        key = _check_guid(activity_id, "activity id")
        columns = _check_select(select)
        path = f"{entity_set}({key})"
        if columns:
            path += "?" + urlencode({"$select": ",".join(columns)}, quote_via=quote, safe="$,")
        response, _ = await self._call("GET", entity_set, path, None, missing_ok=True)
        if response.status_code == 404:
            return None
        try:
            row = response.json()
        except ValueError:
            row = None
        etag = row.get("@odata.etag") if isinstance(row, dict) else None
        if not isinstance(etag, str):
            etag = response.headers.get("ETag")
        if not isinstance(row, dict) or not isinstance(etag, str) or not _ETAG_RE.match(etag):
            raise DataverseUnavailableError(None, "Dataverse sent an unreadable answer.")
        return {k: v for k, v in row.items() if not k.startswith("@")}, etag

    async def list_activities(
        self,
        entity_set: str,
        regarding_id: str,
        select: Sequence[str] = DEFAULT_SELECT,
        top: int = 100,
    ) -> list[dict[str, Any]]:
        """Activities of `entity_set` regarding `regarding_id`, oldest first (tests, demo)."""
        _check_set(entity_set)
        guid = _check_guid(regarding_id, "regarding id")
        select = _check_select(select)
        if not 1 <= top <= 5000:
            raise DataverseInputError("top must be between 1 and 5000")
        params = {
            "$filter": f"_regardingobjectid_value eq {guid}",
            "$orderby": "createdon asc",
            "$top": str(top),
        }
        if select:
            params["$select"] = ",".join(select)
        # %20, not '+', for spaces: OData reads the query strictly.
        query = urlencode(params, quote_via=quote, safe="$,")
        response, _ = await self._call("GET", entity_set, f"{entity_set}?{query}", None)
        try:
            rows = response.json()["value"]
        except (ValueError, KeyError, TypeError):
            rows = None
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise DataverseUnavailableError(None, "Dataverse sent an unreadable answer.")
        return [dict(r) for r in rows]

    async def _call(
        self,
        method: str,
        entity_set: str,
        path: str,
        content: bytes | None,
        extra_headers: Mapping[str, str] | None = None,
        *,
        missing_ok: bool = False,
    ) -> tuple[httpx.Response, int]:
        """One call, retried at most once in-call; `missing_ok` returns a 404 instead of raising."""
        url = f"{self._origin}{API_PATH}/{path}"
        started = time.perf_counter()
        outcome: int | str = "not sent"
        attempts = 0
        try:
            while True:
                attempts += 1
                token = await self._tokens.token(self._scope)
                headers = {
                    "Authorization": f"Bearer {token}",
                    "OData-MaxVersion": "4.0",
                    "OData-Version": "4.0",
                    "Accept": "application/json",
                }
                if content is not None:
                    headers["Content-Type"] = "application/json; charset=utf-8"
                if extra_headers:
                    headers.update(extra_headers)
                retry = attempts < self._max_attempts
                try:
                    response = await self._http.request(
                        method, url, headers=headers, content=content
                    )
                except httpx.TransportError as exc:
                    outcome = type(exc).__name__
                    if retry:
                        await self._backoff()
                        continue
                    raise DataverseUnavailableError(
                        None, f"Dataverse {method} {entity_set} failed: {outcome}."
                    ) from exc
                outcome = response.status_code
                if response.is_success or (missing_ok and response.status_code == 404):
                    return response, attempts
                error = self._error(response, token)
                if isinstance(error, DataverseTransientError) and retry:
                    wait = error.retry_after
                    # Wait in-call only briefly; longer waits belong to the caller's retry.
                    if wait is not None and wait <= self._max_throttle_wait:
                        await asyncio.sleep(wait)
                        continue
                    if wait is None and isinstance(error, DataverseUnavailableError):
                        await self._backoff()
                        continue
                if response.status_code == 401:
                    self._tokens.invalidate()
                raise error
        finally:
            log.info(
                "dataverse %s %s status=%s attempts=%d duration_ms=%.0f",
                method,
                entity_set,
                outcome,
                attempts,
                (time.perf_counter() - started) * 1000,
            )

    async def _backoff(self) -> None:
        # Jitter spreads retries of concurrent instances; not a security use of random.
        await asyncio.sleep(self._retry_delay * (1 + random.random()))  # noqa: S311

    def _error(self, response: httpx.Response, token: str) -> DataverseError:
        status = response.status_code
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 429:
            return DataverseThrottledError(
                DEFAULT_THROTTLE_WAIT if retry_after is None else retry_after
            )
        code, message = _error_body(response)
        # A misbehaving proxy or service could echo the request; keep the token out regardless.
        message = _redact(message, token)
        code = _redact(code, token) if code else None
        if status == 412:
            return DataverseConflictError(code, message)
        if status >= 500 or status == 401:
            # 401: the token may have been revoked or rotated; the cached one is dropped and
            # the inbox retries (bounded by INBOX_MAX_ATTEMPTS) rather than giving up at once.
            return DataverseUnavailableError(
                retry_after, f"Dataverse answered {status} ({code or 'no code'}): {message}"
            )
        return DataversePermanentError(status, code, message)


def _error_body(response: httpx.Response) -> tuple[str | None, str]:
    """Code and message excerpt of an OData error body (or of whatever came instead)."""
    try:
        error = response.json().get("error", {})
        code, message = error.get("code"), error.get("message")
    except (ValueError, AttributeError):
        code, message = None, None
    if not isinstance(message, str):
        message = response.text or response.reason_phrase
    excerpt = " ".join(message.split())[:300]
    return (code if isinstance(code, str) else None), excerpt
