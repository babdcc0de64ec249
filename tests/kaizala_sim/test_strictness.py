"""The simulator is as strict as the swagger: each deviation the audit of issue 10 found in the
client is refused here (the simulator used to accept them all, matching names ignoring case)."""

from __future__ import annotations

from pathlib import Path

from devtools.kaizala_sim import SAMPLE_APPLICATION_ID, SAMPLE_GROUP_ID
from tests.kaizala_sim.conftest import Receiver, Sim
from tests.kaizala_sim.test_actions import SURVEY
from tests.kaizala_sim.test_groups import new_group

G = f"groups/{SAMPLE_GROUP_ID}"
SIM_DIR = Path(__file__).resolve().parents[2] / "devtools" / "kaizala_sim"


def refused(response: object, *words: str) -> None:
    status = getattr(response, "status_code", None)
    body = response.json()  # type: ignore[attr-defined]
    assert (status, body["code"]) == (400, "BadRequest"), body
    for word in words:
        assert word in body["message"], body


def public_group(sim: Sim) -> tuple[str, str]:
    hub = sim.ok("POST", "groups", json=new_group("Hub", [], "ConnectGroup"))["groupId"]
    subscriber = "+919100000050"
    sim.ok("PUT", f"groups/{hub}/subscribers/add", json={"subscribers": [subscriber]})
    return hub, subscriber


def test_names_are_case_sensitive(sim: Sim) -> None:
    refused(sim.api("POST", f"{G}/messages", json={"Message": "hi"}), "'message'")
    request = {"actionType": "Survey", "ActionBody": SURVEY}
    refused(sim.api("POST", f"{G}/actions", json=request), "ActionBody", "'actionBody'")
    misspelt = {**SURVEY, "isanonymous": True}
    del misspelt["isAnonymous"]
    request = {"actionType": "Survey", "actionBody": misspelt}
    refused(sim.api("POST", f"{G}/actions", json=request), "isanonymous")


def test_subscriber_message_is_message_with_its_audience_and_1000_characters(sim: Sim) -> None:
    hub, subscriber = public_group(sim)
    path = f"groups/{hub}/messages"
    audience = {"subscribers": [subscriber], "sendToAllSubscribers": False}
    # What the client sent: `message`, with the SendMessage limit of 4,000.
    refused(sim.api("POST", path, json={"message": "hi", **audience}), "'Message'")
    refused(sim.api("POST", path, json={"Message": "hi", "subscribers": [subscriber]}), "sendTo")
    refused(sim.api("POST", path, json={"Message": "x" * 1001, **audience}), "1000")
    assert sim.api("POST", path, json={"Message": "x" * 1000, **audience}).status_code == 200


def test_group_details_require_the_application_id_header(sim: Sim) -> None:
    refused(sim.api("GET", G), "applicationId")
    assert sim.api("GET", G, headers={"applicationId": SAMPLE_APPLICATION_ID}).status_code == 200


def test_create_group_requires_all_four_fields(sim: Sim) -> None:
    refused(sim.api("POST", "groups", json={"name": "Sales"}), "welcomeMessage")
    body = {"name": "Sales", "welcomeMessage": "", "members": []}
    refused(sim.api("POST", "groups", json=body), "groupType")
    assert sim.api("POST", "groups", json={**body, "groupType": "Group"}).status_code == 200


def test_get_subscribers_requires_count_and_cursor_up_to_50(sim: Sim) -> None:
    hub, _ = public_group(sim)
    path = f"groups/{hub}/subscribers"
    refused(sim.api("POST", path, json={"count": 10}), "cursor")
    refused(sim.api("POST", path, json={"cursor": ""}), "count")
    refused(sim.api("POST", path, json={"count": 51, "cursor": ""}), "50")
    assert sim.api("POST", path, json={"count": 50, "cursor": ""}).status_code == 200


def test_custom_property_value_is_a_string_and_title_validity_is_a_body(sim: Sim) -> None:
    package = "com.microsoft.kaizala.miniapps.BdayMessage.12"
    numeric = {"properties": [{"name": "age", "type": "Numeric", "value": 30}]}
    refused(sim.api("POST", f"{G}/actions", json={"id": package, "actionBody": numeric}), "value")
    override = {"id": package, "actionBody": {"title": "override title", "validity": 24}}
    assert sim.api("POST", f"{G}/actions", json=override).status_code == 200


def test_a_webhook_needs_its_callback_token(sim: Sim, receiver: Receiver) -> None:
    body = {
        "objectId": SAMPLE_GROUP_ID,
        "objectType": "Group",
        "eventTypes": ["SurveyResponse"],
        "callBackUrl": receiver.hook("no-token"),
        "callBackContext": "",
    }
    refused(sim.api("POST", "webhook", json=body), "callBackToken")
    assert receiver.validations == []  # refused before the handshake


def test_remove_member_takes_the_member_id_not_a_phone_number(sim: Sim) -> None:
    refused(sim.api("DELETE", f"{G}/members/+919100000002"), "member's id")
    members = sim.ok("GET", f"{G}/members")["members"]
    assert "+919100000002" in {m["mobileNumber"] for m in members}


def test_paths_are_spelt_as_the_swagger_spells_them(sim: Sim) -> None:
    # POST .../subgroups creates; GET/PUT/DELETE use .../subGroups.
    assert sim.api("POST", f"{G}/subGroups", json=new_group("North", [])).status_code != 200
    assert sim.api("GET", f"{G}/subgroups").status_code != 200
    assert sim.api("POST", f"{G}/subgroups", json=new_group("North", [])).status_code == 200
    assert sim.api("GET", f"{G}/subGroups").status_code == 200


def test_required_query_parameters(sim: Sim) -> None:
    action = sim.ok("POST", f"{G}/actions", json={"actionType": "Survey", "actionBody": SURVEY})
    path = f"{G}/actions/{action['actionId']}"
    refused(sim.api("GET", path), "getDetails")
    refused(sim.api("GET", path, params={"getDetails": "maybe"}), "getDetails")
    refused(sim.api("GET", f"{G}/actions"), "actionType")


def test_kaizala_routes_never_look_names_up_ignoring_case() -> None:
    # get_ci is the control API's (the simulator's own); on a Kaizala route it hid misspellings.
    for name in ("auth_routes", "platform_groups", "platform_content", "platform_webhooks"):
        source = (SIM_DIR / f"{name}.py").read_text()
        assert "get_ci" not in source, name
    for name in ("validation", "checks", "answers", "action_schemas", "spec", "wire"):
        assert "get_ci(" not in (SIM_DIR / f"{name}.py").read_text(), name
