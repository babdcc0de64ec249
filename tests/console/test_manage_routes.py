"""The console's JSON routes through the real handlers: Azurite, the Kaizala simulator over HTTP.

Actions are sent through `POST /api/actions`, events posted through the webhook handler; the
routes are read as the console page reads them. No answer may carry a token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from devtools.host import describe_functions, index_functions
from devtools.serving import ServerThread
from shared.runtime import Runtime
from shared.services.console import encode_cursor
from tests.bridge_fixtures import SAMPLE_GROUP, KaizalaSim, bridge_env
from tests.cluster import survey_event, survey_request
from tests.conftest import installed_runtime, register_secret
from tests.support import body_json, call, functions_by_name, request

ROUTES = {
    "console_page": "api/console",
    "manage_actions": "api/manage/actions",
    "manage_inbox": "api/manage/inbox",
    "manage_connector": "api/manage/connector",
    "manage_webhooks": "api/manage/webhooks",
}


@pytest.fixture
def callback() -> Iterator[ServerThread]:
    """Kaizala's other end: answers the handshake, refuses every delivery (500)."""

    async def hook(req: Request) -> Response:
        if req.method == "GET":
            return PlainTextResponse(req.query_params["validationToken"])
        return Response(status_code=500)

    server = ServerThread(Starlette(routes=[Route("/hook", hook, methods=["GET", "POST"])]))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def rt(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path, callback: ServerThread
) -> AsyncIterator[Runtime]:
    values = bridge_env(
        env,
        kaizala,
        tmp_path,
        INBOX_MAX_ATTEMPTS="1",  # a failed write is dead at once (no Dataverse is configured)
        WEBHOOK_CALLBACK_URL=f"{callback.url}/hook",
    )
    async with installed_runtime(values) as runtime:
        yield runtime


async def get(name: str, **params: str) -> func.HttpResponse:
    return await call(name, request("GET", "/" + ROUTES[name], params=params))


async def send(name: str) -> dict[str, Any]:
    resp = await call("send_action", request("POST", "/api/actions", body=survey_request(name)))
    assert resp.status_code == 201, resp.get_body()
    found: dict[str, Any] = body_json(resp)
    return found


def secrets_of(kaizala: KaizalaSim, token: str) -> list[str]:
    state = kaizala.server.server.config.app.state.sim.state
    return [token, *state.refresh_tokens, *state.access_tokens]


def test_console_routes_are_admin_only() -> None:
    rows = describe_functions(index_functions(functions_by_name().values()))
    found = {r["name"]: (r["route"], r["methods"], r["auth_level"]) for r in rows}
    for name, route in ROUTES.items():
        assert found[name] == (route, ["GET"], "admin")


async def test_actions_newest_first_paged_and_filtered(rt: Runtime) -> None:
    sent = [(await send(f"Deal {i}"))["correlationId"] for i in range(3)]
    resp = await get("manage_actions", limit="2")
    assert resp.status_code == 200
    assert resp.headers["cache-control"] == "no-store"
    first = body_json(resp)
    assert [a["correlationId"] for a in first["actions"]] == [sent[2], sent[1]]
    assert first["scanTruncated"] is False
    top = first["actions"][0]
    assert (top["status"], top["groupId"], top["template"]) == (
        "sent",
        SAMPLE_GROUP,
        "opportunity-survey",
    )
    assert top["regarding"]["name"] == "Deal 2"
    assert (top["responses"], top["summary"], top["lastError"]) == (0, "none", None)

    second = body_json(await get("manage_actions", limit="2", continuation=first["continuation"]))
    assert [a["correlationId"] for a in second["actions"]] == [sent[0]]
    assert "continuation" not in second

    only_sent = body_json(await get("manage_actions", status="sent"))
    assert len(only_sent["actions"]) == 3
    assert body_json(await get("manage_actions", status="failed"))["actions"] == []


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "101"},
        {"limit": "ten"},
        {"limit": "-1"},
        {"status": "dead"},
        {"continuation": "not-a-token!"},
        {"continuation": encode_cursor(1, "x")[:-2] + "~~"},
        {"continuation": "W10"},  # base64 of [], a JSON value of the wrong shape
        {"continuation": "x" * 400},
    ],
)
async def test_bad_query_is_a_400_problem(rt: Runtime, params: dict[str, str]) -> None:
    resp = await get("manage_actions", **params)
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json"
    problem = body_json(resp)
    assert problem["status"] == 400
    assert problem["type"].endswith("validation")
    assert "Traceback" not in problem["detail"]


