"""The composition root builds the Kaizala pieces without a cycle, over one shared transport."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from shared.config import Settings
from shared.runtime import Runtime
from tests.kaizala_client.fakes import ACCESS, APP_ID, APP_SECRET, REFRESH, FakeKaizala, reply


def _kaizala(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/v1/accessToken":
        expiry = int((time.time() + 24 * 3600) * 1000)
        body = {"accessToken": ACCESS, "endpointUrl": "https://kms2.kaiza.la/", "scope": ""}
        return reply(200, {**body, "accessTokenExpiry": expiry})
    return reply(200, [])


async def test_the_token_manager_fetches_through_the_auth_client_alone(
    env: dict[str, str], tmp_path: Path
) -> None:
    kaizala = FakeKaizala(_kaizala)
    values = {
        **env,
        "KAIZALA_APPLICATION_ID": APP_ID,
        "KAIZALA_APPLICATION_SECRET": APP_SECRET,
        "KAIZALA_REFRESH_TOKEN": REFRESH,
        "LOCAL_SECRETS_PATH": str(tmp_path / "secrets.json"),
    }
    rt = Runtime(Settings.from_env(values), kaizala_transport=httpx.MockTransport(kaizala))
    try:
        token = await rt.tokens.current()

        assert token.endpoint_url == "https://kms2.kaiza.la/"
        assert "kaizala" not in rt.__dict__  # the platform client was not needed for that

        assert await rt.kaizala.list_groups() == []

        assert [str(r.url) for r in kaizala.requests] == [
            "https://api.kaiza.la/v1/accessToken",
            "https://kms2.kaiza.la/v1/groups",
        ]
        assert kaizala.requests[1].headers["accessToken"] == ACCESS
        assert rt.kaizala.limiter is rt.kaizala_http.limiter  # one budget for both clients
    finally:
        await rt.aclose()
