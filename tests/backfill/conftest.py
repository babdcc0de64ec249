"""The backfill wired to Azurite, the Kaizala simulator and the Dataverse simulator over HTTP.

Kaizala's deliveries are watched by a witness: a second subscription on the group, to a small
receiver on loopback, that records every event Kaizala sends (the bridge's own subscription is
deleted, so the bridge gets none). "The webhook delivers them afterwards" is then those very
events, Kaizala's own payloads and event ids, posted to the bridge's real webhook function
with its callback token, as Kaizala's retries would once the subscription is back.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from devtools.dataverse_sim import DEFAULT_TOKEN, SimState
from devtools.serving import ServerThread
from shared.adapters.kaizala import WebhookCreate
from shared.runtime import Runtime
from tests.bridge_fixtures import OPPORTUNITY, SAMPLE_GROUP, KaizalaSim, bridge_env
from tests.conftest import installed_runtime, register_secret
from tests.support import body_json, call, request

RESPONSE_EVENTS = ["SurveyResponse", "ActionResponse", "JobResponse"]
MEMBERS = ("+919100000002", "+919100000003", "+919100000004")
WITNESS_TOKEN = "witness-" + uuid.uuid4().hex  # the witness subscription's own callback token


class ShiftedClock:
    """Real time plus an offset: the bridge's one clock, moved with the simulator's."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


class Witness:
    """A webhook receiver that answers Kaizala's handshake and records every event."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []
        self.app = Starlette(routes=[Route("/{name}", self.hook, methods=["GET", "POST"])])

    async def hook(self, req: Request) -> Response:
        if req.method == "GET":
            return PlainTextResponse(req.query_params.get("validationToken", ""))
        event = await req.json()
        with self._lock:
            self._events.append({"path": req.url.path, "event": event})
        return Response(status_code=200)

    def events(self, path: str = "/witness") -> list[dict[str, Any]]:
        with self._lock:
            return [e["event"] for e in self._events if e["path"] == path]


@pytest.fixture
def dataverse(dv_app: Any, dv_server: ServerThread) -> SimState:
    state: SimState = dv_app.state.sim
    state.reset()
    return state


@pytest.fixture
def witness() -> Iterator[tuple[Witness, str]]:
    receiver = Witness()
    server = ServerThread(receiver.app).start()
    try:
        yield receiver, server.url
    finally:
        server.stop()


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def values(
    env: dict[str, str],
    kaizala: KaizalaSim,
    tmp_path: Path,
    dv_server: ServerThread,
    dataverse: SimState,
    witness: tuple[Witness, str],
) -> dict[str, str]:
    register_secret(DEFAULT_TOKEN)
    return bridge_env(
        env,
        kaizala,
        tmp_path,
        DATAVERSE_URL=dv_server.url,
        DATAVERSE_STATIC_TOKEN=DEFAULT_TOKEN,
        WEBHOOK_CALLBACK_URL=f"{witness[1]}/bridge",
    )


@pytest.fixture
async def rt(values: dict[str, str], clock: ShiftedClock) -> AsyncIterator[Runtime]:
    async with installed_runtime(values, clock=clock) as runtime:
        yield runtime


async def missed_webhook(rt: Runtime, witness_url: str) -> None:
    """The bridge's subscription made and then deleted; the witness's stays."""
    resp = await call("sync_kaizala_webhooks", request("POST", "/api/manage/webhooks/sync"))
    assert resp.status_code == 200, resp.get_body()
    webhook_id = body_json(resp)["groups"][0]["webhookId"]
    await rt.kaizala.delete_webhook(webhook_id)
    register_secret(WITNESS_TOKEN)
    await rt.kaizala.create_webhook(
        WebhookCreate(
            objectId=SAMPLE_GROUP,
            objectType="Group",
            eventTypes=RESPONSE_EVENTS,
            callBackUrl=f"{witness_url}/witness",
            callBackToken=WITNESS_TOKEN,
        )
    )


async def send(action_type: str, action_body: dict[str, Any]) -> tuple[str, str]:
    """An action sent through the real `send_action`; (correlationId, Kaizala actionId or "")."""
    body = {
        "groupId": SAMPLE_GROUP,
        "actionType": action_type,
        "actionBody": action_body,
        "regarding": {"id": OPPORTUNITY, "name": "Contoso – 500 laptops"},
    }
    resp = await call("send_action", request("POST", "/api/actions", body=body))
    assert resp.status_code == 201, resp.get_body()
    sent = body_json(resp)
    return sent["correlationId"], sent.get("actionId", "")


def survey(title: str, due_hours: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": title,
        "questions": [
            {
                "title": "How likely is the deal?",
                "type": "SingleOption",
                "options": [{"title": "Likely"}, {"title": "Unlikely"}],
            },
            {"title": "Notes", "type": "Text"},
        ],
    }
    if due_hours is not None:
        body["dueDate"] = due_hours
    return body


def answer(
    kaizala: KaizalaSim,
    action_id: str,
    responder: str,
    answers: list[Any],
    response_id: str | None = None,
) -> str:
    """A member answers (or, with `response_id`, edits) from the app; returns the responseId."""
    body: dict[str, Any] = {"responder": responder, "answers": answers}
    if response_id is not None:
        body["responseId"] = response_id
    result: str = kaizala.control("POST", f"actions/{action_id}/respond", json=body)["responseId"]
    return result


def wait_deliveries(kaizala: KaizalaSim) -> None:
    idle = kaizala.control("POST", "deliveries/wait", json={"timeoutSeconds": 30})
    assert idle["idle"], idle


def detail_reads(kaizala: KaizalaSim, action_id: str) -> int:
    """Kaizala calls that read this action's details (the backfill's one call per action)."""
    return len([c for c in kaizala.calls(f"/actions/{action_id}", "GET")])
