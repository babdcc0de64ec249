"""The Dataverse Web API client: one call, its headers, its bounded in-call retry, its log line.

Retries follow `shared.adapters.retry.RetryPolicy` (attempts, back-off with full jitter); a
server's wait (Retry-After) is honoured in-call only up to `max_throttle_wait`, and a longer
one is raised to the caller, whose durable retry (the inbox) waits instead of the webhook.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

from shared import telemetry
from shared.adapters.dataverse.auth import AzureIdentityTokenSource, StaticTokenSource, TokenSource
from shared.adapters.dataverse.errors import (
    DataverseError,
    DataverseInputError,
    DataverseTransientError,
    DataverseUnavailableError,
    error_from_response,
)
from shared.adapters.dataverse.guard import DataverseGuard
from shared.adapters.dataverse.notes import NOTE_SET, note_body
from shared.adapters.dataverse.odata import (
    API_PATH,
    DEFAULT_SELECT,
    check_entity_set,
    check_fields,
    check_guid,
    check_select,
    check_set,
    conditions,
    encode_body,
    entity_set_for,
    is_etag,
    regarding_bind_property,
    request_headers,
)
from shared.adapters.dataverse.odata import UpsertResult as UpsertResult
from shared.adapters.identity import build_credential
from shared.adapters.retry import RetryPolicy
from shared.clock import Clock, wall
from shared.config import is_loopback_host
from shared.domain.json_limits import decode  # bounded depth: upstream JSON too
from shared.errors import ConfigError

if TYPE_CHECKING:
    from azure.core.credentials_async import AsyncTokenCredential

    from shared.config import Settings

# The package's name, as before the split: operators filter on it.
log = logging.getLogger("shared.adapters.dataverse")

Sleep = Callable[[float], Awaitable[None]]

# Two attempts, the second after up to 0.5 s: a webhook answer stays fast, the inbox retries.
DEFAULT_RETRY = RetryPolicy(max_attempts=2, base_delay=0.5, max_delay=0.5)
# Transport errors raised before the request left: retrying cannot repeat a write.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class DataverseClient:
    """Built once per process; safe for concurrent use from one event loop."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        token_source: TokenSource,
        *,
        retry: RetryPolicy = DEFAULT_RETRY,
        max_throttle_wait: float = 2.0,
        clock: Clock = wall,
        sleep: Sleep = asyncio.sleep,
        guard: DataverseGuard | None = None,
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
        self._retry = retry
        self._max_throttle_wait = max_throttle_wait
        self._clock = clock
        self._sleep = sleep
        self._guard = guard  # the process's circuit and request window (None: unguarded)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        http: httpx.AsyncClient,
        credential: AsyncTokenCredential | None = None,
        *,
        clock: Clock = wall,
        guard: DataverseGuard | None = None,
    ) -> DataverseClient:
        """The static token when one is set (simulator), else azure-identity.

        Without `credential`, the process credential is built here (`build_credential`:
        managed identity in Azure, with the user-assigned client id of
        `AzureWebJobsStorage__clientId` when set) and closed by `aclose()`.
        """
        url = settings.require("DATAVERSE_URL")
        source: TokenSource
        if settings.dataverse_static_token:
            source = StaticTokenSource(settings.dataverse_static_token)
        elif credential is not None:
            source = AzureIdentityTokenSource(credential, clock=clock)
        else:
            owned = build_credential(settings.storage.client_id)
            source = AzureIdentityTokenSource(owned, clock=clock, close_credential=True)
        return cls(http, url, source, clock=clock, guard=guard)

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
        headers = conditions(if_match, if_none_match)
        bind = regarding_bind_property(entity_set, regarding_entity)
        key = check_guid(activity_id, "activity id")
        target = f"/{entity_set_for(regarding_entity)}({check_guid(regarding_id, 'regarding id')})"
        content = encode_body({**check_fields(fields), bind: target})
        response, attempts = await self._call(
            "PATCH", entity_set, f"{entity_set}({key})", content, headers
        )
        return UpsertResult(
            entity_set=entity_set,
            activity_id=uuid.UUID(key),
            status=response.status_code,
            attempts=attempts,
            entity_url=response.headers.get("OData-EntityId"),
        )

    async def upsert_note(
        self,
        note_id: uuid.UUID | str,
        regarding_entity: str,
        regarding_id: str,
        subject: str,
        text: str,
        *,
        if_none_match: bool = False,
    ) -> UpsertResult:
        """Create or rewrite the note `note_id` on `<regarding_entity>(<id>)` (`annotations`).

        `if_none_match`: create only (DataverseConflictError when it exists). Subject and text
        are cut to Dataverse's lengths (500 and 100,000 UTF-16 code units).
        """
        headers = conditions(None, if_none_match)
        key = check_guid(note_id, "note id")
        content = note_body(regarding_entity, regarding_id, subject, text)
        response, attempts = await self._call(
            "PATCH", NOTE_SET, f"{NOTE_SET}({key})", content, headers
        )
        return UpsertResult(
            entity_set=NOTE_SET,
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
        check_set(entity_set)
        key = check_guid(activity_id, "activity id")
        columns = check_select(select)
        path = f"{entity_set}({key})"
        if columns:
            path += "?" + urlencode({"$select": ",".join(columns)}, quote_via=quote, safe="$,")
        response, _ = await self._call("GET", entity_set, path, None, missing_ok=True)
        if response.status_code == 404:
            return None
        try:
            row = decode(response.content)
        except ValueError:
            row = None
        etag = row.get("@odata.etag") if isinstance(row, dict) else None
        if not isinstance(etag, str):
            etag = response.headers.get("ETag")
        if not isinstance(row, dict) or not isinstance(etag, str) or not is_etag(etag):
            raise DataverseUnavailableError(None, "Dataverse sent an unreadable answer.")
        return {k: v for k, v in row.items() if not k.startswith("@")}, etag

    async def get_row(
        self, entity_set: str, row_id: str, select: Sequence[str]
    ) -> dict[str, Any] | None:
        """One row's selected columns (`GET <set>(<id>)?$select=`), or None when it is missing."""
        name = check_entity_set(entity_set)
        key = check_guid(row_id, "row id")
        columns = check_select(select)
        if not columns:
            raise DataverseInputError("select at least one column")
        query = urlencode({"$select": ",".join(columns)}, quote_via=quote, safe="$,")
        response, _ = await self._call("GET", name, f"{name}({key})?{query}", None, missing_ok=True)
        if response.status_code == 404:
            return None
        try:
            row = decode(response.content)
        except ValueError:
            row = None
        if not isinstance(row, dict):
            raise DataverseUnavailableError(None, "Dataverse sent an unreadable answer.")
        return {k: v for k, v in row.items() if not k.startswith("@")}

    async def list_activities(
        self,
        entity_set: str,
        regarding_id: str,
        select: Sequence[str] = DEFAULT_SELECT,
        top: int = 100,
    ) -> list[dict[str, Any]]:
        """Activities of `entity_set` regarding `regarding_id`, oldest first (tests, demo)."""
        check_set(entity_set)
        guid = check_guid(regarding_id, "regarding id")
        select = check_select(select)
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
            rows = decode(response.content)["value"]
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
        """One call with the policy's in-call retries; `missing_ok` returns a 404, not raises."""
        url = f"{self._origin}{API_PATH}/{path}"
        # Every call here is idempotent: a GET, or a PATCH upsert by a deterministic key (a
        # repeated write lands on the same row; a conditional one answers 412). The policy is
        # asked as for a PUT.
        as_method = "GET" if method == "GET" else "PUT"
        started = time.perf_counter()
        outcome: int | str = "not sent"
        attempts = 0
        guard = self._guard
        probe = guard.admit() if guard is not None else False  # refused: nothing is sent
        recorded = False  # the probe's outcome reached the circuit
        # A child span per call: the URL without its query (ids in $filter), never a header.
        where = {"http.request.method": method, "url.full": url.split("?", 1)[0]}
        with telemetry.span(f"dataverse {method} {entity_set}", "client", **where) as scope:
            try:
                while True:
                    attempts += 1
                    token = await self._tokens.token(self._scope)
                    headers = request_headers(token, content is not None, extra_headers)
                    if guard is not None:
                        await guard.pace()
                    try:
                        response = await self._http.request(
                            method, url, headers=headers, content=content
                        )
                    except (httpx.TransportError, asyncio.CancelledError) as exc:
                        # Cancelled: the caller's budget ran out on a call that hung (a failure).
                        outcome = type(exc).__name__
                        if guard is not None:
                            guard.record(None)
                            recorded = True
                        if isinstance(exc, asyncio.CancelledError):
                            raise
                        sent = not isinstance(exc, _NOT_SENT)
                        if self._retry.should_retry(
                            attempts, method=as_method, sent=sent
                        ) and await self._slept(self._retry.sleep_time(attempts), probe):
                            continue
                        failed = DataverseUnavailableError(
                            None, f"Dataverse {method} {entity_set} failed: {outcome}."
                        )
                        raise (failed if guard is None else guard.mark(failed)) from exc
                    outcome = response.status_code
                    ok = response.is_success or (missing_ok and response.status_code == 404)
                    error = None if ok else error_from_response(response, token, self._clock())
                    if guard is not None:
                        guard.record(response.status_code, getattr(error, "retry_after", None))
                        recorded = True
                    if error is None:
                        return response, attempts
                    if response.status_code == 401:
                        # Revoked or rotated: the next call fetches a new token (the inbox retries).
                        self._tokens.invalidate()
                    wait = self._in_call_wait(attempts, as_method, response.status_code, error)
                    if wait is None or not await self._slept(wait, probe):
                        raise error if guard is None else guard.mark(error)
            finally:
                if guard is not None and probe and not recorded:
                    guard.released()
                scope.set(**{"http.response.status_code": outcome}, attempts=attempts)
                # A clean first-try call is DEBUG: the event's outcome line tells the story.
                clean = attempts == 1 and isinstance(outcome, int) and outcome < 300
                log.log(
                    logging.DEBUG if clean else logging.INFO,
                    "dataverse %s %s status=%s attempts=%d duration_ms=%.0f",
                    method,
                    entity_set,
                    outcome,
                    attempts,
                    (time.perf_counter() - started) * 1000,
                )

    async def _slept(self, wait: float, probe: bool) -> bool:
        """Wait before an in-call retry; False (no retry) when the circuit is not closed before
        or after the wait (other calls may have opened it meanwhile)."""
        if self._guard is not None and not self._guard.may_retry(probe):
            return False
        await self._sleep(wait)
        return self._guard is None or self._guard.may_retry(probe)

    def _in_call_wait(
        self, attempts: int, method: str, status: int, error: DataverseError
    ) -> float | None:
        """Seconds to wait before trying again in-call, or None to raise `error` now."""
        if not isinstance(error, DataverseTransientError):
            return None
        if not self._retry.should_retry(attempts, method=method, status=status):
            return None  # 412 and 401 included: neither succeeds by repeating the same request
        if error.retry_after is not None and error.retry_after > self._max_throttle_wait:
            return None  # a longer wait belongs to the caller's retry, not to a webhook answer
        return self._retry.sleep_time(attempts, error.retry_after)
