"""The backfill's pure rules: the window, the event built from a read response, its identity."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from shared.domain.backfill import due_ms, in_window, read_response
from shared.domain.correlation import Correlation
from shared.domain.responses import answer_time, normalise_response
from shared.stores.inbox import InboxItem

EVENTS = Path(__file__).resolve().parents[1] / "fixtures" / "events"
HOUR = 3_600_000
DAY = 24 * HOUR
SENT = 1_700_000_000_000
CORRELATION = Correlation(
    action_id="a1",
    correlation_id="c1",
    group_id="g1",
    regarding_entity="opportunity",
    regarding_id="b5e7c3a0-3f1d-4c2b-9a8e-7d6f5e4c3b2a",
    regarding_name="Contoso",
    title="Qualify",
    action_type="Survey",
)


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return data


def test_due_dates_from_the_body_as_sent() -> None:
    assert due_ms("Survey", {}, SENT) == SENT + 24 * HOUR  # Kaizala's default
    assert due_ms("Survey", {"dueDate": 2}, SENT) == SENT + 2 * HOUR
    assert due_ms("Job", {"dueDate": 5}, SENT) == SENT + 5 * HOUR
    assert due_ms("Poll", {}, SENT) == SENT + 720 * HOUR
    assert due_ms("Poll", {"expiryInHours": 3}, SENT) == SENT + 3 * HOUR
    meeting = {"startingTime": "2023-11-14T22:13:20Z", "durationInMins": 60}
    assert due_ms("LetsMeet", meeting, SENT) == SENT + HOUR
    assert due_ms("LetsMeet", {"startingTime": SENT}, SENT) == SENT + 30 * 60_000
    assert due_ms("Custom", {"properties": []}, SENT) is None


def test_window_is_days_and_due_date_plus_a_day() -> None:
    body = {"dueDate": 1}
    assert in_window("Survey", body, SENT, SENT + HOUR + DAY, 7)
    assert not in_window("Survey", body, SENT, SENT + HOUR + DAY + 1, 7)
    assert in_window("Custom", {}, SENT, SENT + 7 * DAY, 7)
    assert not in_window("Custom", {}, SENT, SENT + 7 * DAY + 1, 7)
    assert not in_window("Poll", {}, SENT, SENT + 8 * DAY, 7)  # due in 30 days, but too old
    assert not in_window("Announcement", {}, SENT, SENT, 7)  # takes no responses
    assert not in_window("Message", {}, SENT, SENT, 7)


def survey_item(last_updated: int, answer: str = "Likely") -> dict[str, Any]:
    """One item of the simulator's details `responses`, from the published sample's data."""
    data = copy.deepcopy(sample("survey_response")["data"])
    questions = data["responseDetails"]["responseWithQuestions"]
    questions[0]["answer"] = answer
    questions[-1]["answer"] = last_updated  # the hidden ResponseTime
    return {
        "responseId": data["responseId"],
        "responder": data["responder"],
        "responderName": data["responderName"],
        "isAnonymous": False,
        "responseTime": 1_521_800_000_000,
        "lastUpdated": last_updated,
        "responseWithQuestions": questions,
    }


def read(item: dict[str, Any], action_type: str = "Survey") -> Any:
    return read_response(
        item, action_id="a1", group_id="g1", action_type=action_type, sender="+919100000001"
    )


def test_a_read_survey_response_is_the_webhook_event() -> None:
    webhook = sample("survey_response")
    got = read(survey_item(1521800782956))
    assert got.event["eventType"] == "SurveyResponse"
    assert got.answer_time == answer_time(webhook, 0) == 1521800782956
    data = got.event["data"]
    assert data["responseDetails"] == webhook["data"]["responseDetails"]
    assert data["isUpdateResponse"] is True  # lastUpdated after responseTime: an edit
    for field in ("responseId", "responder", "responderName", "isAnonymous"):
        assert data[field] == webhook["data"][field]
    item = InboxItem("a1", got.event_id, got.event, 0, 0, got.answer_time)
    mine, theirs = (
        normalise_response(InboxItem("a1", e["eventId"], e, 0, 0, None), CORRELATION)
        for e in (got.event, webhook)
    )
    assert mine.answers == theirs.answers
    assert (mine.responder_name, mine.responder_phone) == (theirs.responder_name, "+919100000001")
    assert normalise_response(item, CORRELATION).answer_time == 1521800782956


def test_a_read_job_response_is_the_webhook_event() -> None:
    webhook = sample("job_response")
    details = webhook["data"]["responseDetails"]["response"]
    item = {
        "responseId": webhook["data"]["responseId"],
        "assignee": details["assignee"],
        "assigneeName": details["assigneeName"],
        "isCompleted": True,
        "responseTime": 1_000,
        "lastUpdated": 2_000,
    }
    got = read(item, "Job")
    assert got.event["eventType"] == "JobResponse"
    assert got.answer_time == 2_000  # no hidden question: lastUpdated
    assert got.event["data"]["responseDetails"]["response"] == {
        k: details[k] for k in ("assignee", "assigneeName", "isCompleted")
    }
    assert read({**item, "lastUpdated": None}, "Job").answer_time == 1_000
    assert read(item, "Poll").event["eventType"] == "ActionResponse"


def test_event_id_names_the_version() -> None:
    first, same, edit = read(survey_item(10)), read(survey_item(10)), read(survey_item(20))
    assert first.event_id == same.event_id  # read again: the same event (insert refused)
    assert first.event_id.startswith("backfill-")
    assert edit.event_id != first.event_id
    assert first.response_id == edit.response_id
    assert read({"responseTime": 1}) is None  # no responseId: nothing to write


def test_new_only_when_the_inbox_holds_no_such_or_newer_answer() -> None:
    got = read(survey_item(20))
    assert got.is_new({})
    assert got.is_new({got.response_id: 10})  # an edit
    assert not got.is_new({got.response_id: 20})  # held (webhook or backfill alike)
    assert not got.is_new({got.response_id: 30})  # a newer answer is held
    timeless = read({"responseId": "r1"}, "Job")
    assert timeless.answer_time is None
    assert timeless.is_new({}) and not timeless.is_new({"r1": 5})
