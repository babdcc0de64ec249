"""`make run`'s first webhook sync (devtools/stack_sync.py) against a stand-in host over HTTP:
the PIN line once while not onboarded, health read again only after a login or renewal line,
and one sync as soon as health is `ok`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from devtools.serving import ServerThread, serve
from devtools.stack_sync import FirstSync, stale_secrets_warning


@dataclass
class FakeHost:
    status: str = "warn"
    calls: list[str] = field(default_factory=list)

    async def health(self, request: Request) -> JSONResponse:
        self.calls.append("health")
        return JSONResponse({"status": self.status})

    async def sync(self, request: Request) -> JSONResponse:
        self.calls.append("sync")
        return JSONResponse({"groups": [{"groupId": "g1", "actions": ["created"]}]})


@dataclass
class Ticks:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def host() -> Iterator[tuple[FakeHost, ServerThread]]:
    fake = FakeHost()
    app = Starlette(
        routes=[
            Route("/api/health", fake.health, methods=["GET"]),
            Route("/api/manage/webhooks/sync", fake.sync, methods=["POST"]),
        ]
    )
    with serve(app) as server:
        yield fake, server


def test_pin_line_then_one_sync_after_the_renewal(host: tuple[FakeHost, ServerThread]) -> None:
    fake, server = host
    said: list[str] = []
    ticks = Ticks()
    sync = FirstSync(server.port, 7081, said.append, clock=ticks)
    try:
        sync.poll()
        assert fake.calls == ["health"]
        assert len(said) == 1 and "not onboarded yet" in said[0]
        assert "http://127.0.0.1:7081/_sim/pin?mobileNumber=%2B919100000001" in said[0]
        for _ in range(3):  # time passes, nothing happens: health is not polled
            ticks.now += 10
            sync.poll()
        assert fake.calls == ["health"]

        fake.status = "ok"
        sync.notice("kaizala", "function=renew_kaizala_token trigger=admin ok")  # not the host
        ticks.now += 10
        sync.poll()
        assert fake.calls == ["health"]
        sync.notice("host", "INFO devtools.host: function=renew_kaizala_token trigger=admin ok")
        sync.poll()
        assert fake.calls == ["health", "health", "sync"]
        assert said[-1] == "onboarded; webhook subscriptions synced (g1: created)"
        sync.notice("host", "function=renew_kaizala_token trigger=timer ok")
        ticks.now += 10
        sync.poll()
        assert fake.calls == ["health", "health", "sync"]  # once only
        assert len(said) == 2
    finally:
        sync.close()


def test_a_refresh_token_without_saved_simulator_state_is_pointed_out(tmp_path: Path) -> None:
    state = tmp_path / "state"
    secrets = state / "secrets.json"
    state.mkdir()
    assert stale_secrets_warning(state, secrets) is None  # no secret store yet
    secrets.write_text(json.dumps({"kaizala-application-id": []}), encoding="utf-8")
    assert stale_secrets_warning(state, secrets) is None  # seeded, never onboarded
    secrets.write_text(json.dumps({"kaizala-refresh-token": []}), encoding="utf-8")
    warning = stale_secrets_warning(state, secrets)
    assert warning is not None and "onboard again" in warning
    (state / "kaizala-sim.json").write_text("{}", encoding="utf-8")
    assert stale_secrets_warning(state, secrets) is None  # the simulator has its state
    assert stale_secrets_warning(None, secrets) is None  # in memory: nothing to compare
