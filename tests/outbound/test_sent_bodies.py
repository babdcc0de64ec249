"""The exact body the bridge sends Kaizala for every action type, as the simulator recorded it.

Only the HTTP trigger (`POST /api/actions`) and the simulator's call log (`GET /_sim/calls`) are
used, so the test holds whatever the outbound service looks like inside. The simulator checks
names exactly (as the swagger spells them) but fills in defaults, so a dropped field equal to its
default (a Job's `dueDate`, a Let's Meet's `durationInMins`) would pass unnoticed anywhere but in
the recorded body: every optional field the bridge accepts is sent here, most of them with the
simulator's default value.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.runtime import Runtime
from tests.bridge_fixtures import OPPORTUNITY, SAMPLE_GROUP, KaizalaSim
from tests.support import body_json, call, request

REGARDING = {"entityType": "opportunity", "id": OPPORTUNITY, "name": "Contoso – 500 laptops"}
PACKAGE = "com-contoso-visit-1"

SURVEY = {
    "title": "Qualify Contoso",
    "questions": [
        {"title": "Close?", "type": "SingleOption", "options": [{"title": "Yes"}, {"title": "No"}]},
        {"title": "Budget", "type": "Numeric"},
        {"title": "Notes", "type": "Text"},
    ],
    "dueDate": 24,
    "isAnonymous": False,
    "isSenderOnly": False,
    "acceptMultipleResponses": False,
}
POLL = {
    "question": "Demo day?",
    "choices": [{"title": "Mon"}, {"title": "Tue"}],
    "expiryInHours": 720,
}
JOB = {
    "title": "Call the customer",
    "assignedTo": ["+919100000002", "+919100000003"],
    "dueDate": 24,
}
ANNOUNCEMENT = {"Title": "New deal", "Message": "Contoso wants 500 laptops", "MediaResources": []}
LETS_MEET = {
    "title": "Deal review",
    "startingTime": "2026-12-01T10:00:00Z",
    "durationInMins": 30,
    "place": {"latitude": 18.52, "longitude": 73.85, "name": "Pune office"},
    "agenda": "Pricing and delivery dates",
    "isSenderOnly": False,
}
# Filled in by the test with a mediaResource uploaded through POST /api/media.
MEDIA = "<uploaded media resource>"
IMAGE = {"mediaResource": MEDIA, "caption": "The site"}
DOCUMENT = {"mediaResource": MEDIA, "caption": "The offer"}
CUSTOM = {
    "properties": [
        {"name": "title", "type": "Text", "value": "Site visit"},
        {"name": "site", "type": "Text", "value": "Pune"},
    ]
}

# action type: (the bridge request's fields besides groupId and regarding, the Kaizala route,
# the body Kaizala gets: the actionBody verbatim, under Kaizala's own envelope)
CASES: dict[str, tuple[dict[str, Any], str, dict[str, Any]]] = {
    "Survey": (
        {"actionType": "Survey", "actionBody": SURVEY},
        "actions",
        {"actionType": "Survey", "actionBody": SURVEY},
    ),
    "Poll": (
        {"actionType": "Poll", "actionBody": POLL},
        "actions",
        {"actionType": "Poll", "actionBody": POLL},
    ),
    "Job": (
        {"actionType": "Job", "actionBody": JOB},
        "actions",
        {"actionType": "Job", "actionBody": JOB},
    ),
    "Announcement": (
        {"actionType": "Announcement", "actionBody": ANNOUNCEMENT},
        "actions",
        {"actionType": "Announcement", "actionBody": ANNOUNCEMENT},
    ),
    "LetsMeet": (
        {"actionType": "LetsMeet", "actionBody": LETS_MEET},
        "actions",
        {"actionType": "LetsMeet", "actionBody": LETS_MEET},
    ),
    "Message": (
        {"actionType": "Message", "actionBody": {"message": "A new opportunity arrived"}},
        "messages",
        {"message": "A new opportunity arrived"},
    ),
    "Custom": (
        {"actionType": "Custom", "actionPackageId": PACKAGE, "actionBody": CUSTOM},
        "actions",
        {"id": PACKAGE, "actionBody": CUSTOM},
    ),
    "Image": (
        {"actionType": "Image", "actionBody": IMAGE},
        "actions",
        {"actionType": "Image", "actionBody": IMAGE},
    ),
    "Document": (
        {"actionType": "Document", "actionBody": DOCUMENT},
        "actions",
        {"actionType": "Document", "actionBody": DOCUMENT},
    ),
}


async def with_media(value: Any) -> Any:
    """`value` with MEDIA replaced by a real resource (the simulator refuses unknown ones)."""
    if MEDIA not in json.dumps(value):
        return value
    from tests.media.uploads import PNG, uploaded

    resource = (await uploaded("site.png", PNG))["mediaResource"]
    return json.loads(json.dumps(value).replace(MEDIA, resource))


def test_every_action_type_of_the_bridge_is_covered() -> None:
    from typing import get_args

    from shared.domain.actions import ActionType

    assert set(CASES) == set(get_args(ActionType))


@pytest.mark.parametrize("kind", sorted(CASES))
async def test_sent_body_is_exact(bridge: Runtime, kaizala: KaizalaSim, kind: str) -> None:
    fields, route, expected = await with_media(CASES[kind])
    payload = {"groupId": SAMPLE_GROUP, **fields, "regarding": REGARDING}
    resp = await call("send_action", request("POST", "/api/actions", body=payload))
    assert resp.status_code == 201, body_json(resp)

    sent = [
        c
        for c in kaizala.calls()
        if c["method"] == "POST" and c["path"].endswith(("/actions", "/messages"))
    ]
    assert [(c["path"], c["status"]) for c in sent] == [
        (f"/ep/inc-000/v1/groups/{SAMPLE_GROUP}/{route}", 200)
    ]
    assert sent[0]["body"] == expected
    assert sent[0]["parts"] is None