async def test_inbox_counts_and_dead_and_orphan_events_with_their_reason(
    rt: Runtime, kaizala: KaizalaSim
) -> None:
    token = await rt.callbacks.ensure()
    register_secret(token)
    action = await send("Deal")
    dead = survey_event(action["actionId"])
    orphan = survey_event(str(uuid.uuid4()))
    for event in (dead, orphan):
        hdr = {"kz-callback-token": token}
        resp = await call(
            "kaizala_webhook", request("POST", "/api/kaizala/webhook", body=event, headers=hdr)
        )
        assert resp.status_code == 200, resp.get_body()

    resp = await get("manage_inbox")
    assert resp.status_code == 200
    inbox = body_json(resp)
    assert inbox["counts"] == {"dead": 1, "orphan": 1}
    assert inbox["countsTruncated"] is False
    problems = {p["eventId"]: p for p in inbox["problems"]}
    assert problems[dead["eventId"]]["status"] == "dead"
    assert "DATAVERSE_URL" in problems[dead["eventId"]]["reason"]  # the cause, readable
    assert problems[dead["eventId"]]["actionId"] == action["actionId"]
    assert problems[orphan["eventId"]]["status"] == "orphan"
    assert problems[dead["eventId"]]["receivedAt"].endswith("+00:00")

    replayed = await call(
        "inbox_replay",
        request("POST", "/api/manage/inbox/replay", body={"eventId": orphan["eventId"]}),
    )
    assert body_json(replayed)["requeued"] == 1
    after = body_json(await get("manage_inbox"))
    assert after["counts"] == {"dead": 1, "orphan": 1}  # still no correlation: orphan again
    assert [p["replays"] for p in after["problems"] if p["eventId"] == orphan["eventId"]] == [1]
    for text in (json.dumps(inbox), json.dumps(after)):
        assert not [s for s in secrets_of(kaizala, token) if s in text]


async def test_connector_shows_token_facts_budget_and_queue_never_a_token(
    rt: Runtime, kaizala: KaizalaSim
) -> None:
    await send("Deal")
    resp = await get("manage_connector")
    assert resp.status_code == 200
    body = body_json(resp)
    assert body["token"]["status"] == "ok"
    assert body["token"]["accessTokenExpiresOn"]
    assert body["refreshTokenWarning"] is False
    # The send took from the budget: the token call is not a platform call, the send is.
    assert body["budget"]["windowUsed"] >= 1
    assert body["budget"]["windowLimit"] == rt.settings.kaizala_calls_per_minute
    assert (body["queuedSends"], body["queuedSendsTruncated"]) == (0, False)
    text = resp.get_body().decode()
    assert not [s for s in secrets_of(kaizala, await rt.callbacks.ensure()) if s in text]


async def test_webhooks_missing_then_active_then_disabled(rt: Runtime, kaizala: KaizalaSim) -> None:
    before = body_json(await get("manage_webhooks"))
    assert before["callbackConfigured"] is True
    assert [(g["groupId"], g["state"]) for g in before["groups"]] == [(SAMPLE_GROUP, "missing")]

    synced = await call("sync_kaizala_webhooks", request("POST", "/api/manage/webhooks/sync"))
    assert synced.status_code == 200, synced.get_body()
    [group] = body_json(await get("manage_webhooks"))["groups"]
    assert group["state"] == "active"
    assert [s["active"] for s in group["subscriptions"]] == [True]

    # Deliveries fail (the callback answers 500) and are not retried: Kaizala disables it.
    kaizala.config(deliveryRetries=0)
    action = await send("Deal")
    kaizala.control("POST", f"actions/{action['actionId']}/respond-random", json={"count": 1})
    kaizala.control("POST", "deliveries/wait", json={"timeoutSeconds": 20})
    resp = await get("manage_webhooks")
    [group] = body_json(resp)["groups"]
    assert group["state"] == "disabled"
    text = resp.get_body().decode()
    assert not [s for s in secrets_of(kaizala, await rt.callbacks.ensure()) if s in text]


async def test_console_page_allows_exactly_its_own_inline_script_and_style() -> None:
    resp = await call("console_page", request("GET", "/api/console", params={"code": "k3y"}))
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    html = resp.get_body().decode()
    csp = dict(
        part.strip().split(" ", 1) for part in resp.headers["content-security-policy"].split(";")
    )
    assert csp["default-src"] == "'self'"
    assert csp["connect-src"] == "'self'"
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        [inline] = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.S)
        digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
        assert csp[directive] == f"'sha256-{digest}'"
    assert "/*SCRIPT*/" not in html and "/*STYLE*/" not in html
    assert "k3y" not in html  # the key is read by the script at run time, never served back
    assert resp.headers["x-content-type-options"] == "nosniff"
    assert resp.headers["cache-control"] == "no-store"
    assert "://" not in html  # nothing fetched from elsewhere


async def test_bounded_reads_say_when_the_bound_cut_them(rt: Runtime) -> None:
    token = await rt.callbacks.ensure()
    register_secret(token)
    for name in ("A", "B", "C"):
        await send(name)
    rows, truncated = await rt.actions_store.recent(None, None, limit=2)
    assert (len(rows), truncated) == (2, True)
    rows, truncated = await rt.actions_store.recent("sent", None, limit=3)
    assert (len(rows), truncated) == (3, True)  # a full read cannot tell: it says so
    rows, truncated = await rt.actions_store.recent("sent", None, limit=4)
    assert (len(rows), truncated) == (3, False)
    for _ in range(2):
        event = survey_event(str(uuid.uuid4()))
        hdr = {"kz-callback-token": token}
        await call(
            "kaizala_webhook", request("POST", "/api/kaizala/webhook", body=event, headers=hdr)
        )
    assert await rt.inbox_store.count_by_status(1) == ({"orphan": 1}, True)
    assert await rt.inbox_store.count_by_status(3) == ({"orphan": 2}, False)


async def test_a_group_kaizala_refuses_to_list_is_unknown_with_the_reason(
    rt: Runtime, kaizala: KaizalaSim
) -> None:
    kaizala.control("POST", "faults", json={"pathRegex": "/webhook$", "status": 500, "count": 20})
    resp = await get("manage_webhooks")
    assert resp.status_code == 200
    [group] = body_json(resp)["groups"]
    assert group["state"] == "unknown"
    assert "500" in group["error"]
