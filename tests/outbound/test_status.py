"""GET /api/actions/{id} counts an action's responses where intake keys them.

Intake keys inbox rows by `inbox_key(actionId)`: the id as is when Azure accepts it as a key,
else its sha256 (longer than 100 characters, or a character Azure forbids). The count must use
the same key, or an action with such an id shows 0 responses however many came back.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.adapters.tables import pack_blob
from shared.runtime import Runtime
from shared.stores.inbox import TABLE as INBOX
from shared.stores.inbox import inbox_key, partition_for
from tests.bridge_fixtures import OPPORTUNITY, SAMPLE_GROUP, KaizalaSim, bridge_env
from tests.conftest import installed_runtime
from tests.inbound.conftest import survey_event
from tests.support import body_json, call, request

LONG_SUFFIX = "-" + "x" * 100


class LongActionIds(httpx.AsyncBaseTransport):
    """The HTTP boundary to the simulator, answering sends with an action id longer than a
    Table key may be as is (the simulator always issues GUIDs), when `enabled`."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.enabled = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if not (
            self.enabled
            and request.method == "POST"
            and request.url.path.endswith("/actions")
            and response.status_code == 200
        ):
            return response
        await response.aread()
        body = json.loads(response.content)
        body["actionId"] += LONG_SUFFIX
        headers = [
            (k, v)
            for k, v in response.headers.items()
            if k.lower() not in ("content-length", "content-encoding")
        ]
        return httpx.Response(200, headers=headers, content=json.dumps(body).encode())

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def rt(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path
) -> AsyncIterator[tuple[Runtime, LongActionIds]]:
    transport = LongActionIds()
    values = bridge_env(env, kaizala, tmp_path)
    async with installed_runtime(values, kaizala_transport=transport) as runtime:
        yield runtime, transport


async def intake_row(rt: Runtime, action_id: str, event_id: str, **fields: Any) -> None:
    """An inbox row keyed exactly as intake keys it, with its event (the figures read it)."""
    event = survey_event(action_id, response_id=fields["responseId"], event_id=event_id)
    row = {
        "PartitionKey": partition_for(action_id),
        "RowKey": inbox_key(event_id),
        "attempts": 0,
        "receivedAt": int(time.time() * 1000),
        **pack_blob(json.dumps(event).encode("utf-8")),
        **fields,
    }
    assert await rt.tables.insert(INBOX, row)


async def responses_of(cid: str) -> int:
    resp = await call("get_action", request("GET", "/", route_params={"correlationId": cid}))
    assert resp.status_code == 200, resp.get_body()
    count: int = body_json(resp)["responses"]
    return count


@pytest.mark.parametrize("long_id", [False, True], ids=["guid", "hashed"])
async def test_responses_are_counted_as_intake_keys_them(
    rt: tuple[Runtime, LongActionIds], kaizala: KaizalaSim, long_id: bool
) -> None:
    runtime, transport = rt
    transport.enabled = long_id
    body = {
        "groupId": SAMPLE_GROUP,
        "actionType": "Survey",
        "actionBody": {"title": "Counted?", "questions": [{"title": "Notes", "type": "Text"}]},
        "regarding": {"id": OPPORTUNITY},
    }
    resp = await call("send_action", request("POST", "/api/actions", body=body))
    assert resp.status_code == 201, resp.get_body()
    sent = body_json(resp)
    action_id, cid = sent["actionId"], sent["correlationId"]
    assert action_id.endswith(LONG_SUFFIX) is long_id
    assert (partition_for(action_id) != action_id) is long_id  # the hashed case is hashed
    assert await responses_of(cid) == 0

    await intake_row(runtime, action_id, "ev-1", status="done", responseId="r-1")
    await intake_row(runtime, action_id, "ev-2", status="done", responseId="r-2")
    # the same response again (an edit): one response, not two
    await intake_row(runtime, action_id, "ev-3", status="done", responseId="r-2")
    # not written back yet, or another action's: not counted
    await intake_row(runtime, action_id, "ev-4", status="pending", responseId="r-3")
    await intake_row(runtime, "other-action", "ev-5", status="done", responseId="r-9")
    assert await responses_of(cid) == 2
