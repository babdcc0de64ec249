"""The Dataverse client's configuration, tokens and their redaction."""

from __future__ import annotations

import logging
import time
from typing import Any

import httpx
import pytest
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devtools.dataverse_sim import DEFAULT_TOKEN, SimState
from devtools.serving import ServerThread, serve
from shared.adapters.dataverse import (
    AzureIdentityTokenSource,
    DataverseClient,
    DataversePermanentError,
    DataverseUnavailableError,
    StaticTokenSource,
)
from shared.config import Settings
from shared.errors import ConfigError
from tests.conftest import register_secret
from tests.dataverse.conftest import requests_served, upsert


class CountingCredential:
    """A stand-in for azure.identity.aio credentials: the boundary the token source talks to.

    Hands out `tokens` in turn (the last one again once they run out), each valid `lifetime` s.
    """

    def __init__(self, *tokens: str, lifetime: float = 3600, clock: Any = time.time) -> None:
        self.tokens, self.lifetime, self.clock = list(tokens), lifetime, clock
        self.scopes: list[tuple[str, ...]] = []
        self.closed = False

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        token = self.tokens.pop(0) if len(self.tokens) > 1 else self.tokens[0]
        return AccessToken(token, int(self.clock() + self.lifetime))

    async def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> CountingCredential:
        return self

    async def __aexit__(self, *args: object) -> None:
        await self.close()


class FailingCredential(CountingCredential):
    """A credential that cannot get a token, as DefaultAzureCredential fails without identity."""

    def __init__(self, text: str) -> None:
        super().__init__("unused")
        self.text = text

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.scopes.append(scopes)
        raise ClientAuthenticationError(message=self.text)


def identity_settings(url: str) -> Settings:
    """Settings for managed identity: a Dataverse URL and no static token."""
    return Settings.from_env(
        {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "DATAVERSE_URL": url}
    )


# ---- configuration and tokens ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "source", "setting"),
    [
        ("https://contoso.crm.dynamics.com", "static", "DATAVERSE_STATIC_TOKEN"),
        ("http://10.0.0.5:8080", "static", "DATAVERSE_STATIC_TOKEN"),
        ("http://contoso.crm.dynamics.com", "azure", "DATAVERSE_URL"),
        ("https://contoso.crm.dynamics.com/api/data/v9.2", "azure", "DATAVERSE_URL"),
    ],
)
def test_configuration_is_refused(
    http: httpx.AsyncClient, url: str, source: str, setting: str
) -> None:
    tokens = (
        StaticTokenSource("t") if source == "static" else AzureIdentityTokenSource(_credential())
    )
    with pytest.raises(ConfigError) as caught:
        DataverseClient(http, url, tokens)
    assert caught.value.setting == setting


def _credential() -> Any:
    return CountingCredential("unused")


async def test_azure_identity_token_is_cached_until_five_minutes_before_expiry(
    http: httpx.AsyncClient, sim_server: ServerThread, sim: SimState
) -> None:
    now = [1_000_000.0]
    credential = CountingCredential(DEFAULT_TOKEN, clock=lambda: now[0])
    source = AzureIdentityTokenSource(credential, clock=lambda: now[0])
    client = DataverseClient(http, sim_server.url, source)

    for n in range(3):
        await upsert(client, f"r{n}")
    assert credential.scopes == [(f"{sim_server.url}/.default",)]

    now[0] += 3600 - 301
    await upsert(client, "r3")
    assert len(credential.scopes) == 1
    now[0] += 2  # inside the 5-minute margin
    await upsert(client, "r4")
    assert len(credential.scopes) == 2
    assert len(sim.activities("tasks")) == 5


async def test_from_settings_uses_the_static_token_for_the_simulator(
    http: httpx.AsyncClient, sim_server: ServerThread, sim: SimState
) -> None:
    settings = Settings.from_env(
        {
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "DATAVERSE_URL": sim_server.url,
            "DATAVERSE_STATIC_TOKEN": DEFAULT_TOKEN,
        }
    )
    client = DataverseClient.from_settings(settings, http)

    await upsert(client)
    await client.aclose()

    assert len(sim.activities("tasks")) == 1


