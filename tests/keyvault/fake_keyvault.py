"""An HTTPS fake of the Azure Key Vault secrets data plane, for the Key Vault store tests.

There is no Key Vault emulator. This fake implements the subset of the REST API
(learn.microsoft.com/rest/api/keyvault/secrets) that azure-keyvault-secrets uses for
`set_secret`, `get_secret` and `list_properties_of_secret_versions`:

- `PUT /secrets/{name}`: Set Secret. Body `{value, contentType?, tags?, attributes?}`; every PUT
  creates a new version; answers a SecretBundle.
- `GET /secrets/{name}[/{version}]`: Get Secret (the SDK asks for `/secrets/{name}/` for the
  current version); 404 `{"error": {"code": "SecretNotFound"}}` when absent.
- `GET /secrets/{name}/versions`: Get Secret Versions, `{"value": [SecretItem], "nextLink"}`,
  `maxresults` 1..25 (default 25), further pages through a `$skiptoken` in `nextLink`.

As the service does:
- the `api-version` query parameter is required (400 `BadParameter` otherwise);
- a request without `Authorization: Bearer <token>` gets 401 with the challenge
  `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
  resource="https://vault.azure.net"`. Only the one token the fake was given is accepted; any
  other token gets the same 401;
- ids are `https://<host>/secrets/<name>/<version>` with a 32-hex-digit version; `created` and
  `updated` are whole epoch seconds (so versions set within one second tie);
- list items carry no values, and the list is not newest-first (the service documents no order;
  this fake lists oldest first), so a client has to order versions itself.

For tests: every request is recorded (`requests`, `count()`), `fail_next()` answers the next N
requests with 503 and `Retry-After`, `clock` is the service's notion of now, `reset()` forgets
everything. Secret values are never logged and never appear in error bodies.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import ipaddress
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from azure.core.credentials import AccessToken
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devtools.serving import ServerThread

# The versions azure-keyvault-secrets 4.12 knows (its default is 2026-04-01).
API_VERSIONS = frozenset(
    {"2016-10-01", "7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01", "2026-04-01"}
)
VAULT_RESOURCE = "https://vault.azure.net"
VAULT_SCOPE = VAULT_RESOURCE + "/.default"
_NAME = re.compile(r"^[0-9a-zA-Z-]{1,127}$")
MAX_TAGS = 15
MAX_PAGE = 25


@dataclass(frozen=True)
class StoredVersion:
    version: str
    value: str = field(repr=False)
    content_type: str | None
    tags: dict[str, str]
    enabled: bool
    created: int
    updated: int


@dataclass(frozen=True)
class Seen:
    """One request as the fake saw it (never the body or the token)."""

    method: str
    op: str  # "set", "get", "versions"
    name: str
    version: str | None
    status: int
    authorized: bool  # carried exactly `Bearer <the fake's token>`
    has_authorization: bool  # carried any Authorization header
    body_length: int
    query: dict[str, str]


@dataclass
class _Fault:
    remaining: int
    status: int
    retry_after: int


class FakeKeyVault:
    def __init__(self, token: str, tenant_id: str) -> None:
        self.token = token
        self.tenant_id = tenant_id
        self._lock = threading.Lock()
        self.clock: Callable[[], float] = time.time
        self._secrets: dict[str, list[StoredVersion]] = {}
        self._requests: list[Seen] = []
        self._fault: _Fault | None = None
        self.app = Starlette(
            routes=[
                Route("/secrets/{name}/versions", self._versions, methods=["GET"]),
                Route("/secrets/{name}", self._set, methods=["PUT"]),
                Route("/secrets/{name}", self._get, methods=["GET"]),
                Route("/secrets/{name}/", self._get, methods=["GET"]),
                Route("/secrets/{name}/{version}", self._get, methods=["GET"]),
            ]
        )

    # --- test controls ----------------------------------------------------------------------

    @property
    def challenge(self) -> str:
        return (
            f'Bearer authorization="https://login.microsoftonline.com/{self.tenant_id}", '
            f'resource="{VAULT_RESOURCE}"'
        )

    def reset(self) -> None:
        with self._lock:
            self.clock = time.time
            self._secrets = {}
            self._requests = []
            self._fault = None

    def fail_next(self, count: int, status: int = 503, retry_after: int = 1) -> None:
        """Answer the next `count` requests (any route, before auth) with `status`."""
        with self._lock:
            self._fault = _Fault(count, status, retry_after) if count > 0 else None

    @property
    def requests(self) -> list[Seen]:
        with self._lock:
            return list(self._requests)

    def count(
        self,
        op: str | None = None,
        name: str | None = None,
        *,
        status: int | None = None,
        authorized: bool | None = None,
    ) -> int:
        return sum(
            1
            for r in self.requests
            if (op is None or r.op == op)
            and (name is None or r.name == name)
            and (status is None or r.status == status)
            and (authorized is None or r.authorized == authorized)
        )

    def history(self, name: str) -> list[StoredVersion]:
        """All versions of a secret as stored, oldest first (server-side truth for asserts)."""
        with self._lock:
            return list(self._secrets.get(name, []))

    def current(self, name: str) -> StoredVersion | None:
        versions = self.history(name)
        return versions[-1] if versions else None

    # --- HTTP -------------------------------------------------------------------------------

    async def _set(self, request: Request) -> JSONResponse:
        return await self._handle(request, "set", self._do_set)

    async def _get(self, request: Request) -> JSONResponse:
        return await self._handle(request, "get", self._do_get)

    async def _versions(self, request: Request) -> JSONResponse:
        return await self._handle(request, "versions", self._do_versions)

    async def _handle(
        self,
        request: Request,
        op: str,
        handler: Callable[[Request, str, str | None, bytes], JSONResponse],
    ) -> JSONResponse:
        name = request.path_params["name"]
        version = request.path_params.get("version") or None
        body = await request.body()
        header = request.headers.get("authorization")
        authorized = header == f"Bearer {self.token}"
        with self._lock:
            fault = self._fault
            if fault is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._fault = None
            if fault is not None:
                response = _error(
                    fault.status,
                    "ServiceUnavailable",
                    "The service is temporarily unavailable.",
                    {"Retry-After": str(fault.retry_after)},
                )
            elif not authorized:
                message = (
                    "AKV10000: Request is missing a Bearer or PoP token."
                    if header is None
                    else "AKV10032: Invalid token."
                )
                response = _error(
                    401, "Unauthorized", message, {"WWW-Authenticate": self.challenge}
                )
            elif request.query_params.get("api-version") not in API_VERSIONS:
                response = _error(
                    400,
                    "BadParameter",
                    "The request URI contains an invalid or missing api-version query "
                    f"parameter (supported: {', '.join(sorted(API_VERSIONS))}).",
                )
            elif not _NAME.match(name):
                response = _error(
                    400, "BadParameter", "Secret name must match ^[0-9a-zA-Z-]{1,127}$."
                )
            else:
                response = handler(request, name, version, body)
            self._requests.append(
                Seen(
                    request.method,
                    op,
                    name,
                    version,
                    response.status_code,
                    authorized,
                    header is not None,
                    len(body),
                    dict(request.query_params),
                )
            )
        return response

    def _do_set(self, request: Request, name: str, _: str | None, body: bytes) -> JSONResponse:
        try:
            data = json.loads(body)
        except ValueError:
            return _error(400, "BadParameter", "The request body is not valid JSON.")
        if not isinstance(data, dict) or not isinstance(data.get("value"), str):
            return _error(400, "BadParameter", "Property 'value' (a string) is required.")
        tags = data.get("tags") or {}
        if not isinstance(tags, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
        ):
            return _error(400, "BadParameter", "Tags must be an object of string values.")
        if len(tags) > MAX_TAGS:
            return _error(400, "BadParameter", f"A secret may have at most {MAX_TAGS} tags.")
        content_type = data.get("contentType")
        if content_type is not None and not isinstance(content_type, str):
            return _error(400, "BadParameter", "Property 'contentType' must be a string.")
        attributes = data.get("attributes") or {}
        now = int(self.clock())
        stored = StoredVersion(
            version=uuid.uuid4().hex,
            value=data["value"],
            content_type=content_type,
            tags=dict(tags),
            enabled=attributes.get("enabled", True) is not False,
            created=now,
            updated=now,
        )
        self._secrets.setdefault(name, []).append(stored)
        return JSONResponse(_bundle(_base(request), name, stored, with_value=True))

    def _do_get(self, request: Request, name: str, version: str | None, _: bytes) -> JSONResponse:
        versions = self._secrets.get(name, [])
        if version is None:
            found = versions[-1] if versions else None
        else:
            found = next((v for v in versions if v.version == version), None)
        if found is None:
            shown = name if version is None else f"{name}/{version}"
            return _error(
                404,
                "SecretNotFound",
                f"A secret with (name/id) {shown} was not found in this key vault.",
            )
        if not found.enabled:
            return _error(403, "Forbidden", "Operation get is not allowed on a disabled secret.")
        return JSONResponse(_bundle(_base(request), name, found, with_value=True))

    def _do_versions(self, request: Request, name: str, _: str | None, __: bytes) -> JSONResponse:
        try:
            page_size = int(request.query_params.get("maxresults", MAX_PAGE))
        except ValueError:
            page_size = 0
        if not 1 <= page_size <= MAX_PAGE:
            return _error(400, "BadParameter", f"maxresults must be between 1 and {MAX_PAGE}.")
        skiptoken = request.query_params.get("$skiptoken")
        offset = 0
        if skiptoken is not None:
            try:
                offset = int(json.loads(base64.urlsafe_b64decode(skiptoken))["offset"])
            except (ValueError, KeyError, TypeError, binascii.Error):
                return _error(400, "BadParameter", "The $skiptoken is invalid.")
        versions = self._secrets.get(name, [])
        page = versions[offset : offset + page_size]
        base = _base(request)
        next_link = None
        if offset + page_size < len(versions):
            token = base64.urlsafe_b64encode(
                json.dumps({"offset": offset + page_size}).encode()
            ).decode()
            query = urlencode(
                {
                    "api-version": request.query_params["api-version"],
                    "$skiptoken": token,
                    "maxresults": page_size,
                }
            )
            next_link = f"{base}/secrets/{name}/versions?{query}"
        return JSONResponse(
            {
                "value": [_bundle(base, name, v, with_value=False) for v in page],
                "nextLink": next_link,
            }
        )


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _bundle(base: str, name: str, v: StoredVersion, *, with_value: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": f"{base}/secrets/{name}/{v.version}",
        "attributes": {
            "enabled": v.enabled,
            "created": v.created,
            "updated": v.updated,
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": 90,
        },
    }
    if with_value:
        data["value"] = v.value
    if v.content_type is not None:
        data["contentType"] = v.content_type
    if v.tags:
        data["tags"] = dict(v.tags)
    return data


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status, headers)


# --- the credential side ----------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRequest:
    scopes: tuple[str, ...]
    tenant_id: str | None
    claims: str | None


class FakeCredential:
    """An AsyncTokenCredential that hands out one fixed token and records each request."""

    def __init__(self, token: str, lifetime_s: int = 3600) -> None:
        self._token = token
        self._lifetime_s = lifetime_s
        self.calls: list[TokenRequest] = []
        self.closed = False

    def __repr__(self) -> str:
        return f"FakeCredential(calls={len(self.calls)})"

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        self.calls.append(TokenRequest(tuple(scopes), tenant_id, claims))
        return AccessToken(self._token, int(time.time()) + self._lifetime_s)

    async def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> FakeCredential:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.close()


# --- TLS --------------------------------------------------------------------------------------


def write_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A P-256 self-signed certificate for 127.0.0.1 and localhost; returns (cert, key) paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / "cert.pem"
    key_path = directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.touch(mode=0o600)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def https_server(app: Any, certfile: Path, keyfile: Path) -> ServerThread:
    return ServerThread(app, lifespan="off", ssl_certfile=str(certfile), ssl_keyfile=str(keyfile))


@contextlib.contextmanager
def serve_https(app: Any, certfile: Path, keyfile: Path) -> Iterator[ServerThread]:
    server = https_server(app, certfile, keyfile).start()
    try:
        yield server
    finally:
        server.stop()
