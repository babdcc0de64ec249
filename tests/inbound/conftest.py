"""The inbound half wired to Azurite and the Dataverse simulator over real HTTP.

Helpers build webhook events from the published samples (copied to `events/`), insert the
outbound half's `actionindex` rows, and post events through the real function objects.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import httpx
import pytest
from starlette.applications import Starlette

from devtools.dataverse_sim import DEFAULT_TOKEN, SimState, create_app
from devtools.serving import ServerThread
from shared.adapters.tables import Entity, TableStore
from shared.runtime import Runtime
from shared.services import inbound
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


def encode(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode("utf-8")


@pytest.fixture(scope="session")
def dv_app() -> Starlette:
    return create_app()


@pytest.fixture(scope="session")
def dv_server(dv_app: Starlette) -> Iterator[ServerThread]:
    server = ServerThread(dv_app).start()
    yield server
    server.stop()


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


@pytest.fixture
async def rt(inbound_env: dict[str, str]) -> AsyncIterator[Runtime]:
    async with installed_runtime(inbound_env) as runtime:
        yield runtime


@pytest.fixture
async def token(rt: Runtime) -> str:
    value = await rt.callbacks.ensure()
    register_secret(value)
    return value


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    inbound.clear_caches()
    yield
    inbound.clear_caches()


class Clock:
    """A settable wall clock (epoch seconds), starting at the real time."""

    def __init__(self, now: float | None = None) -> None:
        import time

        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


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
    return await inbound.inbox_rows(tables)


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
