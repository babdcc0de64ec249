"""An azure-core async transport on httpx, for the bridge's async Azure clients.

Why: azure-core's default async transport is aiohttp, imported on a process's first storage
call; that import is the largest part of a fresh instance's first answer (bench/README.md, cold
start). The bridge already loads httpx and httpcore for Kaizala and Dataverse, so the Azure
clients sharing that stack cost nothing more to import. azure-core 1.41 ships no httpx
transport (azure-core-experimental's fails with this azure-core), hence this small one.

Scope: what the bridge's clients send, i.e. `azure.core.rest.HttpRequest` with a bytes/str body
or none (no multipart `files`). Timeouts come from the client options (`connection_timeout`,
`read_timeout`), per request as azure-core passes them; retries stay azure-core's RetryPolicy.
httpx errors become the azure-core errors the RetryPolicy and the adapters expect. Request
targets go out byte for byte as aiohttp sends them (`wire_url`): the shared-key signature
depends on it.
"""

from __future__ import annotations

import re
import ssl
import string
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
from azure.core.exceptions import (
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline.transport import AsyncHttpTransport
from azure.core.rest import HttpRequest
from azure.core.rest._http_response_impl_async import AsyncHttpResponseImpl
from azure.core.utils import CaseInsensitiveDict

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 15.0

# What aiohttp (yarl's requoting) decodes from azure-core's percent-encoded URL before sending:
# Azure's shared-key check (and Azurite's) expects those bytes on the wire, and a key with a
# quote, ':', '=', '@', ... is refused (403 AuthorizationFailure) when sent encoded as httpx
# sends it. '/' and '+' stay encoded in the path, '=', '+', '&' and ';' in the query (yarl's
# "protected" characters: they would change the meaning).
_UNRESERVED = string.ascii_letters + string.digits + "-._~"
_PATH_DECODED = frozenset(_UNRESERVED + "!$'()*,&=;@:")
_QUERY_DECODED = frozenset(_UNRESERVED + "!$'()*,?/:@")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")


def _requote(part: str, decoded: frozenset[str]) -> str:
    def one(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        return char if char in decoded else "%" + match.group(1).upper()

    return _ESCAPE.sub(one, part)


def wire_url(url: str) -> str:
    """The URL as aiohttp would send it (see _PATH_DECODED); scheme, host and fragment as given."""
    parts = urlsplit(url)
    return urlunsplit(
        parts._replace(
            path=_requote(parts.path, _PATH_DECODED),
            query=_requote(parts.query, _QUERY_DECODED),
        )
    )


async def _chunks(
    pipeline: Any, response: HttpxTransportResponse, *, decompress: bool = True, **_: Any
) -> AsyncIterator[bytes]:
    internal: httpx.Response = response.internal
    parts = internal.aiter_bytes() if decompress else internal.aiter_raw()
    async for part in parts:
        yield part


class HttpxTransportResponse(AsyncHttpResponseImpl):
    """An azure.core.rest.AsyncHttpResponse over an httpx.Response."""

    def __init__(self, *, request: HttpRequest, internal_response: httpx.Response) -> None:
        headers = CaseInsensitiveDict(internal_response.headers.multi_items())
        super().__init__(
            request=request,
            internal_response=internal_response,
            status_code=internal_response.status_code,
            headers=headers,
            reason=internal_response.reason_phrase,
            content_type=headers.get("content-type"),
            stream_download_generator=_chunks,
        )

    @property
    def internal(self) -> httpx.Response:
        response: httpx.Response = self._internal_response
        return response

    async def close(self) -> None:
        if not self.is_closed:
            self._is_closed = True
            await self.internal.aclose()


def _translate(exc: httpx.HTTPError) -> Exception:
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        return ServiceRequestTimeoutError(str(exc), error=exc)
    if isinstance(exc, httpx.TimeoutException):
        return ServiceResponseTimeoutError(str(exc), error=exc)
    if isinstance(exc, httpx.ConnectError):
        return ServiceRequestError(str(exc), error=exc)
    # Read/write errors and a peer that closed mid-response: the request may have been applied.
    return ServiceResponseError(str(exc), error=exc)


class HttpxTransport(AsyncHttpTransport[HttpRequest, HttpxTransportResponse]):
    """azure-core AsyncHttpTransport on one httpx.AsyncClient (its own connection pool)."""

    def __init__(
        self,
        *,
        connection_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        client: httpx.AsyncClient | None = None,
        verify: bool | str = True,
    ) -> None:
        # `verify`: azure-core's `connection_verify` (True, or a CA bundle path), fixed per
        # transport: one httpx client holds one TLS configuration.
        self._verify = verify
        self._connect_timeout = connection_timeout
        self._read_timeout = read_timeout
        self._client = client
        self._own_client = client is None

    def _session(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            # No redirects (as azure-core's transports), no proxy or .netrc from the environment
            # beyond what httpx reads by default; TLS verification on.
            verify: bool | ssl.SSLContext = self._verify is not False
            if isinstance(self._verify, str):
                verify = ssl.create_default_context(cafile=self._verify)
            self._client = httpx.AsyncClient(follow_redirects=False, verify=verify)
            self._own_client = True
        return self._client

    async def open(self) -> None:
        self._session()

    async def close(self) -> None:
        if self._client is not None and self._own_client:
            await self._client.aclose()
        self._client = None

    async def __aenter__(self) -> HttpxTransport:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.close()

    async def send(
        self, request: HttpRequest, *, stream: bool = False, **config: Any
    ) -> HttpxTransportResponse:
        if not isinstance(request, HttpRequest):
            raise TypeError("HttpxTransport sends azure.core.rest.HttpRequest only")
        if request.files:
            raise ValueError("HttpxTransport does not send multipart files")
        if config.pop("connection_verify", self._verify) != self._verify:
            raise ValueError("HttpxTransport: set connection_verify on the transport")
        connect = config.pop("connection_timeout", self._connect_timeout)
        read = config.pop("read_timeout", self._read_timeout)
        timeout = httpx.Timeout(read, connect=connect)
        client = self._session()
        body = request.content
        outgoing = client.build_request(
            request.method,
            wire_url(request.url),
            headers=list(request.headers.items()),
            content=body if body is not None else None,
            timeout=timeout,
        )
        try:
            internal = await client.send(outgoing, stream=True)
        except httpx.HTTPError as exc:
            raise _translate(exc) from exc
        response = HttpxTransportResponse(request=request, internal_response=internal)
        if not stream:
            try:
                await response.read()
            except httpx.HTTPError as exc:
                await response.close()
                raise _translate(exc) from exc
        return response
