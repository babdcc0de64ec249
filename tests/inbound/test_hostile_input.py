"""Input built to hurt: JSON nested 10,000 deep on every JSON route, response events of the
wrong shape, and values that try to forge log lines (CR, LF, ANSI, 10 KB) in every field."""

from __future__ import annotations

import copy
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.dataverse_sim import SimState
from shared.domain.json_limits import MAX_JSON_DEPTH
from shared.runtime import Runtime
from shared.services.inbound import sweep_inbox
from tests.inbound.conftest import (
    CONTOSO,
    Clock,
    correlate,
    post_event,
    row_of,
    sample,
    sim_tasks,
    survey_event,
)
from tests.support import body_json, call, request

CID = "5f0e4c3a-0000-4000-8000-000000000000"

# Every route that reads a JSON body: (function, method, path, route params, its body limit).
JSON_ROUTES: list[tuple[str, str, str, dict[str, str], int]] = [
    ("send_action", "POST", "/api/actions", {}, 65536),
    ("dynamics_opportunities", "POST", "/api/dynamics/opportunities", {}, 512 * 1024),
    ("sync_kaizala_webhooks", "POST", "/api/manage/webhooks/sync", {}, 65536),
    ("inbox_replay", "POST", "/api/manage/inbox/replay", {}, 4096),
    ("kaizala_pin", "POST", "/api/manage/kaizala/pin", {}, 4096),
    ("kaizala_login", "POST", "/api/manage/kaizala/login", {}, 4096),
    ("create_group", "POST", "/api/groups", {}, 65536),
    ("add_group_members", "PUT", "/api/groups/g-1/members", {"groupId": "g-1"}, 65536),
    (
        "send_reminder",
        "POST",
        f"/api/actions/{CID}/reminder",
        {"correlationId": CID},
        4096,
    ),
]


