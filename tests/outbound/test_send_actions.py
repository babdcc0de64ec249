"""POST /api/actions and friends over the real stack: Azurite + the Kaizala simulator."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.secrets import REFRESH_TOKEN
from shared.runtime import Runtime
from tests.bridge_fixtures import OPPORTUNITY, SAMPLE_GROUP, KaizalaSim, bridge_env
from tests.conftest import installed_runtime
from tests.outbound.conftest import ShiftedClock
from tests.support import body_json, call, request, run_timer

REGARDING = {"entityType": "opportunity", "id": OPPORTUNITY, "name": "Contoso – 500 laptops"}

BODIES: dict[str, dict[str, Any]] = {
    "Survey": {
        "actionType": "Survey",
        "actionBody": {
            "title": "Qualify Contoso",
            "questions": [
                {
                    "title": "Close?",
                    "type": "SingleOption",
                    "options": [{"title": "Yes"}, {"title": "No"}],
                },
                {"title": "Budget", "type": "Numeric"},
            ],
        },
    },
    "Poll": {
        "actionType": "Poll",
        "actionBody": {"question": "Demo day?", "choices": [{"title": "Mon"}, {"title": "Tue"}]},
    },
    "Job": {
        "actionType": "Job",
        "actionBody": {
            "title": "Call the customer",
            "assignedTo": ["+919100000002"],
            "dueDate": 24,
        },
    },
    "Announcement": {
        "actionType": "Announcement",
        "actionBody": {"Title": "New deal", "Message": "Contoso wants 500 laptops"},
    },
    "LetsMeet": {
        "actionType": "LetsMeet",
        "actionBody": {
            "title": "Deal review",
            "startingTime": "2026-12-01T10:00:00Z",
            "durationInMins": 30,
        },
    },
    "Message": {"actionType": "Message", "actionBody": {"message": "A new opportunity arrived"}},
}


def action_request(kind: str = "Survey", **overrides: Any) -> dict[str, Any]:
    body = {"groupId": SAMPLE_GROUP, **copy.deepcopy(BODIES[kind]), "regarding": REGARDING}
    body.update(overrides)
    return body


def post(body: Any, headers: dict[str, str] | None = None):
    return call("send_action", request("POST", "/api/actions", body=body, headers=headers))


def sends(kaizala: KaizalaSim) -> int:
    return len(kaizala.calls("/actions", "POST")) + len(kaizala.calls("/messages", "POST"))


async def rows(rt: Runtime, table: str) -> list[dict[str, Any]]:
    return [r.entity async for r in rt.tables.query(table, "PartitionKey ne ''")]


@pytest.mark.parametrize("kind", sorted(BODIES))
async def test_happy_path_per_action_type(bridge: Runtime, kaizala: KaizalaSim, kind: str) -> None:
    resp = await post(action_request(kind))
    body = body_json(resp)
    assert resp.status_code == 201, body
    assert body["status"] == "sent"
    assert body["referenceId"]
    assert sends(kaizala) == 1
    status = body_json(
        await call(
            "get_action",
            request(
                "GET",
                f"/api/actions/{body['correlationId']}",
                route_params={"correlationId": body["correlationId"]},
            ),
        )
    )
    assert status["status"] == "sent"
    assert status["regarding"]["id"] == OPPORTUNITY
    if kind != "Message":
        assert body["actionId"]
        group_actions = [a for a in kaizala.state()["actions"] if a.get("groupId") == SAMPLE_GROUP]
        assert any(a.get("actionId") == body["actionId"] for a in group_actions)
        index = await rows(bridge, "actionindex")
        assert index[0]["PartitionKey"] == body["actionId"]
        assert index[0]["regardingId"] == OPPORTUNITY


async def test_custom_action_package(bridge: Runtime, kaizala: KaizalaSim) -> None:
    req = {
        "groupId": SAMPLE_GROUP,
        "actionType": "Custom",
        "actionPackageId": "com-contoso-visit-1",
        "actionBody": {"properties": [{"name": "site", "type": "Text", "value": "Pune"}]},
        "regarding": REGARDING,
    }
    resp = await post(req)
    assert resp.status_code == 201, body_json(resp)
    assert sends(kaizala) == 1


async def test_template_sends_filled_survey(bridge: Runtime, kaizala: KaizalaSim) -> None:
    req = {
        "groupId": SAMPLE_GROUP,
        "template": "opportunity-survey",
        "variables": {"opportunityName": "Contoso {{x}} <b>", "opportunityId": OPPORTUNITY},
        "regarding": REGARDING,
    }
    resp = await post(req)
    body = body_json(resp)
    assert resp.status_code == 201, body
    action = next(a for a in kaizala.state()["actions"] if a.get("actionId") == body["actionId"])
    assert "Contoso {{x}} <b>" in json.dumps(action)


async def test_idempotent_repeat(bridge: Runtime, kaizala: KaizalaSim) -> None:
    first = await post(action_request(), {"Idempotency-Key": "crm-123"})
    again = await post(action_request(), {"Idempotency-Key": "crm-123"})
    assert first.status_code == 201
    assert again.status_code == 200
    assert body_json(again) == body_json(first)
    # without a header the content is the key
    third = await post(action_request("Poll"))
    fourth = await post(action_request("Poll"))
    assert (third.status_code, fourth.status_code) == (201, 200)
    assert sends(kaizala) == 2


async def test_key_reuse_with_other_content_conflicts(bridge: Runtime, kaizala: KaizalaSim) -> None:
    await post(action_request(), {"Idempotency-Key": "k-1"})
    resp = await post(action_request("Poll"), {"Idempotency-Key": "k-1"})
    assert resp.status_code == 409
    assert sends(kaizala) == 1


async def test_concurrent_duplicates_make_one_call(bridge: Runtime, kaizala: KaizalaSim) -> None:
    results = await asyncio.gather(*(post(action_request()) for _ in range(5)))
    codes = sorted(r.status_code for r in results)
    assert codes == [200, 200, 200, 200, 201]
    assert len({body_json(r)["actionId"] for r in results}) == 1
    assert sends(kaizala) == 1


# (case, payload, the status, and the field the problem blames: `errors[0].field`, or for a body
# that is not a JSON object at all, its `detail`)
BAD_INPUTS: list[tuple[str, Any, int, str]] = [
    ("groupId path", action_request(groupId="../webhook"), 400, "groupId"),
    ("groupId long", action_request(groupId="a" * 65), 400, "groupId"),
    ("groupId query", action_request(groupId="g?x=1"), 400, "groupId"),
    ("regarding.id", action_request(regarding={"id": "not-a-guid"}), 400, "regarding.id"),
    ("extra", {**action_request(), "surprise": 1}, 400, "surprise"),
    (
        "no questions",
        action_request(actionBody={"title": "t", "questions": []}),
        400,
        "actionBody.questions",
    ),
    (
        "options missing",
        action_request(
            actionBody={"title": "t", "questions": [{"title": "q", "type": "SingleOption"}]}
        ),
        400,
        "actionBody.questions.0",
    ),
    (
        "options on text",
        action_request(
            actionBody={
                "title": "t",
                "questions": [
                    {"title": "q", "type": "Text", "options": [{"title": "a"}, {"title": "b"}]}
                ],
            }
        ),
        400,
        "actionBody.questions.0",
    ),
    (
        "question type",
        action_request(actionBody={"title": "t", "questions": [{"title": "q", "type": "Essay"}]}),
        400,
        "actionBody.questions.0.type",
    ),
    (
        "title",
        action_request(
            actionBody={"title": "x" * 201, "questions": [{"title": "q", "type": "Text"}]}
        ),
        400,
        "actionBody.title",
    ),
    ("both", {**action_request(), "template": "opportunity-survey"}, 400, "(body)"),
    ("neither", {"groupId": SAMPLE_GROUP, "regarding": REGARDING}, 400, "(body)"),
    ("package", {**action_request(), "actionPackageId": "pkg-1"}, 400, "(body)"),
    (
        "template",
        {"groupId": SAMPLE_GROUP, "template": "../../etc/passwd", "regarding": REGARDING},
        400,
        "template",
    ),
    (
        "variables",
        {
            "groupId": SAMPLE_GROUP,
            "template": "opportunity-survey",
            "variables": {},
            "regarding": REGARDING,
        },
        400,
        "variables.opportunityName",
    ),
    (
        "job phone",
        action_request("Job", actionBody={"title": "t", "assignedTo": ["12345"]}),
        400,
        "actionBody",
    ),
    ("action type", action_request(actionType="Essay"), 400, "actionType"),
    # Lax values are refused, not guessed at: "yes" is not true, "48" is not 48.
    *[
        (
            f"strict {field}={value!r}",
            action_request(actionBody={**BODIES["Survey"]["actionBody"], field: value}),
            400,
            f"actionBody.{field}",
        )
        for field, value in (
            ("isAnonymous", "yes"),
            ("isAnonymous", 1),
            ("isAnonymous", "true"),
            ("acceptMultipleResponses", "false"),
            ("dueDate", "48"),
            ("dueDate", 48.0),
        )
    ],
    (
        "strict place",
        action_request(
            "LetsMeet",
            actionBody={
                **BODIES["LetsMeet"]["actionBody"],
                "place": {"latitude": "18.5", "longitude": 73.8},
            },
        ),
        400,
        "actionBody.place.latitude",
    ),
    # A template variable is named when it is not a plain value or too long, or when it
    # makes a field of the filled template too long.
    *[
        (
            f"variable {case}",
            {
                "groupId": SAMPLE_GROUP,
                "template": "opportunity-survey",
                "variables": {"opportunityName": value},
                "regarding": REGARDING,
            },
            400,
            "variables.opportunityName",
        )
        for case, value in (
            ("list", ["Contoso"]),
            ("object", {"name": "Contoso"}),
            ("null", None),
            ("too long", "x" * 4001),
            ("too long once filled", "x" * 195),
        )
    ],
    ("not json", "{not json", 400, "The body is not valid JSON."),
    ("not json: NaN", '{"a": NaN}', 400, "The body is not valid JSON."),
    (
        "too deep",
        '{"groupId":' + "[" * 10_000 + "]" * 10_000 + "}",
        400,
        "The body is nested deeper than 64 levels.",
    ),
    ("array", [1, 2], 400, "The body must be a JSON object."),
    (
        "big",
        {**action_request(), "regarding": {**REGARDING, "name": "x" * 70_000}},
        413,
        "The body is larger than 65536 bytes.",
    ),
]


@pytest.mark.parametrize(
    ("case", "payload", "status", "blamed"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS]
)
async def test_bad_input_rejected_before_anything(
    bridge: Runtime, kaizala: KaizalaSim, case: str, payload: Any, status: int, blamed: str
) -> None:
    resp = await post(payload, {"content-type": "application/json"})
    assert resp.status_code == status, (case, resp.get_body())
    assert resp.mimetype == "application/problem+json"
    problem = body_json(resp)
    assert problem["status"] == status
    if "errors" in problem and not blamed.startswith("The body"):
        assert problem["errors"][0]["field"] == blamed, problem
        assert blamed.rsplit(".", 1)[-1] in problem["detail"]  # the detail names it too
    else:
        assert problem["detail"] == blamed, problem
    assert sends(kaizala) == 0
    assert await rows(bridge, "actions") == []
    assert await rows(bridge, "outbox") == []


async def test_bad_idempotency_key(bridge: Runtime, kaizala: KaizalaSim) -> None:
    resp = await post(action_request(), {"Idempotency-Key": "with space"})
    assert resp.status_code == 400
    assert sends(kaizala) == 0


async def test_unknown_group_fails_once(bridge: Runtime, kaizala: KaizalaSim) -> None:
    resp = await post(action_request(groupId="0000-missing"))
    assert resp.status_code == 502
    problem = body_json(resp)
    assert problem["correlationId"]
    again = await post(action_request(groupId="0000-missing"))
    assert again.status_code == 502
    assert sends(kaizala) == 1


async def test_get_unknown_action_404(bridge: Runtime) -> None:
    for cid in ("5f0e4c3a-0000-4000-8000-000000000000", "../x", "nope"):
        resp = await call(
            "get_action", request("GET", f"/api/actions/{cid}", route_params={"correlationId": cid})
        )
        assert resp.status_code == 404


async def test_throttled_by_kaizala_is_queued_then_drained(
    bridge: Runtime, kaizala: KaizalaSim
) -> None:
    kaizala.control(
        "POST",
        "faults",
        json={"pathRegex": "/actions$", "status": 429, "count": 3, "retryAfter": 1},
    )
    resp = await post(action_request())
    assert resp.status_code == 202
    body = body_json(resp)
    assert body["status"] == "queued"
    # Absolute, from the request's scheme and host: a connector polls it as given.
    location = f"http://localhost:7071/api/actions/{body['correlationId']}"
    assert resp.headers["Location"] == location

    async def poll() -> Any:
        path = location.removeprefix("http://localhost:7071")
        return await call(
            "get_action",
            request("GET", path, route_params={"correlationId": body["correlationId"]}),
        )

    pending = await poll()  # Power Automate polls the Location until a non-202
    assert pending.status_code == 202
    assert pending.headers["Location"] == location
    assert body_json(pending)["status"] == "queued"
    await run_timer("drain_outbox")
    done = await poll()
    assert done.status_code == 200
    assert body_json(done)["status"] == "sent"
    assert await rows(bridge, "outbox") == []


async def test_dynamics_create_opportunity_sends_once(bridge: Runtime, kaizala: KaizalaSim) -> None:
    ctx = {
        "MessageName": "Create",
        "PrimaryEntityName": "opportunity",
        "PrimaryEntityId": OPPORTUNITY,
        "Depth": 1,
        "InputParameters": [
            {
                "key": "Target",
                "value": {
                    "LogicalName": "opportunity",
                    "Id": OPPORTUNITY,
                    "Attributes": [{"key": "name", "value": "Contoso – 500 laptops"}],
                },
            }
        ],
        "OrganizationName": "contoso",
        "CorrelationId": "0c8f0000-0000-4000-8000-000000000001",
    }
    first = await call(
        "dynamics_opportunities", request("POST", "/api/dynamics/opportunities", body=ctx)
    )
    second = await call(
        "dynamics_opportunities", request("POST", "/api/dynamics/opportunities", body=ctx)
    )
    assert first.status_code == 201, body_json(first)
    assert second.status_code == 200
    assert sends(kaizala) == 1
    action = next(
        a for a in kaizala.state()["actions"] if a.get("actionId") == body_json(first)["actionId"]
    )
    assert "Contoso – 500 laptops" in json.dumps(action, ensure_ascii=False)
    other = {**ctx, "MessageName": "Update"}
    resp = await call(
        "dynamics_opportunities", request("POST", "/api/dynamics/opportunities", body=other)
    )
    assert resp.status_code == 200
    assert body_json(resp)["status"] == "ignored"
    assert sends(kaizala) == 1


async def test_retention_forgets_old_correlations_but_not_queued_ones(
    bridge: Runtime, kaizala: KaizalaSim, clock: ShiftedClock
) -> None:
    sent = body_json(await post(action_request()))
    kaizala.control(
        "POST",
        "faults",
        json={"pathRegex": "/actions$", "status": 429, "count": 3, "retryAfter": 1},
    )
    queued = body_json(await post(action_request("Poll")))
    assert queued["status"] == "queued"
    clock.offset += 31 * 86400
    assert await bridge.outbound.expire() == 2  # the sent action and its index row
    assert await bridge.tables.get("actions", sent["correlationId"], "a") is None
    assert await bridge.tables.get("actionindex", sent["actionId"], "c") is None
    assert await bridge.tables.get("actions", queued["correlationId"], "a") is not None


async def test_not_onboarded_is_queued_then_sent_after_onboarding(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path
) -> None:
    values = bridge_env(env, kaizala, tmp_path)
    del values["KAIZALA_REFRESH_TOKEN"]
    async with installed_runtime(values) as rt:
        resp = await post(action_request())
        assert resp.status_code == 202
        body = body_json(resp)
        assert body["status"] == "queued"  # certainly not sent: no token could be obtained
        stored = await rt.tables.get("actions", body["correlationId"], "a")
        assert stored is not None
        assert "NotOnboarded" in stored.entity["lastError"]
        report = await rt.outbound.drain(max_seconds=5)
        assert report["blocked"] == 1
        assert sends(kaizala) == 0
        await rt.secrets.set(REFRESH_TOKEN, kaizala.refresh_token())
        report = await rt.outbound.drain(max_seconds=5)
        assert report["sent"] == 1
        assert sends(kaizala) == 1
