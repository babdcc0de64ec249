"""The trigger "When a Kaizala response arrives" end to end over HTTP: subscribe with a loopback
callback, a correlated response through the Kaizala webhook, the body at the callback, a failing
callback retried then dead and listed, unsubscribe, and no more deliveries."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import azure.functions as func

from devtools.dataverse_sim import SimState
from shared.adapters.dataverse import activity_id_for
from shared.domain.flow_subscriptions import FlowResponse
from shared.runtime import Runtime
from tests.conftest import installed_runtime
from tests.connector.conftest import Callbacks
from tests.inbound.conftest import CONTOSO, Clock, correlate, post_event, survey_event
from tests.support import body_json, call, request, run_timer

HOST = "http://localhost:7071"  # the host tests.support's requests are addressed to
GROUP = "8c291050-9be8-45d6-97f5-bb7013930027"  # the sample event's group


async def subscribe(body: dict[str, Any]) -> func.HttpResponse:
    return await call("subscribe_flow", request("POST", "/api/subscriptions", body=body))


async def unsubscribe(location: str) -> func.HttpResponse:
    path = location.removeprefix(HOST)
    sub_id = path.rsplit("/", 1)[-1]
    return await call(
        "unsubscribe_flow", request("DELETE", path, route_params={"subscriptionId": sub_id})
    )


async def overview() -> dict[str, Any]:
    resp = await call("list_flow_subscriptions", request("GET", "/api/manage/subscriptions"))
    assert resp.status_code == 200
    data: dict[str, Any] = body_json(resp)
    return data


async def test_subscribe_receive_and_unsubscribe(
    rt: Runtime, token: str, callbacks: Callbacks, sim: SimState, clock: Clock
) -> None:
    everything = await subscribe({"callbackUrl": callbacks.signed("all")})
    assert everything.status_code == 201
    created = body_json(everything)
    location = everything.headers["Location"]
    assert location == f"{HOST}/api/subscriptions/{created['id']}"  # absolute: the DELETE target
    assert created["callbackHost"] == "127.0.0.1"
    assert "sig=" not in everything.get_body().decode()
    by_record = await subscribe({"callbackUrl": callbacks.signed("record"), "regardingId": CONTOSO})
    other_group = await subscribe({"callbackUrl": callbacks.signed("other"), "groupId": "g-9"})
    assert (by_record.status_code, other_group.status_code) == (201, 201)

    action_id = str(uuid.uuid4())
    correlation_id = await correlate(rt.tables, action_id)
    event = survey_event(action_id)
    assert body_json(await post_event(event, token))["status"] == "accepted"
    assert callbacks.received == {}  # never inline: the timer delivers
    await run_timer("deliver_flow_responses")

    [body] = callbacks.bodies("all")
    # What the connector documents as the trigger's outputs (FlowResponse) is what arrives.
    assert set(body) <= set(FlowResponse.model_fields)
    FlowResponse.model_validate(body)
    assert body["eventId"] == event["eventId"]
    assert body["correlationId"] == correlation_id
    assert body["groupId"] == GROUP
    assert body["regarding"]["id"] == CONTOSO
    assert body["activityId"] == str(activity_id_for(event["data"]["responseId"]))
    assert body["answers"][0]["title"] == "How likely is this deal to close this quarter?"
    assert [b["eventId"] for b in callbacks.bodies("record")] == [event["eventId"]]
    assert callbacks.bodies("other") == []  # another group: not matched
    # A redelivered event adds no second delivery.
    assert body_json(await post_event(event, token))["status"] == "duplicate"
    clock.advance(3600)
    await run_timer("deliver_flow_responses")
    assert len(callbacks.bodies("all")) == 1

    view = await overview()
    listed = {s["id"]: s for s in view["subscriptions"]}
    assert listed[created["id"]]["deliveries"] == {"pending": 0, "delivered": 1, "dead": 0}
    assert listed[created["id"]]["static"] is False
    assert "sig=" not in json.dumps(view)

    gone = await unsubscribe(location)
    assert gone.status_code == 204
    assert (await unsubscribe(location)).status_code == 204  # a repeated DELETE: still 204
    second = survey_event(action_id)
    assert body_json(await post_event(second, token))["status"] == "accepted"
    await run_timer("deliver_flow_responses")
    assert len(callbacks.bodies("all")) == 1  # unsubscribed: nothing more
    assert [b["eventId"] for b in callbacks.bodies("record")] == [
        event["eventId"],
        second["eventId"],
    ]
    assert created["id"] not in {s["id"] for s in (await overview())["subscriptions"]}


async def test_failing_callback_is_retried_then_dead_and_listed(
    inbound_env: dict[str, str], callbacks: Callbacks, sim: SimState, clock: Clock
) -> None:
    async with installed_runtime({**inbound_env, "INBOX_MAX_ATTEMPTS": "3"}, clock=clock) as rt:
        token = await rt.callbacks.ensure()
        down = body_json(await subscribe({"callbackUrl": f"{callbacks.url}/down"}))
        up = body_json(await subscribe({"callbackUrl": callbacks.signed("up")}))
        action_id = str(uuid.uuid4())
        await correlate(rt.tables, action_id)
        event = survey_event(action_id)
        assert body_json(await post_event(event, token))["status"] == "accepted"

        await run_timer("deliver_flow_responses")
        # The dead callback does not hold the other one back.
        assert [b["eventId"] for b in callbacks.bodies("up")] == [event["eventId"]]
        assert callbacks.down_calls == 1
        await run_timer("deliver_flow_responses")  # backing off: not due yet
        assert callbacks.down_calls == 1
        for _ in range(2):
            clock.advance(3601)  # past the longest back-off
            await run_timer("deliver_flow_responses")
        assert callbacks.down_calls == 3

        view = await overview()
        listed = {s["id"]: s for s in view["subscriptions"]}
        assert listed[down["id"]]["deliveries"] == {"pending": 0, "delivered": 0, "dead": 1}
        assert listed[up["id"]]["deliveries"] == {"pending": 0, "delivered": 1, "dead": 0}
        [dead] = view["deadDeliveries"]
        assert dead["eventId"] == event["eventId"]
        assert dead["subscriptionId"] == down["id"]
        assert dead["reason"] == "ForwardError: forward sink answered 500"
        assert dead["at"].endswith("Z")
        clock.advance(3601)
        await run_timer("deliver_flow_responses")
        assert callbacks.down_calls == 3  # dead: never again
        assert len(callbacks.bodies("up")) == 1


async def test_a_slow_callback_does_not_hold_the_others(
    rt: Runtime, token: str, callbacks: Callbacks, sim: SimState
) -> None:
    # Two callbacks that each hold their request: both are reached while neither has answered,
    # so neither waits for the other (one after the other, the first would answer first).
    await subscribe({"callbackUrl": f"{callbacks.url}/slow/a"})
    await subscribe({"callbackUrl": f"{callbacks.url}/slow/b"})
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    assert body_json(await post_event(survey_event(action_id), token))["status"] == "accepted"
    run = asyncio.create_task(rt.flows.deliver_due())
    try:
        deadline = time.monotonic() + 10  # a polling deadline, not a margin: it ends at once
        while callbacks.held != {"a", "b"}:
            assert not callbacks.slow_done, "one callback waited for the other"
            assert time.monotonic() < deadline, "the callbacks were not both reached"
            await asyncio.sleep(0.01)
    finally:
        callbacks.slow_release.set()
    report = await run
    assert report["delivered"] == 2


async def test_static_subscription_is_listed_and_cannot_be_deleted(
    inbound_env: dict[str, str], callbacks: Callbacks, clock: Clock
) -> None:
    values = {**inbound_env, "RESPONSE_FORWARD_URL": callbacks.signed("static")}
    async with installed_runtime(values, clock=clock):
        [static] = (await overview())["subscriptions"]
        assert static["id"] == "static"
        assert static["static"] is True
        assert static["callbackHost"] == "127.0.0.1"
        refused = await unsubscribe(f"{HOST}/api/subscriptions/static")
        assert refused.status_code == 409
        assert refused.mimetype == "application/problem+json"


async def test_bad_subscriptions_are_400_naming_the_field(rt: Runtime) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"callbackUrl": "http://flows.example.com/cb"}, "callbackUrl"),  # http, not loopback
        ({"callbackUrl": "ftp://127.0.0.1/cb"}, "callbackUrl"),
        ({"callbackUrl": "https://x.example.com/" + "a" * 2100}, "callbackUrl"),
        ({"callbackUrl": "https:///no-host"}, "callbackUrl"),
        ({"callbackUrl": "https://user:pw@x.example.com/"}, "callbackUrl"),
        ({}, "callbackUrl"),
        ({"callbackUrl": "https://x.example.com/", "groupId": "a/b"}, "groupId"),
        ({"callbackUrl": "https://x.example.com/", "regardingId": "nope"}, "regardingId"),
        ({"callbackUrl": "https://x.example.com/", "extra": 1}, "extra"),
    ]
    for body, field in cases:
        resp = await subscribe(body)
        assert resp.status_code == 400, body
        problem = body_json(resp)
        assert problem["errors"][0]["field"] == field, problem
        assert "flows.example.com" not in resp.get_body().decode()  # never echoed
    ok = await subscribe({"callbackUrl": "https://prod-1.westeurope.logic.azure.com/cb?sig=s"})
    assert ok.status_code == 201
    assert body_json(ok)["callbackHost"] == "prod-1.westeurope.logic.azure.com"
    malformed = await call(
        "unsubscribe_flow",
        request("DELETE", "/api/subscriptions/x", route_params={"subscriptionId": "x"}),
    )
    assert malformed.status_code == 404


async def test_no_subscription_means_no_delivery_table_call(
    rt: Runtime, token: str, sim: SimState
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    for _ in range(2):
        assert body_json(await post_event(survey_event(action_id), token))["status"] == "accepted"
    # The subscriptions were read once (cached), and no delivery row exists.
    # The delivery table was never even created for this test's prefix.
    assert rt.tables.table_name("flowdeliveries") not in [t async for t in _tables(rt)]


async def _tables(rt: Runtime) -> Any:
    service = rt.tables._service  # the SDK's list of tables: what was ever created
    async for t in service.list_tables():
        yield t.name
