"""The client against the simulator over real HTTP on loopback, every request recorded as it
went on the wire (a pass-through transport: nothing is faked, the recorder only keeps a copy)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import replace
from typing import Any, TypeVar

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from devtools.kaizala_sim import (
    SAMPLE_APPLICATION_ID,
    SAMPLE_APPLICATION_SECRET,
    SAMPLE_GROUP_ID,
    SimConfig,
    Simulator,
    create_app,
)
from devtools.serving import ServerThread
from shared.adapters.kaizala import (
    AccessToken,
    KaizalaAuthClient,
    KaizalaClient,
    KaizalaTransport,
    Option,
    RateLimiter,
    SurveyBody,
    SurveyQuestion,
    WebhookCreate,
    build_http_client,
)
from tests.conftest import register_secret
from tests.contract.swagger import Sent

T = TypeVar("T")
CALLBACK_TOKEN = "contract-callback-token-6021"
register_secret(CALLBACK_TOKEN)
_numbers = itertools.count(100)


def new_number() -> str:
    """A phone number not used before in this module (Kaizala creates its user on first use)."""
    return f"+91920000{next(_numbers):04d}"


class Recorder(httpx.AsyncBaseTransport):
    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.sent: list[Sent] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        content = await request.aread()
        response = await self._inner.handle_async_request(request)
        answer = await response.aread()
        await response.aclose()
        status = response.status_code
        sent = Sent(request.method, request.url, request.headers, content, status, answer)
        self.sent.append(sent)
        return httpx.Response(status, headers=response.headers, content=answer, request=request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class SimTokens:
    """An AccessTokenProvider over the simulator's token service (the real token manager needs
    storage; the bridge-level tests use it)."""

    def __init__(self, auth: KaizalaAuthClient, refresh_token: str) -> None:
        self._auth = auth
        self._refresh_token = refresh_token
        self.token: AccessToken | None = None

    async def current(self) -> AccessToken:
        if self.token is None:
            answer = await self._auth.fetch_access_token(
                SAMPLE_APPLICATION_ID, SAMPLE_APPLICATION_SECRET, self._refresh_token
            )
            register_secret(answer.accessToken)
            token = answer.to_access_token()
            self.token = replace(token, application_id=SAMPLE_APPLICATION_ID)
        return self.token

    async def refresh(self, rejected: AccessToken) -> AccessToken:
        if self.token == rejected:
            self.token = None
        return await self.current()

    async def endpoint_moved(self, token: AccessToken, new_endpoint_url: str) -> AccessToken:
        self.token = replace(token, endpoint_url=new_endpoint_url)
        return self.token


class World:
    """The client, the simulator behind it, and helpers that make what an operation needs."""

    def __init__(self, sim: ServerThread, receiver: ServerThread) -> None:
        self.sim_url = sim.url
        self.simulator: Simulator = sim.server.config.app.state.sim  # type: ignore[union-attr]
        self.receiver_url = receiver.url
        self.control = httpx.Client(base_url=sim.url, timeout=15.0)
        self.recorder = Recorder()
        limiter = RateLimiter(10_000, 60)
        transport = KaizalaTransport(
            build_http_client(self.recorder), f"{sim.url}/v1", ("127.0.0.1",), limiter
        )
        self.auth = KaizalaAuthClient(transport)
        refresh = self.control.post("/_sim/refresh-tokens", json={}).json()["refreshToken"]
        register_secret(refresh)
        self.refresh_token = refresh
        self.tokens = SimTokens(self.auth, refresh)
        self.client = KaizalaClient(transport, self.tokens, auth=self.auth)
        self.group = SAMPLE_GROUP_ID

    async def record(self, call: Awaitable[T]) -> tuple[T, Sent]:
        """Run the call and return its result with the one request it sent."""
        await self.tokens.current()  # fetched (and recorded) before, not in, the call
        mark = len(self.recorder.sent)
        result = await call
        sent = self.recorder.sent[mark:]
        assert len(sent) == 1, [f"{s.method} {s.url.path} {s.status}" for s in sent]
        return result, sent[0]

    async def aclose(self) -> None:
        await self.client.aclose()
        self.control.close()

    # -- what operations need -----------------------------------------------------------------
    async def new_group(self, group_type: str = "Group") -> str:
        created = await self.client.create_group(
            f"Contract {next(_numbers)}",
            members=[new_number()],
            group_type=group_type,  # type: ignore[arg-type]
        )
        return created.groupId

    async def public_group(self) -> tuple[str, str]:
        """A ConnectGroup with one subscriber: (group id, subscriber number)."""
        group = await self.new_group("ConnectGroup")
        subscriber = new_number()
        await self.client.add_subscribers(group, [subscriber])
        return group, subscriber

    async def survey(self, *, location_only: bool = False) -> str:
        questions = [SurveyQuestion(title="Where are you?", type="Location")]
        if not location_only:
            questions.insert(
                0,
                SurveyQuestion(
                    title="Likely?",
                    type="SingleOption",
                    options=[Option(title="Yes"), Option(title="No")],
                ),
            )
        body = SurveyBody(title="Deal check", questions=questions)
        sent = await self.client.send_action(self.group, action_type="Survey", action_body=body)
        return sent.actionId

    async def poll(self) -> str:
        body = {"question": "Demo day?", "choices": [{"title": "Yes"}, {"title": "No"}]}
        sent = await self.client.send_action(self.group, action_type="Poll", action_body=body)
        return sent.actionId

    def webhook(self, **changes: Any) -> WebhookCreate:
        values: dict[str, Any] = {
            "objectId": self.group,
            "objectType": "Group",
            "eventTypes": ["SurveyResponse", "ActionResponse"],
            "callBackUrl": f"{self.receiver_url}/hook",
            "callBackToken": CALLBACK_TOKEN,
            "callBackContext": "contract",
            **changes,
        }
        return WebhookCreate(**values)

    def register_issued_secrets(self) -> None:
        state = self.simulator.state
        for value in [*state.refresh_tokens, *state.access_tokens]:
            register_secret(value)


async def _echo(request: Request) -> Response:
    return PlainTextResponse(request.query_params.get("validationToken", ""))


async def _wrong_echo(request: Request) -> Response:
    return PlainTextResponse("not the token")


async def _accept(request: Request) -> Response:
    await request.body()
    return JSONResponse({"ok": True})


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[ServerThread, ServerThread]]:
    register_secret(SAMPLE_APPLICATION_SECRET)
    # Throttle limits far above what the module sends: the throttle has its own test.
    config = SimConfig(connector_limit_per_window=100_000, tenant_limit_per_window=100_000)
    sim = ServerThread(create_app(config)).start()
    receiver_app = Starlette(
        routes=[
            Route("/hook", _echo, methods=["GET"]),
            Route("/hook", _accept, methods=["POST"]),
            Route("/wrong-echo", _wrong_echo, methods=["GET"]),
        ]
    )
    receiver = ServerThread(receiver_app).start()
    yield sim, receiver
    receiver.stop()
    sim.stop()


@pytest.fixture(scope="module")
async def world(servers: tuple[ServerThread, ServerThread]) -> AsyncIterator[World]:
    found = World(*servers)
    try:
        yield found
    finally:
        found.register_issued_secrets()
        await found.aclose()
