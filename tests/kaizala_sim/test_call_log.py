"""The call log (`GET /_sim/calls`) records what each Kaizala call's body held, as sent."""

from __future__ import annotations

import json
from typing import Any

from devtools.kaizala_sim import (
    SAMPLE_APPLICATION_ID,
    SAMPLE_APPLICATION_SECRET,
    SAMPLE_GROUP_ID,
    SimConfig,
    Simulator,
)
from devtools.kaizala_sim.call_log import MAX_JSON_BYTES
from tests.kaizala_sim.conftest import Receiver, Sim
from tests.kaizala_sim.test_actions import create, upload
from tests.kaizala_sim.test_webhooks import TOKEN, subscribe

G = f"groups/{SAMPLE_GROUP_ID}"
JSON = {"Content-Type": "application/json"}


def calls(sim: Sim, path_end: str, method: str = "POST") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = sim.control("GET", "calls").json()["calls"]
    return [c for c in found if c["method"] == method and c["path"].endswith(path_end)]


def test_json_body_is_kept_as_sent_not_as_normalized(sim: Sim) -> None:
    # The simulator fills this Poll's default expiryInHours and reads its type in any case;
    # the log shows that expiryInHours was never sent and how the type was spelt.
    choices = [{"title": "Yes"}, {"title": "No"}]
    sent = {"actionType": "poll", "actionBody": {"question": "Lunch?", "choices": choices}}
    raw = json.dumps(sent).encode()
    assert sim.api("POST", f"{G}/actions", content=raw, headers=JSON).status_code == 200
    [call] = calls(sim, f"{G}/actions")
    assert call["body"] == sent
    assert call["parts"] is None
    assert call["bodyBytes"] == len(raw)
    assert set(call) == {"seq", "method", "path", "status", "ts", "bodyBytes", "body", "parts"}
    [poll] = sim.control("GET", "state").json()["actions"]
    assert poll["body"]["expiryInHours"] == 720  # what the normalized state would have shown
    # A refused body is kept as sent too: here a field name in the wrong case.
    misspelt = {"actionType": "Poll", "ActionBody": sent["actionBody"]}
    refused = sim.api("POST", f"{G}/actions", json=misspelt)
    assert refused.status_code == 400
    assert calls(sim, f"{G}/actions")[-1]["body"] == misspelt


def test_token_calls_keep_their_bodies_but_never_a_header_secret(sim: Sim) -> None:
    pin_request = {"mobileNumber": "+919100000002", "applicationId": SAMPLE_APPLICATION_ID}
    assert sim.http.post("/v1/generatePin", json=pin_request).status_code == 200
    pin = sim.control("GET", "pin", params={"mobileNumber": "+919100000002"}).json()["pin"]
    login = {**pin_request, "pin": int(pin)}
    refresh = sim.http.post("/v1/loginWithPinAndApplicationId", json=login).json()
    access = sim.exchange(refresh["refreshToken"]).json()["accessToken"]
    assert sim.http.get("/ep/inc-000/v1/groups", headers={"accessToken": access}).status_code == 200

    assert [c["body"] for c in calls(sim, "/v1/generatePin")] == [pin_request]
    assert [c["body"] for c in calls(sim, "/v1/loginWithPinAndApplicationId")] == [login]
    [token_call] = calls(sim, "/v1/accessToken", "GET")
    assert (token_call["body"], token_call["bodyBytes"]) == (None, 0)
    text = json.dumps(sim.control("GET", "calls").json())
    for secret in (SAMPLE_APPLICATION_SECRET, refresh["refreshToken"], access):
        assert secret not in text


def test_secret_named_fields_are_masked(sim: Sim, receiver: Receiver) -> None:
    url = receiver.hook("masked")
    assert subscribe(sim, url, ["TextMessageCreated"]).status_code == 200
    [call] = calls(sim, "/webhook")
    assert call["body"]["callBackToken"] == "***"
    assert call["body"]["callBackUrl"] == url
    assert call["body"]["eventTypes"] == ["TextMessageCreated"]
    assert TOKEN not in json.dumps(sim.control("GET", "calls").json())


def test_multipart_is_kept_as_parts_without_the_bytes(sim: Sim) -> None:
    data = b"\xff\xd8" + b"UNIQUE-MEDIA-BYTES" * 10
    upload(sim, name="site.jpg", data=data)
    [call] = calls(sim, "/v1/media")
    assert call["body"] is None
    assert call["parts"] == [
        {"name": "FileName", "filename": "site.jpg", "contentType": "image/jpeg", "size": len(data)}
    ]
    assert call["bodyBytes"] > len(data)
    assert "UNIQUE-MEDIA-BYTES" not in json.dumps(sim.control("GET", "calls").json())


def test_bodies_of_calls_refused_before_reading_are_kept(sim: Sim) -> None:
    token, endpoint = sim.access()
    message = {"message": "never read by the route"}
    unauthorized = sim.http.post(f"{endpoint}v1/{G}/messages", json=message)
    assert unauthorized.status_code == 401
    sim.control("POST", "faults", json={"pathRegex": "/messages$", "status": 503})
    faulted = sim.http.post(
        f"{endpoint}v1/{G}/messages", json=message, headers={"accessToken": token}
    )
    assert faulted.status_code == 503
    assert [(c["status"], c["body"]) for c in calls(sim, "/messages")] == [
        (401, message),
        (503, message),
    ]


def test_a_large_body_is_kept_by_its_size_only(sim: Sim) -> None:
    raw = json.dumps({"message": "x" * MAX_JSON_BYTES}).encode()
    too_long = sim.api("POST", f"{G}/messages", content=raw, headers=JSON)
    assert too_long.status_code == 400  # over 4000 characters
    [call] = calls(sim, "/messages")
    assert call["body"] is None
    assert call["bodyBytes"] == len(raw)
    not_json = sim.api("POST", f"{G}/messages", content=b"not json", headers=JSON)
    assert not_json.status_code == 400
    assert [(c["bodyBytes"], c["body"]) for c in calls(sim, "/messages")][-1] == (8, None)


def test_control_calls_are_not_logged_and_create_is(sim: Sim) -> None:
    create(sim, "Poll", {"question": "q", "choices": [{"title": "a"}, {"title": "b"}]})
    logged = sim.control("GET", "calls").json()["calls"]
    assert not [c for c in logged if c["path"].startswith("/_sim")]
    assert logged[-1]["body"]["actionType"] == "Poll"


def test_the_log_keeps_only_the_latest_calls() -> None:
    simulator = Simulator(SimConfig(), max_calls_kept=3)
    for n in range(5):
        simulator.record_call("GET", f"/p{n}", "/p", 200, {"body": None})
    assert [c["seq"] for c in simulator.calls] == [3, 4, 5]
    assert simulator.counters.calls_per_route["GET /p"] == 5