async def test_from_settings_sends_the_credentials_token_and_closes_only_its_own(
    http: httpx.AsyncClient, sim_server: ServerThread, sim: SimState
) -> None:
    # No static token: the managed-identity path. The simulator accepts only DEFAULT_TOKEN, so
    # the writes succeed only if the credential's token is the one sent.
    credential = CountingCredential(DEFAULT_TOKEN)
    client = DataverseClient.from_settings(
        identity_settings(sim_server.url), http, credential=credential
    )

    await upsert(client, "r1")
    await upsert(client, "r2")
    await client.aclose()

    assert len(sim.activities("tasks")) == 2
    # One token for both calls (the azure-identity source caches it), for the environment's scope.
    assert credential.scopes == [(f"{sim_server.url}/.default",)]
    assert credential.closed is False  # the caller's credential stays the caller's


async def test_from_settings_without_a_credential_builds_one_with_build_credential(
    http: httpx.AsyncClient,
) -> None:
    client = DataverseClient.from_settings(
        identity_settings("https://contoso.crm.dynamics.com"), http
    )

    assert repr(client._tokens) == "AzureIdentityTokenSource(DefaultAzureCredential)"
    await client.aclose()


async def test_a_401_drops_the_cached_token_and_the_next_call_gets_a_new_one(
    http: httpx.AsyncClient, sim_server: ServerThread, sim: SimState
) -> None:
    stale = "revoked-token-value-7"
    register_secret(stale)
    credential = CountingCredential(stale, DEFAULT_TOKEN)  # each valid for an hour
    client = DataverseClient(http, sim_server.url, AzureIdentityTokenSource(credential))

    with pytest.raises(DataverseUnavailableError, match="401"):
        await upsert(client, "r1")
    assert len(credential.scopes) == 1  # a 401 is not repeated in-call with the same token

    await upsert(client, "r2")  # without the drop, the cached stale token would go again

    assert len(credential.scopes) == 2
    assert sim.stats()["byMethodStatus"] == {"PATCH 401": 1, "PATCH 204": 1}
    assert stale not in str(sim.stats())


async def test_a_failing_credential_is_a_typed_error_without_its_text(
    http: httpx.AsyncClient, sim_server: ServerThread, sim: SimState
) -> None:
    secret = "client-assertion-secret-9f3b"
    register_secret(secret)
    credential = FailingCredential(f"ManagedIdentityCredential failed; assertion={secret}")
    client = DataverseClient(http, sim_server.url, AzureIdentityTokenSource(credential))

    with pytest.raises(DataverseUnavailableError) as caught:
        await upsert(client)

    error = caught.value
    assert str(error) == "Could not get a Dataverse token (ClientAuthenticationError)."
    assert (error.status, error.problem()["type"].rsplit("/", 1)[1]) == (
        503,
        "dataverse-unavailable",
    )
    for text in (str(error), repr(error), str(error.problem()), str(error.headers())):
        assert secret not in text
    assert requests_served(sim) == 0  # no token, no request


async def test_token_never_appears_in_errors_or_logs(
    http: httpx.AsyncClient, sim_server: ServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cret-static-token-value"
    register_secret(secret)  # the suite-wide log scan checks it too
    wrong = DataverseClient(http, sim_server.url, StaticTokenSource(secret))

    # 401 is retried later by the inbox (the token may have been revoked), so it is transient
    with pytest.raises(DataverseUnavailableError) as unauthorized:
        await upsert(wrong)

    assert "401" in str(unauthorized.value)
    for text in (
        str(unauthorized.value),
        repr(unauthorized.value),
        caplog.text,
        repr(wrong._tokens),
    ):
        assert secret not in text


async def test_token_echoed_by_the_server_is_redacted(http: httpx.AsyncClient) -> None:
    secret = "echoed-token-value-42"
    register_secret(secret)

    async def echo(request: Request) -> JSONResponse:
        authorization = request.headers.get("authorization", "")
        message = f"Principal with {authorization} lacks a role (as Bearer other-caller-tok)"
        error = {"code": "0x80040220", "message": message}
        return JSONResponse({"error": error}, status_code=403)

    echo_app = Starlette(routes=[Route("/api/data/v9.2/{path:path}", echo, methods=["PATCH"])])
    with serve(echo_app) as server:
        client = DataverseClient(http, server.url, StaticTokenSource(secret))
        with pytest.raises(DataversePermanentError) as caught:
            await upsert(client)

    assert caught.value.upstream_status == 403
    assert "lacks a role" in str(caught.value)
    assert "Bearer ***" in str(caught.value)
    assert secret not in str(caught.value)
    assert "other-caller-tok" not in str(caught.value)  # any bearer token, not only ours
    assert secret not in str(caught.value.problem())
