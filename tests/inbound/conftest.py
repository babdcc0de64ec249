"""The inbound half wired to Azurite and the Dataverse simulator over real HTTP.

Helpers build webhook events from the published samples (copied to `events/`), insert the
outbound half's `actionindex` rows, and post events through the real function objects.
`DataverseGate` sits at the HTTP boundary of the bridge's Dataverse client: every request goes
to the simulator for real, and a test can hold one until it says so, or act just before it
(a concurrent writer, a user deleting the activity), so interleavings are exact, not timed.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from devtools.dataverse_sim import DEFAULT_TOKEN, SimState
from devtools.serving import ServerThread
from shared.adapters.dataverse import DataverseClient, build_http_client
from shared.adapters.tables import Entity, TableStore
from shared.runtime import Runtime
from shared.stores.inbox import InboxStore
from tests.conftest import installed_runtime, register_secret
from tests.support import call, request

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"
CONTOSO = "b5e7c3a0-3f1d-4c2b-9a8e-7d6f5e4c3b2a"
UNKNOWN_OPPORTUNITY = "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"
SURVEY_TITLE = "Qualify the Contoso deal"


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return data


SAMPLE_RESPONSE_TIME = 1521800782956  # the sample's hidden ResponseTime (epoch ms)


def survey_event(
    action_id: str,
    *,
    response_id: str | None = None,
    event_id: str | None = None,
    response_time: int | None = None,
    **data: Any,
) -> dict[str, Any]:
    """The published SurveyResponse sample with fresh ids (and `data` overrides).

    `response_time` replaces the answer of the hidden ResponseTime question (when the member
    answered, epoch ms): an edit carries a later one than the answer it edits.
    """
    event = copy.deepcopy(sample("survey_response"))
    event["eventId"] = event_id or str(uuid.uuid4())
    event["data"].update(
        {"actionId": action_id, "responseId": response_id or str(uuid.uuid4()), **data}
    )
    if response_time is not None:
        hidden = [
            q
            for q in event["data"]["responseDetails"]["responseWithQuestions"]
            if q.get("isInvisible") and q.get("title") == "ResponseTime"
        ]
        assert len(hidden) == 1
        hidden[0]["answer"] = response_time
    return event


def edit_of(original: dict[str, Any], action_id: str, response_time: int) -> dict[str, Any]:
    """An edit of `original` (same responseId, new eventId) answered at `response_time`."""
    edit = survey_event(
        action_id,
        response_id=original["data"]["responseId"],
        isUpdateResponse=True,
        response_time=response_time,
    )
    questions = edit["data"]["responseDetails"]["responseWithQuestions"]
    questions[0]["answer"] = "Unlikely"
    questions[1]["answer"] = 90000
    return edit


def assert_holds_the_edit(task: dict[str, Any], edit: dict[str, Any], answered: int) -> None:
    description = task["description"]
    assert "quarter?\n   Unlikely" in description
    assert "(USD)\n   90000" in description
    assert "125000" not in description
    assert f"Event id: {edit['eventId']}" in description
    assert description.endswith(f"\nKaizala answer time: {answered}")


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode("utf-8")


@pytest.fixture
def sim(dv_app: Starlette, dv_server: ServerThread) -> SimState:
    state: SimState = dv_app.state.sim
    state.reset()
    return state


@pytest.fixture
def inbound_env(
    env: dict[str, str], tmp_path: Path, dv_server: ServerThread, sim: SimState
) -> dict[str, str]:
    register_secret(DEFAULT_TOKEN)
    return {
        **env,
        "DATAVERSE_URL": dv_server.url,
        "DATAVERSE_STATIC_TOKEN": DEFAULT_TOKEN,
        # Never the repository's .local/: each test has its own secret store.
        "LOCAL_SECRETS_PATH": str(tmp_path / "secrets.json"),
    }


class Clock:
    """A settable wall clock (epoch seconds), starting at the real time."""

    def __init__(self, now: float | None = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    """The clock of the test's runtime (webhook, timer, replay): tests move it past back-offs."""
    return Clock()


@pytest.fixture
async def rt(inbound_env: dict[str, str], clock: Clock) -> AsyncIterator[Runtime]:
    async with installed_runtime(inbound_env, clock=clock) as runtime:
        yield runtime


@pytest.fixture
async def token(rt: Runtime) -> str:
    value = await rt.callbacks.ensure()
    register_secret(value)
    return value


Hook = Callable[[httpx.Request], Awaitable[None]]


class Hold:
    """One request held at the boundary: `reached` once it arrives, sent on `release()`."""

    def __init__(self) -> None:
        self.reached = asyncio.Event()
        self._released = asyncio.Event()

    def release(self) -> None:
        self._released.set()

    async def __call__(self, request: httpx.Request) -> None:
        self.reached.set()
        await self._released.wait()


