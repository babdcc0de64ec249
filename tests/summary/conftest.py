"""The whole results loop over real HTTP: the Kaizala simulator (the action is really sent),
Azurite, the Dataverse simulator, and the function handlers (send, webhook, timer, status).

The runtime's clock is a test clock, so the 30-second debounce of the summary note is crossed
by moving it, never by waiting.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from devtools.dataverse_sim import DEFAULT_TOKEN, SimState
from devtools.serving import ServerThread
from shared.runtime import Runtime
from tests.bridge_fixtures import OPPORTUNITY, SAMPLE_GROUP, KaizalaSim, bridge_env
from tests.conftest import installed_runtime, register_secret
from tests.inbound.conftest import Clock, sample
from tests.support import body_json, call, request

SURVEY_TITLE = "Qualify the Contoso deal"
LIKELY = "How likely is this deal to close this quarter?"
BUDGET = "Estimated budget (USD)"
COMPETITORS = "Competitors involved"
NOTES = "Notes"
QUESTIONS: list[dict[str, Any]] = [
    {
        "title": LIKELY,
        "type": "SingleOption",
        "options": [{"title": "Likely"}, {"title": "Unlikely"}],
    },
    {"title": BUDGET, "type": "Numeric"},
    {
        "title": COMPETITORS,
        "type": "MultiOption",
        "options": [{"title": "A"}, {"title": "B"}, {"title": "C"}],
    },
    {"title": NOTES, "type": "Text"},
]
BASE_TIME = 1_767_225_600_000  # 2026-01-01T00:00:00Z: answer times count from here


@pytest.fixture
def dv(dv_app: Starlette, dv_server: ServerThread) -> SimState:
    state: SimState = dv_app.state.sim
    state.reset()
    return state


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def rt(
    env: dict[str, str],
    kaizala: KaizalaSim,
    tmp_path: Path,
    dv_server: ServerThread,
    dv: SimState,
    clock: Clock,
) -> AsyncIterator[Runtime]:
    register_secret(DEFAULT_TOKEN)
    values = bridge_env(
        env,
        kaizala,
        tmp_path,
        DATAVERSE_URL=dv_server.url,
        DATAVERSE_STATIC_TOKEN=DEFAULT_TOKEN,
    )
    async with installed_runtime(values, clock=clock) as runtime:
        yield runtime


@pytest.fixture
async def token(rt: Runtime) -> str:
    value = await rt.callbacks.ensure()
    register_secret(value)
    return value


async def send_survey(title: str = SURVEY_TITLE) -> tuple[str, str]:
    """POST /api/actions through the handler (the simulator creates it): (correlation, action)."""
    body = {
        "groupId": SAMPLE_GROUP,
        "actionType": "Survey",
        "actionBody": {"title": title, "questions": QUESTIONS},
        "regarding": {"id": OPPORTUNITY, "name": "Contoso – 500 laptops"},
    }
    resp = await call("send_action", request("POST", "/api/actions", body=body))
    assert resp.status_code == 201, resp.get_body()
    sent = body_json(resp)
    return sent["correlationId"], sent["actionId"]


def answer_event(
    action_id: str,
    responder: str,
    answered_at: int,
    answers: dict[str, Any],
    *,
    response_id: str | None = None,
    edit: bool = False,
) -> dict[str, Any]:
    """A SurveyResponse in the published shape with the survey's questions and `answers`."""
    event = copy.deepcopy(sample("survey_response"))
    questions = [
        {**q, "options": q.get("options", []), "answer": answers.get(q["title"])}
        for q in copy.deepcopy(QUESTIONS)
    ]
    hidden = {
        "isInvisible": True,
        "title": "ResponseTime",
        "type": "DateTime",
        "options": [],
        "answer": answered_at,
    }
    event["eventId"] = str(uuid.uuid4())
    event["data"].update(
        {
            "actionId": action_id,
            "responseId": response_id or str(uuid.uuid4()),
            "responderName": responder,
            "responder": "+9191" + str(uuid.uuid4().int)[:8],
            "isUpdateResponse": edit,
            "responseDetails": {"responseWithQuestions": [*questions, hidden]},
        }
    )
    return event


async def status_of(cid: str) -> dict[str, Any]:
    resp = await call("get_action", request("GET", "/", route_params={"correlationId": cid}))
    assert resp.status_code == 200, resp.get_body()
    found: dict[str, Any] = body_json(resp)
    return found


def notes(dv: SimState) -> list[dict[str, Any]]:
    return dv.annotations()


def note_writes(dv: SimState) -> int:
    return int(dv.stats()["annotationWrites"])
