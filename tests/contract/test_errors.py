"""The simulator answers each documented error case the way the docs say.

For every operation, the valid request of its case (test_requests) is broken in each way the
swagger's declaration allows, one at a time, and sent again as it is, by plain HTTP: a required
body field left out, a field of the wrong JSON type, a field name in the wrong case, a required
header or query parameter left out. The simulator must refuse each (400 naming the field; a
missing `accessToken` 401; a missing `Content-Type` 415), except where README.md ("Where the
swagger contradicts itself") says it departs from the schema, which is asserted too. Then the
error cases the docs name outright: limits, 429 with Retry-After, 308 with Location, a failed
validation handshake.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from devtools.kaizala_sim import SAMPLE_APPLICATION_ID, SAMPLE_GROUP_ID
from tests.contract.cases import CASES, Case
from tests.contract.conftest import World, new_number
from tests.contract.swagger import Sent, document, operations

Path = tuple[str | int, ...]

# Where the simulator departs from a schema on purpose (README.md, "Where the swagger
# contradicts itself"): PostingActionResponse takes id or actionType, as its description and
# example say, though its required list names both.
ACCEPTED = {
    ("PostingActionResponse", "missing", ("id",)),
    ("PostingActionResponse", "missing", ("actionType",)),
}
# Values the route checks itself, by question type (the swagger's `Answer` describes only a
# location answer): refused, but with the route's own wording.
ROUTE_CHECKED = {("PostingSurveyResponse", ("actionBody", "Answers"))}
WRONG_TYPE = {"string": 12345, "integer": "12", "number": "1.5", "boolean": "true"}


@dataclass(frozen=True)
class Mutation:
    kind: str  # missing | wrong-type | miscased
    path: Path
    wrong: Any = None  # the wrong-type value

    @property
    def field(self) -> str:
        return str(self.path[-1])

    def apply(self, body: Any) -> Any:
        broken = copy.deepcopy(body)
        parent = broken
        for step in self.path[:-1]:
            parent = parent[step]
        key = self.path[-1]
        if self.kind == "missing":
            del parent[key]
        elif self.kind == "miscased":
            parent[_miscased(str(key))] = parent.pop(key)
        else:
            parent[key] = self.wrong
        return broken


def _miscased(name: str) -> str:
    return name[0].swapcase() + name[1:]


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document()["definitions"][schema["$ref"].split("/")[-1]]
    return schema


def mutations(value: Any, schema: dict[str, Any], path: Path = ()) -> Iterator[Mutation]:
    schema = _resolve(schema)
    if isinstance(value, dict) and (schema.get("type") == "object" or "properties" in schema):
        props: dict[str, Any] = schema.get("properties", {})
        for name in schema.get("required", []):
            if name in value:
                yield Mutation("missing", (*path, name))
        for name, item in value.items():
            if name not in props:
                continue
            sub = _resolve(props[name])
            if _miscased(name) not in props:
                yield Mutation("miscased", (*path, name))
            wrong = WRONG_TYPE.get(sub.get("type", ""), "a string" if sub.get("type") else None)
            if wrong is not None:
                yield Mutation("wrong-type", (*path, name), wrong)
            yield from mutations(item, sub, (*path, name))
    elif isinstance(value, list) and value and "items" in schema:
        yield from mutations(value[0], schema["items"], (*path, 0))


def _body_schema(operation: str) -> dict[str, Any] | None:
    for param in operations()[operation][2]["parameters"]:
        if param["in"] == "body":
            schema: dict[str, Any] = param["schema"]
            return schema
    return None


async def _send(
    sent: Sent, *, body: Any = None, drop_header: str | None = None, drop_query: str | None = None
) -> httpx.Response:
    headers = {k: v for k, v in sent.headers.items() if k.lower() != "content-length"}
    if drop_header is not None:
        headers = {k: v for k, v in headers.items() if k.lower() != drop_header.lower()}
    url = sent.url.copy_remove_param(drop_query) if drop_query else sent.url
    content = sent.content if body is None else json.dumps(body).encode()
    async with httpx.AsyncClient(timeout=15.0) as http:
        return await http.request(sent.method, url, headers=headers, content=content)


def _route_checked(case: Case, path: Path) -> bool:
    return any(case.operation == op and path[: len(p)] == p for op, p in ROUTE_CHECKED)


@pytest.mark.parametrize("case", CASES, ids=[c.operation for c in CASES])
async def test_each_way_to_break_the_request_is_refused(world: World, case: Case) -> None:
    _, sent = await case.run(world)
    assert 200 <= sent.status < 300, sent.answer
    checked: list[str] = []
    schema = _body_schema(case.operation)
    if schema is not None:
        for mutation in mutations(sent.json(), schema):
            answer = await _send(sent, body=mutation.apply(sent.json()))
            what = f"{mutation.kind} {'.'.join(map(str, mutation.path))}"
            checked.append(what)
            if (case.operation, mutation.kind, mutation.path) in ACCEPTED:
                assert answer.status_code == 200, (what, answer.text)
                continue
            assert (answer.status_code, answer.json().get("code")) == (400, "BadRequest"), (
                what,
                answer.text,
            )
            if not _route_checked(case, mutation.path):
                named = _miscased(mutation.field) if mutation.kind == "miscased" else mutation.field
                assert named in answer.json()["message"], (what, answer.text)
    for param in operations()[case.operation][2]["parameters"]:
        if not param.get("required") or param["in"] not in ("header", "query"):
            continue
        if param["in"] == "header":
            answer = await _send(sent, drop_header=param["name"])
            expected = {"accesstoken": 401, "content-type": 415}.get(param["name"].lower(), 400)
        else:
            answer = await _send(sent, drop_query=param["name"])
            expected = 400
        checked.append(f"no {param['in']} {param['name']}")
        assert answer.status_code == expected, (param["name"], answer.text)
        if expected == 400:
            assert param["name"] in answer.json()["message"]
    assert checked, "nothing of this operation can be broken?"


# -- the error cases the docs name --------------------------------------------------------------
async def _token(world: World) -> tuple[str, str]:
    token = await world.tokens.current()
    return token.value, f"{token.endpoint_url}v1"


async def test_limits_the_docs_state(world: World) -> None:
    token, base = await _token(world)
    headers = {"accessToken": token}
    group = f"{base}/groups/{SAMPLE_GROUP_ID}"
    public, _ = await world.public_group()
    too_many = [f"+9193000{i:05d}" for i in range(101)]  # "maximum of 100 mobile numbers"
    create = {"name": "Big", "welcomeMessage": "", "members": too_many, "groupType": "Group"}
    subscriber_message = {"Message": "x" * 1001, "subscribers": [], "sendToAllSubscribers": True}
    async with httpx.AsyncClient(timeout=15.0, headers=headers) as http:
        refused = [
            await http.post(f"{base}/groups", json=create),
            await http.post(f"{group}/messages", json={"message": "x" * 4001}),
            await http.post(f"{base}/groups/{public}/messages", json=subscriber_message),
            # GetSubscribers: "Default: 50. Maximum: 50".
            await http.post(
                f"{base}/groups/{public}/subscribers", json={"count": 51, "cursor": ""}
            ),
        ]
        accepted = [
            await http.post(f"{group}/messages", json={"message": "x" * 4000}),
            await http.post(
                f"{base}/groups/{public}/messages",
                json={**subscriber_message, "Message": "x" * 1000},
            ),
            await http.post(
                f"{base}/groups/{public}/subscribers", json={"count": 50, "cursor": ""}
            ),
        ]
    assert [r.status_code for r in refused] == [400] * 4, [r.text for r in refused]
    assert [r.status_code for r in accepted] == [200] * 3, [r.text for r in accepted]


async def test_a_member_is_removed_by_id_not_by_phone_number(world: World) -> None:
    token, base = await _token(world)
    group = await world.new_group()
    number = new_number()
    await world.client.add_members(group, [number])
    async with httpx.AsyncClient(timeout=15.0, headers={"accessToken": token}) as http:
        by_number = await http.delete(f"{base}/groups/{group}/members/{number}")
    assert by_number.status_code == 400
    assert "member's id" in by_number.json()["message"]
    assert number in {m.mobileNumber for m in await world.client.list_members(group)}


async def test_credentials_refused_as_unauthorized(world: World) -> None:
    token, base = await _token(world)
    async with httpx.AsyncClient(timeout=15.0) as http:
        unknown = await http.get(f"{base}/groups", headers={"accessToken": "not-a-token"})
        other_connector = await http.get(
            f"{base}/groups/{SAMPLE_GROUP_ID}",
            headers={"accessToken": token, "applicationId": "another-connector"},
        )
        own = await http.get(
            f"{base}/groups/{SAMPLE_GROUP_ID}",
            headers={"accessToken": token, "applicationId": SAMPLE_APPLICATION_ID},
        )
    assert (unknown.status_code, other_connector.status_code, own.status_code) == (401, 401, 200)


async def test_over_the_throttle_429_with_retry_after(world: World) -> None:
    token, base = await _token(world)
    # "100 calls/min per connector": a small limit shows it in a few calls.
    world.control.post("/_sim/config", json={"connectorLimitPerWindow": 2})
    try:
        async with httpx.AsyncClient(timeout=15.0, headers={"accessToken": token}) as http:
            answers = [await http.get(f"{base}/groups") for _ in range(3)]
    finally:
        world.control.post("/_sim/config", json={"connectorLimitPerWindow": 100_000})
    assert [a.status_code for a in answers][-1] == 429
    assert int(answers[-1].headers["Retry-After"]) >= 1


async def test_a_moved_endpoint_answers_308_with_location(world: World) -> None:
    token, base = await _token(world)
    target = f"{world.sim_url}/ep/inc-000/"
    move = {"location": target, "appendPath": True, "count": 1}
    assert world.control.post("/_sim/endpoint/move", json=move).status_code == 200
    async with httpx.AsyncClient(timeout=15.0, headers={"accessToken": token}) as http:
        moved = await http.get(f"{base}/groups")
        after = await http.get(f"{base}/groups")
    assert moved.status_code == 308
    assert moved.headers["Location"] == f"{target}v1/groups"
    assert after.status_code == 200


async def test_a_failed_validation_handshake_rejects_the_subscription(world: World) -> None:
    webhook = world.webhook(callBackUrl=f"{world.receiver_url}/wrong-echo")
    token, base = await _token(world)
    async with httpx.AsyncClient(timeout=15.0, headers={"accessToken": token}) as http:
        answer = await http.post(f"{base}/webhook", json=webhook.model_dump())
    assert (answer.status_code, answer.json()["code"]) == (400, "WebhookValidationFailed")
    hooks = await world.client.list_webhooks(SAMPLE_GROUP_ID, "Group")
    assert all(not (h.callbackUrl or "").endswith("/wrong-echo") for h in hooks)


async def test_a_media_part_without_its_content_type_is_415(world: World) -> None:
    token, base = await _token(world)
    boundary = "contract-boundary"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="FileName"; filename="a.jpg"\r\n\r\n'
        f"jpeg\r\n--{boundary}--\r\n"
    ).encode()
    headers = {"accessToken": token, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    async with httpx.AsyncClient(timeout=15.0) as http:
        answer = await http.post(f"{base}/media", headers=headers, content=body)
    assert (answer.status_code, answer.json()["code"]) == (415, "UnsupportedMediaType")