class DataverseGate(httpx.AsyncBaseTransport):
    """Real HTTP to the simulator; records each exchange and runs hooks before chosen requests.

    `sent` holds `(method, condition, status)`: condition is `create` (If-None-Match: *),
    `if-match` (If-Match: <etag>) or "" (none).
    """

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.sent: list[tuple[str, str, int]] = []
        self._hooks: list[tuple[str, str, int | None, Hook]] = []
        self._seen: dict[tuple[str, str], int] = {}

    def before(self, method: str, condition: str, hook: Hook, *, nth: int | None = None) -> None:
        """Run `hook` before the nth (1-based; None: every) request of `method`, `condition`."""
        self._hooks.append((method, condition, nth, hook))

    def hold(self, method: str, condition: str, nth: int = 1) -> Hold:
        held = Hold()
        self.before(method, condition, held, nth=nth)
        return held

    def clear(self) -> None:
        self._hooks.clear()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        condition = (
            "create"
            if request.headers.get("If-None-Match") == "*"
            else "if-match"
            if "If-Match" in request.headers
            else ""
        )
        key = (request.method, condition)
        self._seen[key] = self._seen.get(key, 0) + 1
        for method, wanted, nth, hook in self._hooks:
            if (method, wanted) == key and nth in (None, self._seen[key]):
                await hook(request)
        response = await self._inner.handle_async_request(request)
        self.sent.append((request.method, condition, response.status_code))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
async def gate(rt: Runtime) -> AsyncIterator[DataverseGate]:
    """The runtime's inbound half writes to Dataverse through a gate (set before first use)."""
    transport = DataverseGate()
    http = build_http_client(transport)
    client = DataverseClient.from_settings(rt.settings, http)
    rt.inbound.dataverse = lambda: client
    try:
        yield transport
    finally:
        await client.aclose()
        await http.aclose()


async def correlate(
    tables: TableStore,
    action_id: str,
    *,
    regarding_id: str = CONTOSO,
    regarding_entity: str = "opportunity",
    title: str = SURVEY_TITLE,
    action_type: str = "Survey",
) -> str:
    """The outbound half's `actionindex` row for an action; returns the correlation id."""
    correlation_id = str(uuid.uuid4())
    inserted = await tables.insert(
        "actionindex",
        {
            "PartitionKey": action_id,
            "RowKey": "c",
            "correlationId": correlation_id,
            "groupId": "8c291050-9be8-45d6-97f5-bb7013930027",
            "regardingEntity": regarding_entity,
            "regardingId": regarding_id,
            "regardingName": "Contoso – 500 laptops",
            "title": title,
            "actionType": action_type,
        },
    )
    assert inserted
    return correlation_id


async def post_event(
    body: bytes | dict[str, Any], token: str | None, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    raw = encode(body) if isinstance(body, dict) else body
    all_headers = {"content-type": "application/json", **(headers or {})}
    if token is not None:
        all_headers["kz-callback-token"] = token
    return await call(
        "kaizala_webhook", request("POST", "/api/kaizala/webhook", body=raw, headers=all_headers)
    )


async def rows(tables: TableStore) -> list[Entity]:
    return await InboxStore(tables).rows()


async def row_of(tables: TableStore, event_id: str) -> Entity:
    found = [r for r in await rows(tables) if r["eventId"] == event_id]
    assert len(found) == 1, found
    return found[0]


def sim_tasks(sim: SimState) -> list[dict[str, Any]]:
    return sim.activities("tasks")


def sim_control(server: ServerThread, method: str, path: str, **kwargs: Any) -> httpx.Response:
    response = httpx.request(method, f"{server.url}/_sim/{path}", timeout=10, **kwargs)
    assert response.status_code < 300, response.text
    return response


# ---- the forward sink ----------------------------------------------------------------------

SIGNATURE = "sig-value-kept-secret"


class Receiver:
    """A tiny forward sink on loopback: records JSON bodies, fails while `fail` is set."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.fail = False
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, req: Request) -> Response:
        if req.query_params.get("sig") != SIGNATURE:
            return JSONResponse({"error": "bad signature"}, status_code=401)
        if self.fail:
            return JSONResponse({"error": "down"}, status_code=500)
        self.received.append(json.loads(await req.body()))
        return Response(status_code=202)


def signed_url(server_url: str) -> str:
    """The sink's URL as Power Automate gives it: signed in the query string (a secret)."""
    url = f"{server_url}/hook?api-version=1&sig={SIGNATURE}"
    register_secret(url)
    register_secret(SIGNATURE)
    return url


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    sink = Receiver()
    server = ServerThread(sink.app).start()
    try:
        yield sink, signed_url(server.url)
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def forwarding_runtime(
    inbound_env: dict[str, str], url: str, clock: Clock
) -> AsyncIterator[tuple[Runtime, str]]:
    """An installed runtime that forwards to `url`, and a valid callback token."""
    values = {**inbound_env, "RESPONSE_FORWARD_URL": url}
    async with installed_runtime(values, clock=clock) as runtime:
        value = await runtime.callbacks.ensure()
        register_secret(value)
        yield runtime, value


@pytest.fixture
async def forwarding_rt(
    inbound_env: dict[str, str], receiver: tuple[Receiver, str], clock: Clock
) -> AsyncIterator[tuple[Runtime, str]]:
    async with forwarding_runtime(inbound_env, receiver[1], clock) as pair:
        yield pair
