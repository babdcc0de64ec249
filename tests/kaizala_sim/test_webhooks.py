"""Webhook handshake, event delivery in the documented shapes, duplicates, retries and
auto-disable, re-activation."""

from __future__ import annotations

import itertools
from typing import Any
from urllib.parse import quote

from devtools.kaizala_sim import SAMPLE_GROUP_ID
from devtools.serving import free_port
from tests.conftest import register_secret
from tests.kaizala_sim.conftest import Receiver, Sim, sample_event, wait_for
from tests.kaizala_sim.test_actions import GOOD_AND_BAD, SURVEY, create, upload

G = f"groups/{SAMPLE_GROUP_ID}"
TOKEN = "shared-callback-token-value"
register_secret(TOKEN)
CONTEXT = "bridge-context-42"


def subscribe(
    sim: Sim,
    url: str,
    events: list[str],
    object_id: str = SAMPLE_GROUP_ID,
    object_type: str = "Group",
) -> Any:
    return sim.api(
        "POST",
        "webhook",
        json={
            "objectId": object_id,
            "objectType": object_type,
            "eventTypes": events,
            "callBackUrl": url,
            "callBackToken": TOKEN,
            "callBackContext": CONTEXT,
        },
    )


def shape(value: Any) -> Any:
    """Keys (recursively) and JSON types of a payload, to compare with the samples."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def test_handshake_echo_registers(sim: Sim, receiver: Receiver) -> None:
    response = subscribe(sim, receiver.hook("good"), ["SurveyResponse"])
    assert response.status_code == 200, response.text
    webhook_id = response.json()["webhookId"]
    [(name, token)] = receiver.validations
    assert name == "good"
    assert {"+", "/", "="} <= set(token)  # characters that must be URL-encoded
    listed = sim.ok("GET", "webhook", params={"objectId": SAMPLE_GROUP_ID, "objectType": "Group"})
    [hook] = listed["webhooks"]
    assert {"id", "events", "callbackUrl", "validity", "active", "objectId", "objectType"} <= set(
        hook
    )
    assert hook["id"] == webhook_id
    assert hook["active"] is True
    assert hook["events"] == ["SurveyResponse"]
    assert TOKEN not in str(listed)


def test_handshake_wrong_echo_is_refused(sim: Sim, receiver: Receiver) -> None:
    response = subscribe(sim, receiver.hook("wrong", validation="wrong"), ["SurveyResponse"])
    assert response.status_code == 400
    assert response.json()["code"] == "WebhookValidationFailed"
    listed = sim.ok("GET", "webhook", params={"objectId": SAMPLE_GROUP_ID, "objectType": "Group"})
    assert listed["webhooks"] == []


def test_handshake_too_slow_is_refused(sim: Sim, receiver: Receiver) -> None:
    sim.config(webhookValidationTimeoutSeconds=0.3)
    # The receiver holds its answer until released: only the simulator's timeout ends the call.
    response = subscribe(sim, receiver.hook("slow", validation="hold"), ["JobCreated"])
    assert response.status_code == 400
    assert response.json() == {
        "code": "WebhookValidationFailed",
        "message": "callback did not answer the validation request within 0.3 s",
    }
    assert [name for name, _ in receiver.validations] == ["slow"]  # asked, never answered
    receiver.release("slow")
    assert sim.simulator.state.webhooks == {}


def test_registration_checks_object_events_and_url(sim: Sim, receiver: Receiver) -> None:
    url = receiver.hook("checks")
    assert subscribe(sim, url, ["Nope"]).status_code == 400
    assert subscribe(sim, url, ["SurveyResponse"], object_type="Planet").status_code == 400
    assert subscribe(sim, url, ["ActionResponse"], "no-such-action", "Action").status_code == 404
    assert subscribe(sim, "https://example.com/hook", ["SurveyResponse"]).status_code == 400
    assert receiver.validations == []  # nothing was called for refused registrations


def test_survey_response_event_shape_token_and_context(sim: Sim, receiver: Receiver) -> None:
    assert subscribe(sim, receiver.hook("survey"), ["SurveyResponse"]).status_code == 200
    action_id = create(sim, "Survey", SURVEY_LIKE_SAMPLE).json()["actionId"]
    answered = sim.control(
        "POST",
        f"actions/{action_id}/respond",
        json={
            "responder": "+919100000002",
            "answers": [
                "Likely",
                125000,
                ["A", "C"],
                "Customer wants a demo next week.",
                [
                    {
                        "mediaUrl": "https://example.invalid/att/site.jpg",
                        "mediaFileName": "IMG_0001.jpg",
                    }
                ],
            ],
        },
    ).json()
    sim.wait_deliveries()
    [got] = receiver.events("survey")
    assert got.headers["kz-callback-token"] == TOKEN
    assert got.headers["content-type"].startswith("application/json")
    event = got.body
    sample = sample_event("survey_response.json")
    assert list(event) == list(sample)
    assert shape(event) == shape(sample)
    assert event["eventType"] == "SurveyResponse"
    assert event["eventId"] == answered["eventId"]
    assert event["context"] == CONTEXT
    assert event["objectId"] == SAMPLE_GROUP_ID
    assert event["data"]["responseId"] == answered["responseId"]
    assert event["data"]["responder"] == "+919100000002"
    assert event["data"]["responderName"] == "Vikram Shah"
    assert event["data"]["isUpdateResponse"] is False
    questions = event["data"]["responseDetails"]["responseWithQuestions"]
    assert [set(q) for q in questions] == [
        set(q) for q in sample["data"]["responseDetails"]["responseWithQuestions"]
    ]
    assert questions[-1]["title"] == "ResponseTime"
    assert event["fromUser"] == "+919100000001"


SURVEY_LIKE_SAMPLE = {
    "title": "Deal check",
    "dueDate": 24,
    "isAnonymous": False,
    "isSenderOnly": False,
    "acceptMultipleResponses": False,
    "questions": [
        {
            "title": "How likely?",
            "type": "SingleOption",
            "options": [{"title": "Likely"}, {"title": "Unlikely"}],
        },
        {"title": "Estimated budget (USD)", "type": "Numeric"},
        {"title": "Competitors", "type": "MultiOption", "options": [{"title": t} for t in "ABC"]},
        {"title": "Notes", "type": "Text"},
        {"title": "Site photo", "type": "AttachmentList"},
    ],
}


def test_edit_keeps_response_id_and_flags_update(sim: Sim, receiver: Receiver) -> None:
    subscribe(sim, receiver.hook("edit"), ["SurveyResponse"])
    action_id = create(sim, "Survey", SURVEY).json()["actionId"]
    answers = {
        "Likely?": "Yes",
        "Budget": 10,
        "Rivals": ["A"],
        "Notes": "n",
        "Where": {"latitude": 1.5, "longitude": 2.5},
        "When": 1_900_000_000_000,
        "Photo": [{"mediaUrl": "https://example.invalid/p.jpg", "mediaFileName": "p.jpg"}],
    }
    first = sim.control(
        "POST",
        f"actions/{action_id}/respond",
        json={"responder": "+919100000004", "answers": answers},
    ).json()
    second = sim.control(
        "POST",
        f"actions/{action_id}/respond",
        json={
            "responder": "+919100000004",
            "responseId": first["responseId"],
            "answers": {**answers, "Budget": 20},
        },
    ).json()
    assert second["responseId"] == first["responseId"]
    assert second["eventId"] != first["eventId"]
    sim.wait_deliveries()
    events = [r.body for r in receiver.events("edit")]
    assert [e["data"]["isUpdateResponse"] for e in events] == [False, True]
    assert {e["data"]["responseId"] for e in events} == {first["responseId"]}
    assert events[1]["data"]["responseDetails"]["responseWithQuestions"][1]["answer"] == 20


def test_other_event_shapes_match_the_samples(sim: Sim, receiver: Receiver) -> None:
    everything = [
        "JobCreated",
        "JobResponse",
        "TextMessageCreated",
        "Announcement",
        "AttachmentCreated",
        "MemberAdded",
    ]
    assert subscribe(sim, receiver.hook("all"), everything).status_code == 200
    job = {"title": "Visit", "assignedTo": ["+919100000003"], "dueDate": 24}
    job = create(sim, "Job", job).json()
    sim.control("POST", f"actions/{job['actionId']}/respond", json={"responder": "+919100000003"})
    sim.ok("POST", f"{G}/messages", json={"message": "Test Message"})
    media = upload(sim)
    create(
        sim,
        "Announcement",
        {"Title": "T", "Message": "M", "MediaResources": [media["mediaResource"]]},
    )
    create(sim, "Image", {"mediaResource": media["mediaResource"], "caption": "Testing."})
    sim.ok("PUT", f"{G}/members", json={"members": ["+919100000007"]})
    sim.wait_deliveries()
    by_type = {r.body["eventType"]: r.body for r in receiver.events("all")}
    samples = {
        "JobCreated": "job_created.json",
        "JobResponse": "job_response.json",
        "TextMessageCreated": "text_message_created.json",
        "Announcement": "announcement.json",
        "AttachmentCreated": "attachment_created.json",
        "MemberAdded": "member_added.json",
    }
    for event_type, file_name in samples.items():
        assert shape(by_type[event_type]) == shape(sample_event(file_name)), event_type
    assert by_type["JobResponse"]["data"]["responseDetails"]["response"]["isCompleted"] is True
    assert by_type["TextMessageCreated"]["data"] == {"text": "Test Message"}
    assert by_type["MemberAdded"]["data"]["member"] == "+919100000007"


def test_action_level_webhook_gets_action_response(sim: Sim, receiver: Receiver) -> None:
    poll = create(sim, "Poll", GOOD_AND_BAD[2][1]).json()["actionId"]
    other = create(sim, "Poll", GOOD_AND_BAD[2][1]).json()["actionId"]
    response = subscribe(sim, receiver.hook("action"), ["ActionResponse"], poll, "Action")
    assert response.status_code == 200, response.text
    sim.control(
        "POST", f"actions/{poll}/respond", json={"responder": "+919100000002", "answers": ["Yes"]}
    )
    sim.control(
        "POST", f"actions/{other}/respond", json={"responder": "+919100000002", "answers": ["No"]}
    )
    sim.wait_deliveries()
    [got] = receiver.events("action")
    sample = sample_event("action_response.json")
    assert shape(got.body) == shape(sample)
    assert (got.body["objectType"], got.body["objectId"]) == ("Action", poll)
    assert got.body["data"]["responseDetails"]["responseWithQuestions"][0]["answer"] == "Yes"


def test_duplicate_deliveries_share_the_event_id(sim: Sim, receiver: Receiver) -> None:
    subscribe(sim, receiver.hook("dups"), ["SurveyResponse"])
    survey = {**SURVEY, "title": "t", "questions": [{"title": "q", "type": "Text"}]}
    action_id = create(sim, "Survey", survey).json()["actionId"]
    sim.config(duplicateDeliveries=2)
    first = sim.control(
        "POST",
        f"actions/{action_id}/respond",
        json={"responder": "+919100000002", "answers": ["a"]},
    ).json()
    second = sim.control(
        "POST",
        f"actions/{action_id}/respond",
        json={"responder": "+919100000003", "answers": ["b"], "duplicates": 0},
    ).json()
    sim.wait_deliveries()
    ids = [r.body["eventId"] for r in receiver.events("dups")]
    assert sorted(ids) == sorted([first["eventId"]] * 3 + [second["eventId"]])
    assert sim.stats()["deliveries"]["duplicates"] == 2


def test_failed_delivery_is_retried_with_the_same_event_id(sim: Sim, receiver: Receiver) -> None:
    sim.config(deliveryRetryBaseSeconds=0.1)
    subscribe(sim, receiver.hook("flaky", fail_first=2, fail_status=503), ["TextMessageCreated"])
    sim.ok("POST", f"{G}/messages", json={"message": "hello"})
    sim.wait_deliveries()
    attempts = receiver.events("flaky")
    assert len(attempts) == 3
    assert len({a.body["eventId"] for a in attempts}) == 1
    gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.1
    assert gaps[1] >= 0.2  # exponential back-off: base, then twice the base
    listed = sim.ok("GET", "webhook", params={"objectId": SAMPLE_GROUP_ID, "objectType": "Group"})
    assert listed["webhooks"][0]["active"] is True


def test_retries_exhausted_disable_the_webhook_until_reactivated(
    sim: Sim, receiver: Receiver
) -> None:
    sim.config(deliveryRetryBaseSeconds=0.005)
    webhook_id = subscribe(
        sim, receiver.hook("down", fail_first=10_000, fail_status=500), ["TextMessageCreated"]
    ).json()["webhookId"]
    sim.ok("POST", f"{G}/messages", json={"message": "one"})
    sim.wait_deliveries()
    assert len(receiver.events("down")) == 7  # the first attempt and 6 retries
    listed = sim.ok("GET", "webhook", params={"objectId": SAMPLE_GROUP_ID, "objectType": "Group"})
    assert listed["webhooks"][0]["active"] is False
    assert sim.stats()["deliveries"]["webhooksDisabled"] == 1

    sim.ok("POST", f"{G}/messages", json={"message": "two"})
    sim.wait_deliveries()
    assert len(receiver.events("down")) == 7  # nothing goes to a disabled webhook

    receiver.hook("down")  # the receiver recovers
    assert sim.api("PUT", f"webhook/{webhook_id}", json={"wrong": 1}).status_code == 400
    assert sim.ok("PUT", f"webhook/{webhook_id}", json={"Active": "true"})["active"] is True
    sim.ok("POST", f"{G}/messages", json={"message": "three"})
    sim.wait_deliveries()
    assert receiver.events("down")[-1].body["data"] == {"text": "three"}


def test_delete_webhook_stops_deliveries(sim: Sim, receiver: Receiver) -> None:
    webhook_id = subscribe(sim, receiver.hook("gone"), ["TextMessageCreated"]).json()["webhookId"]
    assert sim.ok("DELETE", f"webhook/{webhook_id}") == {"result": True}
    assert sim.api("DELETE", f"webhook/{webhook_id}").status_code == 404
    sim.ok("POST", f"{G}/messages", json={"message": "hello"})
    sim.wait_deliveries()
    assert receiver.events("gone") == []


def test_delivery_does_not_block_the_api_answer(sim: Sim, receiver: Receiver) -> None:
    # The receiver holds every delivery until released. Had the API waited for the delivery,
    # it would answer only after the delivery timeout, with a failed attempt already logged.
    subscribe(sim, receiver.hook("held", hold_deliveries=True), ["TextMessageCreated"])
    sim.ok("POST", f"{G}/messages", json={"message": "fast"})
    wait_for(lambda: len(receiver.events("held")) == 1)  # the delivery reached the receiver
    assert sim.control("GET", "deliveries").json()["deliveries"] == []  # and is not over
    assert sim.stats()["deliveries"]["inFlight"] == 1
    receiver.release("held")
    sim.wait_deliveries()
    [attempt] = sim.control("GET", "deliveries").json()["deliveries"]
    assert (attempt["status"], attempt["ok"]) == (200, True)


def test_callback_url_query_is_kept_and_token_is_encoded(sim: Sim, receiver: Receiver) -> None:
    url = receiver.hook("query") + "?code=" + quote("k+y", safe="")
    assert subscribe(sim, url, ["TextMessageCreated"]).status_code == 200
    sim.ok("POST", f"{G}/messages", json={"message": "q"})
    sim.wait_deliveries()
    assert len(receiver.events("query")) == 1


def test_unreachable_callback_counts_as_failure(sim: Sim, receiver: Receiver) -> None:
    sim.config(deliveryRetries=1, deliveryRetryBaseSeconds=0.01)
    webhook_id = subscribe(sim, receiver.hook("moves"), ["TextMessageCreated"]).json()["webhookId"]
    # The receiver "moves away" after subscribing: nothing listens on that port any more.
    sim.simulator.state.webhooks[webhook_id].callback_url = f"http://127.0.0.1:{free_port()}/x"
    sim.ok("POST", f"{G}/messages", json={"message": "lost"})
    sim.wait_deliveries()
    attempts = sim.control("GET", "deliveries").json()["deliveries"]
    assert [(a["attempt"], a["status"], a["ok"]) for a in attempts] == [
        (0, None, False),
        (1, None, False),
    ]
    assert all(a["error"] == "ConnectError" for a in attempts)
    listed = sim.ok("GET", "webhook", params={"objectId": SAMPLE_GROUP_ID, "objectType": "Group"})
    assert listed["webhooks"][0]["active"] is False
