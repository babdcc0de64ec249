"""The bridge wired to the Kaizala simulator over real HTTP, with Azurite tables."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.kaizala_sim import (
    SAMPLE_APPLICATION_ID,
    SAMPLE_APPLICATION_SECRET,
    SimConfig,
    create_app,
)
from devtools.serving import ServerThread
from shared.runtime import Runtime
from tests.conftest import register_secret

SAMPLE_GROUP = "8c291050-9be8-45d6-97f5-bb7013930027"
OPPORTUNITY = "b5e7c3a0-3f1d-4c2b-9a8e-7d6f5e4c3b2a"


class KaizalaSim:
    """Control-API access to a simulator on loopback (a test's view of 'Kaizala')."""

    def __init__(self, server: ServerThread) -> None:
        self.server = server
        self.url = server.url
        self.http = httpx.Client(base_url=server.url, timeout=15.0)

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, f"/_sim/{path}", **kwargs)
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def config(self, **settings: Any) -> Any:
        return self.control("POST", "config", json=settings)

    def refresh_token(self) -> str:
        token: str = self.control("POST", "refresh-tokens", json={})["refreshToken"]
        register_secret(token)
        return token

    def state(self) -> Any:
        return self.control("GET", "state")

    def stats(self) -> Any:
        return self.control("GET", "stats")

    def calls(self, path_contains: str = "", method: str | None = None) -> list[dict[str, Any]]:
        calls = self.control("GET", "calls")
        items = calls["calls"] if isinstance(calls, dict) else calls
        return [
            c
            for c in items
            if path_contains in c["path"] and (method is None or c["method"] == method)
        ]

    def register_issued_secrets(self) -> None:
        """Every token the simulator issued, for the suite's secrets-in-logs scan."""
        state = self.server.server.config.app.state.sim.state
        for value in [*state.refresh_tokens, *state.access_tokens]:
            register_secret(value)
        for hook in state.webhooks.values():
            register_secret(getattr(hook, "callback_token", None))


@pytest.fixture
def kaizala() -> Iterator[KaizalaSim]:
    server = ServerThread(create_app(SimConfig())).start()
    sim = KaizalaSim(server)
    try:
        yield sim
    finally:
        sim.register_issued_secrets()
        sim.http.close()
        server.stop()


def bridge_env(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path, **extra: str
) -> dict[str, str]:
    register_secret(SAMPLE_APPLICATION_SECRET)
    return {
        **env,
        "KAIZALA_API_ROOT": f"{kaizala.url}/v1",
        "KAIZALA_ALLOWED_HOSTS": "*.kaiza.la,127.0.0.1",
        "KAIZALA_APPLICATION_ID": SAMPLE_APPLICATION_ID,
        "KAIZALA_APPLICATION_SECRET": SAMPLE_APPLICATION_SECRET,
        "KAIZALA_REFRESH_TOKEN": kaizala.refresh_token(),
        "LOCAL_SECRETS_PATH": str(tmp_path / "secrets.json"),
        "OPPORTUNITY_SURVEY_GROUP_ID": SAMPLE_GROUP,
        "WEBHOOK_CALLBACK_URL": "http://127.0.0.1:9/api/kaizala/webhook",
        **extra,
    }


@pytest.fixture
async def bridge(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path
) -> AsyncIterator[Runtime]:
    from tests.conftest import installed_runtime

    async with installed_runtime(bridge_env(env, kaizala, tmp_path)) as rt:
        yield rt
