"""Messages, media, every action type (and its bad body), queries, responses and edits."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.kaizala_sim import SAMPLE_GROUP_ID
from tests.kaizala_sim.conftest import Sim

G = f"groups/{SAMPLE_GROUP_ID}"

SURVEY = {
    "title": "Deal check",
    "dueDate": 10,
    "isAnonymous": False,
    "isSenderOnly": False,
    "acceptMultipleResponses": False,
    "questions": [
        {
            "title": "Likely?",
            "type": "SingleOption",
            "options": [{"title": "Yes"}, {"title": "No"}],
        },
        {"title": "Budget", "type": "Numeric"},
        {"title": "Rivals", "type": "MultiOption", "options": [{"title": "A"}, {"title": "B"}]},
        {"title": "Notes", "type": "Text"},
        {"title": "Where", "type": "Location"},
        {"title": "When", "type": "DateTime"},
        {"title": "Photo", "type": "Image"},
    ],
}


def upload(sim: Sim, name: str = "site.jpg", data: bytes = b"\xff\xd8jpeg") -> dict[str, Any]:
    body: dict[str, Any] = sim.ok("POST", "media", files={"FileName": (name, data, "image/jpeg")})
    return body


def survey_response(answers: list[Any], **extra: Any) -> dict[str, Any]:
    """A PostingSurveyResponse body: the swagger requires responseName and responseLocation."""
    return {
        "actionType": "Survey",
        "actionBody": {
            "responseName": "API",
            "responseLocation": {"latitude": 12.97, "longitude": 77.59, "name": "Bengaluru"},
            "Answers": answers,
        },
        **extra,
    }


def create(sim: Sim, action_type: str | None, body: dict[str, Any], **extra: Any) -> Any:
    request: dict[str, Any] = {"actionBody": body, **extra}
    if action_type is not None:
        request["actionType"] = action_type
    return sim.api("POST", f"{G}/actions", json=request)


def test_message_length_limit(sim: Sim) -> None:
    assert set(sim.ok("POST", f"{G}/messages", json={"message": "x" * 4000})) == {"referenceId"}
    too_long = sim.api("POST", f"{G}/messages", json={"message": "x" * 4001})
    assert too_long.status_code == 400
    assert too_long.json()["code"] == "BadRequest"
    assert sim.api("POST", f"{G}/messages", json={"text": "wrong field"}).status_code == 400
    as_json = {"content-type": "application/json"}
    assert sim.api("POST", f"{G}/messages", content=b"{", headers=as_json).status_code == 400
    # Content-Type: application/json is a required header of the operation.
    untyped = sim.api("POST", f"{G}/messages", content=b'{"message": "hi"}')
    assert (untyped.status_code, untyped.json()["code"]) == (415, "UnsupportedMediaType")


GOOD_AND_BAD: list[tuple[str | None, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("Survey", SURVEY, {**SURVEY, "questions": [{"title": "q", "type": "Essay"}]}, {}),
    (
        "Job",
        {"title": "Visit", "assignedTo": ["+919100000003"], "dueDate": 10},
        {"title": "Visit", "assignedTo": ["+919199999999"]},  # not a member
        {},
    ),
    (
        "Poll",
        {"question": "Lunch?", "choices": [{"title": "Yes"}, {"title": "No"}], "expiryInHours": 5},
        {"question": "Lunch?", "choices": [{"title": "Only one"}]},
        {},
    ),
    (
        "LetsMeet",
        {
            "title": "Catch up",
            "startingTime": "2030-01-01T10:00:00Z",
            "duration": 45,
            "place": {"latitude": 15.0, "longitude": 96.0, "name": "Building 3"},
            "agenda": "pipeline",
        },
        {"title": "Catch up", "startingTime": "next tuesday"},
        {},
    ),
    (
        "Announcement",
        {"Title": "News", "Message": "Quarter closed", "MediaResources": []},
        {"Title": "No message", "MediaResources": []},
        {},
    ),
    (
        None,
        {"properties": [{"name": "title", "type": "Text", "value": "Birthday"}]},
        {"properties": [{"name": "title", "type": "Essay", "value": "x"}]},
        {"id": "com.example.bday.1"},
    ),
]


@pytest.mark.parametrize(
    ("action_type", "good", "bad", "extra"),
    GOOD_AND_BAD,
    ids=["Survey", "Job", "Poll", "LetsMeet", "Announcement", "Custom"],
)
def test_action_types_accept_documented_body_and_reject_bad_one(
    sim: Sim,
    action_type: str | None,
    good: dict[str, Any],
    bad: dict[str, Any],
    extra: dict[str, Any],
) -> None:
    created = create(sim, action_type, good, **extra)
    assert created.status_code == 200, created.text
    assert set(created.json()) == {"referenceId", "actionId"}
    refused = create(sim, action_type, bad, **extra)
    assert refused.status_code == 400, refused.text
    assert set(refused.json()) == {"code", "message"}


def test_image_and_announcement_need_uploaded_media(sim: Sim) -> None:
    media = upload(sim)
    image = create(sim, "Image", {"mediaResource": media["mediaResource"], "caption": "Site"})
    assert image.status_code == 200, image.text
    assert create(sim, "Image", {"mediaResource": "made-up", "caption": "x"}).status_code == 400
    announced = create(
        sim, "Announcement", {"Message": "See", "MediaResources": [media["mediaResource"]]}
    )
    assert announced.status_code == 200
    assert (
        create(sim, "Announcement", {"Message": "x", "MediaResources": ["nope"]}).status_code == 400
    )


def test_action_request_needs_type_or_id_and_a_body(sim: Sim) -> None:
    assert sim.api("POST", f"{G}/actions", json={"actionBody": {}}).status_code == 400
    assert sim.api("POST", f"{G}/actions", json={"actionType": "Survey"}).status_code == 400
    assert create(sim, "Hologram", {"title": "x"}).status_code == 400
    # The swagger's announcement sample spells the key `actiontype`.
    lower = sim.api(
        "POST", f"{G}/actions", json={"actiontype": "Announcement", "actionBody": {"message": "m"}}
    )
    assert lower.status_code == 200
    assert (
        sim.api(
            "POST",
            "groups/00000000-0000-0000-0000-000000000000/actions",
            json={"actionType": "Poll", "actionBody": GOOD_AND_BAD[2][1]},
        ).status_code
        == 404
    )


def test_list_actions_filters_and_pages(sim: Sim) -> None:
    ids = []
    for i in range(3):
        ids.append(create(sim, "Survey", {**SURVEY, "title": f"S{i}"}).json()["actionId"])
        # One simulated second apart: order and fromDate never hinge on a millisecond tie.
        sim.control("POST", "clock/advance", json={"seconds": 1})
    create(sim, "Poll", GOOD_AND_BAD[2][1])
    page = sim.ok("GET", f"{G}/actions", params={"actionType": "Survey", "count": 2})
    assert page["hasMore"] is True
    assert [a["actionBody"]["actionId"] for a in page["actions"]] == ids[:2]
    item = page["actions"][0]
    assert {"referenceId", "actionType", "sender", "sentAt", "actionBody"} <= set(item)
    assert item["actionType"] == "Survey"
    assert item["sender"] == "+919100000001"
    rest = sim.ok(
        "GET",
        f"{G}/actions",
        params={"actionType": "survey", "fromDate": page["actions"][1]["creationTime"] + 1},
    )
    assert [a["actionBody"]["actionId"] for a in rest["actions"]] == ids[2:]
    assert rest["hasMore"] is False
    polls = sim.ok("GET", f"{G}/actions", params={"actionType": "Poll"})["actions"]
    assert [p["actionType"] for p in polls] == ["Poll"]
    assert sim.api("GET", f"{G}/actions").status_code == 400  # actionType is required


def test_survey_responses_details_and_edit(sim: Sim) -> None:
    action_id = create(sim, "Survey", SURVEY).json()["actionId"]
    media = upload(sim)
    answers = [
        "Yes",
        125000,
        ["A", "B"],
        "demo next week",
        {"lt": 12.9, "lg": 77.6, "n": "Bengaluru"},
        1_900_000_000_000,
        media["mediaResource"],
    ]
    posted = sim.ok("POST", f"{G}/actions/{action_id}/responses", json=survey_response(answers))
    response_id = posted["responseId"]
    details = sim.ok("GET", f"{G}/actions/{action_id}", params={"getDetails": "true"})
    assert details["actionType"] == "Survey"
    [response] = details["actionDetails"]["responses"]
    assert response["responseId"] == response_id
    by_title = {q["title"]: q["answer"] for q in response["responseWithQuestions"]}
    assert by_title["Where"] == {"latitude": 12.9, "longitude": 77.6, "name": "Bengaluru"}
    assert by_title["Photo"] == [{"mediaUrl": media["mediaUrl"], "mediaFileName": "site.jpg"}]
    assert by_title["Rivals"] == ["A", "B"]

    edited = sim.ok(
        "POST",
        f"{G}/actions/{action_id}/responses",
        json=survey_response(["No", *answers[1:]], responseId=response_id),
    )
    assert edited["responseId"] == response_id
    again = sim.ok("GET", f"{G}/actions/{action_id}/", params={"getDetails": "true"})
    [response] = again["actionDetails"]["responses"]
    assert response["responseWithQuestions"][0]["answer"] == "No"
    without = sim.ok("GET", f"{G}/actions/{action_id}", params={"getDetails": "false"})
    assert "responses" not in without["actionDetails"]
    missing = sim.api("GET", f"{G}/actions/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("index", "bad"),
    [
        (0, "Maybe"),
        (1, "lots"),
        (1, True),
        (2, ["Z"]),
        (3, 7),
        (4, {"lt": 200, "lg": 0}),
        (5, "today"),
        (6, "unknown-resource"),
    ],
    ids=["single", "numeric-str", "numeric-bool", "multi", "text", "location", "date", "image"],
)
def test_survey_answers_are_validated_by_question_type(sim: Sim, index: int, bad: Any) -> None:
    action_id = create(sim, "Survey", SURVEY).json()["actionId"]
    media = upload(sim)
    answers: list[Any] = [
        "Yes",
        1,
        ["A"],
        "t",
        {"lt": 1, "lg": 2},
        1_900_000_000_000,
        media["mediaResource"],
    ]
    path = f"{G}/actions/{action_id}/responses"
    good = sim.api("POST", path, json=survey_response(answers))
    assert good.status_code == 200, good.text
    answers[index] = bad
    response = sim.api("POST", path, json=survey_response(answers))
    assert response.status_code == 400, response.text


def test_response_count_and_kind_must_match(sim: Sim) -> None:
    action_id = create(sim, "Survey", SURVEY).json()["actionId"]
    path = f"{G}/actions/{action_id}/responses"
    short = sim.api("POST", path, json=survey_response(["Yes"]))
    assert short.status_code == 400
    wrong_kind = sim.api(
        "POST", path, json={"actionType": "Job", "actionBody": {"isCompleted": True}}
    )
    assert wrong_kind.status_code == 400
    assert sim.api("POST", path, json={"actionBody": {"Answers": []}}).status_code == 400


def test_job_response_by_assignee_only(sim: Sim) -> None:
    job = create(sim, "Job", {"title": "Visit", "assignedTo": ["+919100000003"], "dueDate": 24})
    job = job.json()
    path = f"{G}/actions/{job['actionId']}/responses"
    body = {"actionType": "Job", "actionBody": {"isCompleted": True}}
    assert sim.api("POST", path, json=body).status_code == 403  # the admin is not assigned
    first = sim.ok("POST", path, json=body, as_user="+919100000003")
    second = sim.ok("POST", path, json=body, as_user="+919100000003")
    assert first["responseId"] == second["responseId"]
    summary = sim.ok("GET", f"{G}/actions", params={"actionType": "Job"})["actions"][0]
    assert summary["actionBody"]["isCompleted"] is True
    assert summary["actionBody"]["assigneeCount"] == 1


def test_custom_action_response_and_reminder(sim: Sim) -> None:
    created = create(
        sim, None, {"properties": [{"name": "title", "type": "Text", "value": "B"}]}, id="pkg.1"
    ).json()
    path = f"{G}/actions/{created['actionId']}"
    response = sim.api(
        "POST", f"{path}/responses", json={"id": "pkg.1", "actionBody": {"Answers": ["ok"]}}
    )
    assert response.status_code == 200, response.text
    other_package = sim.api(
        "POST", f"{path}/responses", json={"id": "pkg.2", "actionBody": {"Answers": ["ok"]}}
    )
    assert other_package.status_code == 400
    assert set(sim.ok("POST", f"{path}/reminder", json={})) == {"referenceId"}
    assert sim.api("POST", f"{G}/actions/nope/reminder").status_code == 404
