"""Fixtures: one simulator and one webhook receiver on loopback for the whole package, reset
before every test so tests stay independent."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from devtools.kaizala_sim import (
    SAMPLE_ADMIN,
    SAMPLE_APPLICATION_ID,
    SAMPLE_APPLICATION_SECRET,
    SimConfig,
    Simulator,
    create_app,
)
from devtools.serving import ServerThread
from tests.conftest import register_secret

# Copies of ../shared/kaizala-api/events (the published payload shapes), so the suite runs from
# any checkout; tests/unit/test_fixtures.py keeps them identical to the originals when present.
EVENTS_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "events"


def sample_event(name: str) -> dict[str, Any]:
    path = EVENTS_DIR / name
    if not path.is_file():
        pytest.fail(f"event sample {path} missing")
    sample: dict[str, Any] = json.loads(path.read_text())
    return sample


# -- simulator ---------------------------------------------------------------------------------
class Sim:
    def __init__(self, server: ServerThread, http: httpx.Client, simulator: Simulator) -> None:
        self.server = server
        self.url = server.url
        self.http = http
        self.simulator = simulator  # in-process view of the running simulator
        self._access: dict[str, tuple[str, str]] = {}

    def control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, f"/_sim/{path}", **kwargs)

    def config(self, **settings: Any) -> dict[str, Any]:
        response = self.control("POST", "config", json=settings)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def refresh_token(self, mobile: str = SAMPLE_ADMIN) -> str:
        response = self.control("POST", "refresh-tokens", json={"mobileNumber": mobile})
        assert response.status_code == 200, response.text
        token: str = response.json()["refreshToken"]
        register_secret(token)
        return token

    def exchange(
        self, refresh_token: str, secret: str = SAMPLE_APPLICATION_SECRET
    ) -> httpx.Response:
        return self.http.get(
            "/v1/accessToken",
            headers={
                "applicationId": SAMPLE_APPLICATION_ID,
                "applicationSecret": secret,
                "refreshToken": refresh_token,
            },
        )

    def access(self, mobile: str = SAMPLE_ADMIN) -> tuple[str, str]:
        """(accessToken, endpointUrl) for a user, cached for the test."""
        if mobile not in self._access:
            response = self.exchange(self.refresh_token(mobile))
            assert response.status_code == 200, response.text
            body = response.json()
            register_secret(body["accessToken"])
            self._access[mobile] = (body["accessToken"], body["endpointUrl"])
        return self._access[mobile]

    def api(
        self, method: str, path: str, *, as_user: str = SAMPLE_ADMIN, **kwargs: Any
    ) -> httpx.Response:
        token, endpoint = self.access(as_user)
        headers = {"accessToken": token, **kwargs.pop("headers", {})}
        return self.http.request(method, f"{endpoint}v1/{path}", headers=headers, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.api(method, path, **kwargs)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_deliveries(self, timeout: float = 10.0) -> None:
        response = self.control("POST", "deliveries/wait", json={"timeoutSeconds": timeout})
        assert response.json()["idle"] is True, response.text

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control("GET", "stats").json()
        return result

    def forget_tokens(self) -> None:
        self._access.clear()


@pytest.fixture(scope="session")
def sim_server() -> Iterator[tuple[ServerThread, httpx.Client, Simulator]]:
    register_secret(SAMPLE_APPLICATION_SECRET)
    app = create_app(SimConfig())
    server = ServerThread(app).start()
    # One client for the session: building an httpx.Client (its TLS context) costs ~0.1 s.
    with httpx.Client(base_url=server.url, timeout=15.0) as http:
        yield server, http, app.state.sim
    server.stop()


@pytest.fixture
def sim(sim_server: tuple[ServerThread, httpx.Client, Simulator]) -> Sim:
    client = Sim(*sim_server)
    assert client.control("POST", "reset").status_code == 200
    return client


# -- webhook receiver --------------------------------------------------------------------------
HOLD_LIMIT_SECONDS = 60.0  # a held answer is given up after this, so a failed test ends


@dataclass
class Plan:
    validation: str = "echo"  # echo | wrong | hold (answer the echo only once released)
    hold_deliveries: bool = False  # answer deliveries only once released
    fail_first: int = 0  # answer fail_status to the first N deliveries
    fail_status: int = 500
    released: threading.Event = field(default_factory=threading.Event)

    async def wait_release(self) -> None:
        await asyncio.to_thread(self.released.wait, HOLD_LIMIT_SECONDS)


@dataclass
class Received:
    name: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float


@dataclass
class Receiver:
    url: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)
    plans: dict[str, Plan] = field(default_factory=dict)
    validations: list[tuple[str, str]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def hook(self, name: str, **plan: Any) -> str:
        with self.lock:
            self.plans[name] = Plan(**plan)
        return f"{self.url}/hook/{name}"

    def events(self, name: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.name == name]

    def release(self, name: str) -> None:
        """Let a held hook answer what it holds, and everything after."""
        self._plan(name).released.set()

    def reset(self) -> None:
        with self.lock:
            for plan in self.plans.values():
                plan.released.set()
            self.plans.clear()
            self.validations.clear()
            self.received.clear()

    def _plan(self, name: str) -> Plan:
        with self.lock:
            return self.plans.get(name, Plan())

    async def validate(self, request: Request) -> Response:
        name = request.path_params["name"]
        token = request.query_params.get("validationToken", "")
        with self.lock:
            self.validations.append((name, token))
        plan = self._plan(name)
        if plan.validation == "hold":
            await plan.wait_release()
        if plan.validation == "wrong":
            return PlainTextResponse(token.replace("+", " "))
        return PlainTextResponse(token)

    async def deliver(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await request.json()
        with self.lock:
            self.received.append(Received(name, dict(request.headers), body, time.monotonic()))
            seen = sum(1 for r in self.received if r.name == name)
            plan = self.plans.get(name, Plan())
        if plan.hold_deliveries:
            await plan.wait_release()
        if seen <= plan.fail_first:
            return JSONResponse({"error": "planned failure"}, status_code=plan.fail_status)
        return JSONResponse({"ok": True})


@pytest.fixture(scope="session")
def receiver_server() -> Iterator[tuple[ServerThread, Receiver]]:
    receiver = Receiver()
    app = Starlette(
        routes=[
            Route("/hook/{name}", receiver.validate, methods=["GET"]),
            Route("/hook/{name}", receiver.deliver, methods=["POST"]),
        ]
    )
    server = ServerThread(app).start()
    receiver.url = server.url
    yield server, receiver
    server.stop()


@pytest.fixture
def receiver(receiver_server: tuple[ServerThread, Receiver]) -> Receiver:
    _, found = receiver_server
    found.reset()
    return found


def wait_for(predicate: Any, timeout: float = 5.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