def deep_object(max_bytes: int, depth: int = 10_000) -> bytes:
    """A JSON object holding arrays nested `depth` deep (fewer when the route's limit is
    small: 2,000 levels are still twice what the parser's recursion survives)."""
    depth = min(depth, (max_bytes - 8) // 2)
    return b'{"a":' + b"[" * depth + b"]" * depth + b"}"


def tracebacks(records: list[logging.LogRecord]) -> list[str]:
    return [r.getMessage() for r in records if r.exc_info or "Traceback" in r.getMessage()]


@pytest.mark.parametrize(
    ("name", "method", "path", "route_params", "max_bytes"),
    JSON_ROUTES,
    ids=[r[0] for r in JSON_ROUTES],
)
async def test_json_nested_too_deep_is_400_on_every_route(
    rt: Runtime,
    caplog: pytest.LogCaptureFixture,
    name: str,
    method: str,
    path: str,
    route_params: dict[str, str],
    max_bytes: int,
) -> None:
    caplog.set_level(logging.DEBUG)
    body = deep_object(max_bytes)
    assert len(body) <= max_bytes
    req = request(
        method,
        path,
        body=body,
        headers={"content-type": "application/json"},
        route_params=route_params,
    )
    resp = await call(name, req)
    assert resp.status_code == 400, resp.get_body()
    assert resp.mimetype == "application/problem+json"
    problem = body_json(resp)
    assert problem["type"].endswith("/validation")
    assert problem["detail"] == f"The body is nested deeper than {MAX_JSON_DEPTH} levels."
    assert tracebacks(caplog.records) == []


async def test_json_nested_too_deep_is_400_on_the_webhook(
    rt: Runtime, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for body in (deep_object(1024 * 1024), b"[" * 10_000 + b"]" * 10_000):
        resp = await post_event(body, token)
        assert resp.status_code == 400, resp.get_body()
        assert resp.mimetype == "application/problem+json"
        assert body_json(resp)["detail"] == (
            f"The body is nested deeper than {MAX_JSON_DEPTH} levels."
        )
    assert tracebacks(caplog.records) == []
    # Within the limit, the same nesting is an event like any other.
    event = sample("text_message_created")
    event["data"]["extra"] = json.loads("[" * (MAX_JSON_DEPTH - 3) + "]" * (MAX_JSON_DEPTH - 3))
    assert (await post_event(event, token)).status_code == 200


# ---- response events of the wrong shape: dead at once, with the reason -----------------------


def _set(event: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    *parents, leaf = path.split(".")
    node: Any = changed
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(leaf)] = value
    else:
        node[leaf] = value
    return changed


MALFORMED: list[tuple[str, str, Any, str]] = [
    # (event sample, path, value, the field its lastError names)
    ("survey_response", "data.responseDetails", "a string", "data.responseDetails"),
    ("survey_response", "data.responseDetails", ["a", "list"], "data.responseDetails"),
    ("survey_response", "data.responseDetails", 42, "data.responseDetails"),
    (
        "survey_response",
        "data.responseDetails.responseWithQuestions",
        "text",
        "data.responseDetails.responseWithQuestions",
    ),
    (
        "survey_response",
        "data.responseDetails.responseWithQuestions",
        {"0": {}},
        "data.responseDetails.responseWithQuestions",
    ),
    (
        "survey_response",
        "data.responseDetails.responseWithQuestions.1",
        "an answer",
        "data.responseDetails.responseWithQuestions.1",
    ),
    (
        "survey_response",
        "data.responseDetails.responseWithQuestions.2",
        7,
        "data.responseDetails.responseWithQuestions.2",
    ),
    (
        "survey_response",
        "data.responseDetails.responseWithQuestions.0.title",
        ["not", "text"],
        "data.responseDetails.responseWithQuestions.0.title",
    ),
    (
        "survey_response",
        "data.responseDetails.responseWithQuestions.0.options",
        "Likely",
        "data.responseDetails.responseWithQuestions.0.options",
    ),
    (
        "survey_response",
        "data.responseDetails.responseWithQuestions.0.options.1",
        5,
        "data.responseDetails.responseWithQuestions.0.options.1",
    ),
    (
        "survey_response",
        "data.responseDetails.responseWithQuestions.5.isInvisible",
        "maybe",
        "data.responseDetails.responseWithQuestions.5.isInvisible",
    ),
    ("survey_response", "data.responderName", {"first": "A"}, "data.responderName"),
    ("survey_response", "data.isAnonymous", [], "data.isAnonymous"),
    ("survey_response", "data.responseId", 12345, "data.responseId"),
    ("survey_response", "data.responseId", "r" * 10_000, "data.responseId"),
    ("action_response", "data.responseDetails", "Yes", "data.responseDetails"),
    ("job_response", "data.responseDetails", "done", "data.responseDetails"),
    ("job_response", "data.responseDetails.response", [True], "data.responseDetails.response"),
    (
        "job_response",
        "data.responseDetails.response.isCompleted",
        {"v": 1},
        "data.responseDetails.response.isCompleted",
    ),
    ("survey_response", "data", "x", "data"),
]


@pytest.mark.parametrize(
    ("name", "path", "value", "field"),
    MALFORMED,
    ids=[f"{m[0]}:{m[1]}={type(m[2]).__name__}" for m in MALFORMED],
)
async def test_an_event_of_the_wrong_shape_is_dead_at_once_with_the_reason(
    rt: Runtime,
    token: str,
    sim: SimState,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    name: str,
    path: str,
    value: Any,
    field: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    event = sample(name)
    event["eventId"] = str(uuid.uuid4())
    event["data"]["actionId"] = action_id
    event = _set(event, path, value)

    resp = await post_event(event, token)

    assert resp.status_code == 200  # accepted: it is stored, and kept for an operator
    assert body_json(resp)["status"] == "accepted"
    row = await row_of(rt.tables, event["eventId"])
    assert (row["status"], row["attempts"]) == ("dead", 1)
    assert row["lastError"].startswith(f"EventShapeError: {field} ")
    assert len(row["lastError"]) <= 300
    assert sim.stats()["requests"] == 0  # nothing written to Dataverse
    assert tracebacks(caplog.records) == []
    clock.advance(7200)
    assert (await sweep_inbox(rt.inbound)).found == 0  # never retried


async def test_valid_events_of_every_kind_are_still_processed(
    rt: Runtime, token: str, sim: SimState, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    events = []
    for name in ("survey_response", "action_response", "job_response"):
        action_id = str(uuid.uuid4())
        await correlate(rt.tables, action_id)
        event = sample(name)
        event["eventId"] = str(uuid.uuid4())
        event["data"]["actionId"] = action_id
        events.append(event)
    # Kaizala leaves out what it has no value for; null is "no value" too.
    sparse = survey_event(events[0]["data"]["actionId"], responderName=None, isAnonymous=None)
    sparse["data"]["responseDetails"]["responseWithQuestions"][3] = {"answer": {"odd": [1]}}
    sparse["data"]["responseDetails"]["responseWithQuestions"][0]["options"] = None
    events.append(sparse)
    for event in events:
        assert body_json(await post_event(event, token))["status"] == "accepted"
        assert (await row_of(rt.tables, event["eventId"]))["status"] == "done"
    assert len(sim_tasks(sim)) == 4
    sparse_task = next(t for t in sim_tasks(sim) if sparse["eventId"] in t["description"])
    assert "Responder: Unknown" in sparse_task["description"]
    assert '(untitled question)\n   {"odd":[1]}' in sparse_task["description"]
    assert tracebacks(caplog.records) == []


# ---- values that try to forge log lines -------------------------------------------------------

HOSTILE = "\r\nFAKE result=ignored \x1b[31mred\x1b[0m\u2028" + "x" * 10_240
MAX_RECORD_CHARS = 1000


def leaf_paths(value: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaf_paths(item, f"{prefix}{key}.")
    elif isinstance(value, list) and value:
        for n, item in enumerate(value):
            yield from leaf_paths(item, f"{prefix}{n}.")
    else:
        yield prefix[:-1]


def everywhere(value: Any, keep: dict[str, Any]) -> Any:
    """`value` with every leaf HOSTILE, except the paths in `keep`."""
    result = value
    for path in leaf_paths(value):
        result = _set(result, path, keep.get(path, HOSTILE))
    return result


def assert_one_line_each(records: list[logging.LogRecord]) -> None:
    ours = [r for r in records if not r.name.startswith(("devtools", "uvicorn"))]
    assert ours
    for record in ours:
        message = record.getMessage()
        for char in ("\n", "\r", "\x1b", "\u2028"):
            assert char not in message, (record.name, message[:200])
        assert len(message) <= MAX_RECORD_CHARS, (record.name, message[:200])
        assert record.exc_info is None, (record.name, message[:200])
        assert "FAKE result" not in message.split("result=")[0]


@pytest.mark.parametrize("name", ["survey_response", "text_message_created", "job_response"])
async def test_hostile_text_in_any_field_of_an_event_stays_on_one_log_line(
    rt: Runtime, token: str, clock: Clock, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    caplog.set_level(logging.DEBUG)
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    base = sample(name)
    base["data"]["actionId"] = action_id
    variants = []
    for path in leaf_paths(base):
        variant = _set(base, path, HOSTILE)
        if path != "eventId":
            variant["eventId"] = str(uuid.uuid4())
        variants.append(variant)
    # Everything at once: with the event type kept (processed), and with it hostile too.
    keep = {"eventType": base["eventType"], "data.actionId": action_id}
    variants.append(everywhere(base, {**keep, "eventId": str(uuid.uuid4())}))
    variants.append(everywhere(base, {**keep, "data.responseId": str(uuid.uuid4())}))
    variants.append(everywhere(base, {}))
    for variant in variants:
        resp = await post_event(variant, token)
        assert resp.status_code in (200, 400), resp.get_body()
    clock.advance(3600)
    await sweep_inbox(rt.inbound)
    assert_one_line_each(caplog.records)


async def test_hostile_text_in_request_bodies_stays_on_one_log_line(
    rt: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bodies: list[tuple[str, str, dict[str, Any]]] = [
        (
            "send_action",
            "/api/actions",
            {
                "groupId": "8c291050-9be8-45d6-97f5-bb7013930027",
                "template": "opportunity-survey",
                "variables": {"opportunityName": HOSTILE[:300], "x": HOSTILE},
                "regarding": {"id": CONTOSO, "name": HOSTILE[:200]},
            },
        ),
        (
            "send_action",
            "/api/actions",
            {
                "groupId": "8c291050-9be8-45d6-97f5-bb7013930027",
                "actionType": "Message",
                "actionBody": {"message": HOSTILE[:4000]},
                "regarding": {"id": CONTOSO, "name": HOSTILE[:200]},
            },
        ),
        ("inbox_replay", "/api/manage/inbox/replay", {"eventId": HOSTILE[:1000]}),
        (
            "dynamics_opportunities",
            "/api/dynamics/opportunities",
            {
                "MessageName": "Create",
                "PrimaryEntityName": "opportunity",
                "PrimaryEntityId": CONTOSO,
                "InputParameters": [
                    {"key": "Target", "value": {"Attributes": [{"key": "name", "value": HOSTILE}]}}
                ],
            },
        ),
    ]
    members = [{"mobileNumber": "+919100000001", "name": HOSTILE[:200]}]
    bodies.append(("create_group", "/api/groups", {"name": HOSTILE[:256], "members": members}))
    for name, path, body in bodies:
        for headers in ({}, {"Idempotency-Key": HOSTILE[:100]}):
            await call(name, request("POST", path, body=body, headers=headers))
    group = {"groupId": "g-1"}
    await call(
        "add_group_members",
        request("PUT", "/api/groups/g-1/members", body={"members": members}, route_params=group),
    )
    assert_one_line_each(caplog.records)
