"""The Dataverse simulator over real HTTP: the Web API subset, its rules, and the control API."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devtools.dataverse_sim import DEFAULT_TOKEN, SimState
from devtools.serving import ServerThread
from tests.dataverse.conftest import CONTOSO, FABRIKAM, UNKNOWN_OPPORTUNITY

API = "/api/data/v9.2"
HEADERS = {
    "Authorization": f"Bearer {DEFAULT_TOKEN}",
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "Accept": "application/json",
}


def bind(opportunity: str = CONTOSO, table: str = "task") -> dict[str, str]:
    return {f"regardingobjectid_opportunity_{table}@odata.bind": f"/opportunities({opportunity})"}


@pytest.fixture(scope="session")
def http(sim_server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sim_server.url, headers=HEADERS, timeout=5) as client:
        yield client


@pytest.fixture(scope="session")
def control(sim_server: ServerThread) -> Iterator[httpx.Client]:
    """No credentials: for the control API and for anonymous Web API calls."""
    with httpx.Client(base_url=sim_server.url, timeout=5) as client:
        yield client


def patch(
    http: httpx.Client, entity_set: str, key: str, body: dict[str, Any], **headers: str
) -> httpx.Response:
    return http.patch(f"{API}/{entity_set}({key})", json=body, headers=headers)


def test_web_api_requires_the_bearer_token(http: httpx.Client, control: httpx.Client) -> None:
    anonymous = control.get(f"{API}/tasks")
    wrong = http.get(f"{API}/tasks", headers={"Authorization": "Bearer not-the-token"})
    right = http.get(f"{API}/tasks")

    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"].startswith("0x8")
    assert wrong.status_code == 401
    assert right.status_code == 200
    assert control.get("/_sim/state").status_code == 200


def test_patch_upsert_creates_then_updates_the_same_row(http: httpx.Client, sim: SimState) -> None:
    key = str(uuid.uuid4())
    first = patch(http, "tasks", key, {"subject": "first", **bind()})
    created = sim.activities("tasks")[0]
    second = patch(http, "tasks", key, {"subject": "second", "description": "more", **bind()})

    assert (first.status_code, second.status_code) == (204, 204)
    assert first.headers["OData-EntityId"].endswith(f"{API}/tasks({key})")
    rows = sim.activities("tasks")
    assert len(rows) == 1
    row = rows[0]
    assert (row["activityid"], row["subject"], row["description"]) == (key, "second", "more")
    assert row["_regardingobjectid_value"] == CONTOSO
    assert row["createdon"] == created["createdon"]
    assert row["versionnumber"] > created["versionnumber"]


def test_if_match_and_if_none_match(http: httpx.Client, sim: SimState) -> None:
    key = str(uuid.uuid4())
    update_only = patch(http, "tasks", key, {"subject": "x", **bind()}, **{"If-Match": "*"})
    assert update_only.status_code == 404
    assert sim.activities("tasks") == []

    create_only = {"If-None-Match": "*"}
    assert patch(http, "tasks", key, {"subject": "a", **bind()}, **create_only).status_code == 204
    again = patch(http, "tasks", key, {"subject": "b", **bind()}, **create_only)
    assert again.status_code == 412
    assert again.json()["error"]["code"] == "0x80040237"
    assert patch(http, "tasks", key, {"subject": "c"}, **{"If-Match": "*"}).status_code == 204
    assert [r["subject"] for r in sim.activities("tasks")] == ["c"]


@pytest.mark.parametrize(
    ("entity_set", "prop"),
    [
        ("tasks", "regardingobjectid_opportunity"),  # activitypointer's name: rejected on tasks
        ("tasks", "regardingobjectid_opportunity_phonecall"),
        ("phonecalls", "regardingobjectid_opportunity_task"),
    ],
)
def test_regarding_bind_name_must_fit_the_table(
    http: httpx.Client, sim: SimState, entity_set: str, prop: str
) -> None:
    body = {"subject": "s", f"{prop}@odata.bind": f"/opportunities({CONTOSO})"}
    response = patch(http, entity_set, str(uuid.uuid4()), body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "0x80060888"
    assert "undeclared property" in response.json()["error"]["message"]
    assert sim.activities(entity_set) == []


def test_phonecall_bind_is_accepted_on_phonecalls(http: httpx.Client, sim: SimState) -> None:
    response = patch(
        http, "phonecalls", str(uuid.uuid4()), {"subject": "c", **bind(table="phonecall")}
    )

    assert response.status_code == 204
    assert sim.activities("phonecalls")[0]["_regardingobjectid_value"] == CONTOSO


def test_bind_to_an_unknown_opportunity_fails_until_it_is_seeded(
    http: httpx.Client, control: httpx.Client, sim: SimState
) -> None:
    key = str(uuid.uuid4())
    missing = patch(http, "tasks", key, {"subject": "s", **bind(UNKNOWN_OPPORTUNITY)})
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "0x80040217"
    assert sim.activities("tasks") == []

    seeded = control.post(
        "/_sim/opportunities",
        json={"id": UNKNOWN_OPPORTUNITY, "name": "Adatum \N{EN DASH} 3 servers"},
        timeout=5,
    )
    assert seeded.status_code == 201
    assert (
        patch(http, "tasks", key, {"subject": "s", **bind(UNKNOWN_OPPORTUNITY)}).status_code == 204
    )
    one = http.get(f"{API}/opportunities({UNKNOWN_OPPORTUNITY})")
    assert one.json()["name"] == "Adatum \N{EN DASH} 3 servers"


def test_filter_by_regarding_with_select_and_orderby(http: httpx.Client) -> None:
    for subject, opportunity in (("b", CONTOSO), ("a", CONTOSO), ("z", FABRIKAM)):
        patch(http, "tasks", str(uuid.uuid4()), {"subject": subject, **bind(opportunity)})

    response = http.get(
        f"{API}/tasks",
        params={
            "$filter": f"_regardingobjectid_value eq {CONTOSO}",
            "$select": "subject",
            "$orderby": "subject desc",
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert body["@odata.context"].endswith("$metadata#tasks(subject)")
    assert [r["subject"] for r in body["value"]] == ["b", "a"]
    assert set(body["value"][0]) == {"@odata.etag", "activityid", "subject"}


def test_unsupported_query_is_an_odata_error(http: httpx.Client) -> None:
    bad_filter = http.get(f"{API}/tasks", params={"$filter": "contains(subject,'x')"})
    bad_select = http.get(f"{API}/tasks", params={"$select": "nosuchcolumn"})
    bad_set = http.get(f"{API}/letters")

    assert bad_filter.status_code == 400
    assert bad_select.status_code == 400
    assert bad_set.status_code == 404
    assert bad_set.json()["error"]["code"] == "0x8006088a"


def test_post_creates_with_entity_id_or_representation(http: httpx.Client, sim: SimState) -> None:
    plain = http.post(f"{API}/tasks", json={"subject": "p", **bind()})
    shown = http.post(
        f"{API}/tasks",
        json={"subject": "r", **bind()},
        headers={"Prefer": "return=representation"},
    )

    assert plain.status_code == 204
    new_id = plain.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    assert (
        http.get(f"{API}/tasks({new_id})", params={"$select": "subject"}).json()["subject"] == "p"
    )
    assert shown.status_code == 201
    assert shown.json()["subject"] == "r"
    assert len(sim.activities("tasks")) == 2


def test_subject_longer_than_200_utf16_units_is_rejected(http: httpx.Client, sim: SimState) -> None:
    too_long = patch(http, "tasks", str(uuid.uuid4()), {"subject": "x" * 201})
    # 101 emoji are 101 code points but 202 UTF-16 units, which is what Dataverse counts.
    emoji = patch(http, "tasks", str(uuid.uuid4()), {"subject": "\U0001f600" * 101})
    fits = patch(http, "tasks", str(uuid.uuid4()), {"subject": "x" * 200})

    assert too_long.status_code == 400
    assert too_long.json()["error"]["code"] == "0x80044331"
    assert emoji.status_code == 400
    assert fits.status_code == 204
    assert len(sim.activities("tasks")) == 1


def test_payload_rules(http: httpx.Client) -> None:
    key = str(uuid.uuid4())
    unknown_column = patch(http, "tasks", key, {"subjectline": "s"})
    naive_time = patch(http, "tasks", key, {"scheduledend": "2025-01-01T10:00:00"})
    bad_status = patch(http, "tasks", key, {"statecode": 1, "statuscode": 2})
    not_json = http.patch(
        f"{API}/tasks({key})", content=b"subject=s", headers={"Content-Type": "text/plain"}
    )
    completed = patch(http, "tasks", key, {"statecode": 1, "actualend": "2025-01-01T10:00:00Z"})

    assert unknown_column.status_code == 400
    assert naive_time.status_code == 400
    assert bad_status.status_code == 400
    assert not_json.status_code == 415
    assert completed.status_code == 204
    row = http.get(f"{API}/tasks({key})").json()
    assert (row["statecode"], row["statuscode"]) == (1, 5)  # the default reason for Completed


def test_injected_429_carries_retry_after_then_clears(
    http: httpx.Client, control: httpx.Client
) -> None:
    fault = {"status": 429, "count": 2, "retryAfter": 7}
    assert control.post("/_sim/faults", json=fault).status_code == 201

    answers = [patch(http, "tasks", str(uuid.uuid4()), {"subject": "s"}) for _ in range(3)]

    assert [a.status_code for a in answers] == [429, 429, 204]
    assert answers[0].headers["Retry-After"] == "7"
    assert answers[0].json()["error"]["code"] == "0x80072322"
    stats = control.get("/_sim/stats").json()
    assert stats["throttled"] == 2
    assert stats["byMethodStatus"]["PATCH 429"] == 2
    assert stats["writes"] == 1


def test_fault_path_regex_and_delay(http: httpx.Client, control: httpx.Client) -> None:
    fault = {"delaySeconds": 0.3, "pathRegex": "/phonecalls", "count": 1}
    assert control.post("/_sim/faults", json=fault).status_code == 201

    tasks = http.get(f"{API}/tasks")
    after_tasks = control.get("/_sim/state").json()["faults"]
    started = time.monotonic()
    calls = http.get(f"{API}/phonecalls")
    slow = time.monotonic() - started

    assert (tasks.status_code, calls.status_code) == (200, 200)
    # The other path left the fault queued; the matching one took it and was answered late.
    assert [(f["pathRegex"], f["remaining"]) for f in after_tasks] == [("/phonecalls", 1)]
    assert slow >= 0.3
    assert control.get("/_sim/state").json()["faults"] == []
    assert control.get("/_sim/stats").json()["faultsServed"] == 1


def test_down_mode_answers_503_to_every_web_api_call(
    http: httpx.Client, control: httpx.Client
) -> None:
    assert control.post("/_sim/down", json={"down": True}).status_code == 200

    down_get = http.get(f"{API}/opportunities")
    down_anonymous = control.get(f"{API}/tasks")
    down_patch = patch(http, "tasks", str(uuid.uuid4()), {"subject": "s"})
    state = control.get("/_sim/state").json()
    control.post("/_sim/down", json={"down": False})

    assert [r.status_code for r in (down_get, down_anonymous, down_patch)] == [503, 503, 503]
    assert state["down"] is True
    assert state["activities"]["tasks"] == []
    assert http.get(f"{API}/opportunities").status_code == 200


def test_control_api_validates_and_reset_restores_the_seed(
    http: httpx.Client, control: httpx.Client
) -> None:
    assert control.post("/_sim/faults", json={"status": 418}).status_code == 400
    assert control.post("/_sim/faults", json={"pathRegex": "("}).status_code == 400
    bad_id = control.post("/_sim/opportunities", json={"id": "1", "name": "n"})
    assert bad_id.status_code == 400
    added = control.post("/_sim/opportunities", json={"name": "New deal"}).json()
    patch(http, "tasks", str(uuid.uuid4()), {"subject": "s", **bind(added["opportunityid"])})

    assert control.post("/_sim/reset").status_code == 204

    state = control.get("/_sim/state").json()
    ids = {o["opportunityid"] for o in state["opportunities"]}
    assert CONTOSO in ids
    assert added["opportunityid"] not in ids
    assert state["activities"] == {"tasks": [], "phonecalls": []}
    assert state["requests"] == 0


def test_one_log_line_per_request_without_the_token(
    http: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devtools.dataverse_sim")
    key = str(uuid.uuid4())
    patch(http, "tasks", key, {"subject": "s"})

    lines = [r.getMessage() for r in caplog.records if r.name == "devtools.dataverse_sim"]
    assert lines == [f"PATCH {API}/tasks({key}) 204 " + lines[0].rsplit(" ", 1)[1]]
    assert DEFAULT_TOKEN not in caplog.text
