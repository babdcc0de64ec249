"""Pure pieces of the inbound half: answer rendering, keys, URL redaction, empty token store.

Rendering and answer times are the domain (`shared.domain.answers`, `.responses`,
`.rendering`); keys and the stored row's answer time are the inbox store's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.secrets import LocalFileSecretStore
from shared.adapters.tables import pack_blob
from shared.domain.answers import render_answer
from shared.domain.correlation import Correlation
from shared.domain.rendering import DESCRIPTION_MAX_CHARS, describe
from shared.domain.response_event import EventShapeError, QuestionShape, parse_response_event
from shared.domain.responses import Answer, answer_time, held_answer_time, normalise_response
from shared.logsafe import redact_url
from shared.services.callback_tokens import CallbackTokens
from shared.stores.inbox import InboxItem, inbox_key


@pytest.mark.parametrize(
    ("question", "text"),
    [
        (
            {"type": "SingleOption", "options": [{"title": "Yes"}, {"title": "No"}], "answer": 1},
            "No",
        ),
        ({"type": "MultiOption", "options": [{"title": "A"}], "answer": ["A", "Z"]}, "A, Z"),
        ({"type": "Numeric", "answer": 12.0}, "12"),
        ({"type": "Numeric", "answer": 12.5}, "12.5"),
        ({"type": "Location", "answer": {"lt": 1.5, "lg": -2, "n": "Dock"}}, "Dock (1.5, -2)"),
        ({"type": "Location", "answer": {"latitude": 1, "longitude": 2}}, "Location (1, 2)"),
        ({"type": "DateTime", "answer": 0}, "1970-01-01T00:00:00Z"),
        ({"type": "Text", "answer": None}, "(no answer)"),
        ({"type": "Text", "answer": True}, "yes"),
        (
            {"type": "AttachmentList", "answer": [{"url": "https://x.invalid/a"}]},
            "https://x.invalid/a",
        ),
    ],
)
def test_render_answer(question: dict[str, Any], text: str) -> None:
    assert render_answer(QuestionShape.model_validate(question)) == text


def test_inbox_keys_fall_back_to_a_hash() -> None:
    assert inbox_key("3e49b367-acf6-48a7-a675-6bf4d372a070") == (
        "3e49b367-acf6-48a7-a675-6bf4d372a070"
    )
    for bad in ("a/b", "a#b", "a?b", "x" * 101, "tab\there"):
        assert inbox_key(bad) == hashlib.sha256(bad.encode()).hexdigest()
    assert inbox_key(None, "noaction") == "noaction"
    assert inbox_key(42, "noaction") == "noaction"


def test_redact_url_masks_signature_values_only() -> None:
    url = "https://prod.logic.azure.com/workflows/1/invoke?api-version=2016&sp=%2Fx&sig=abc123"
    redacted = redact_url(url)
    assert "abc123" not in redacted
    assert "api-version=2016" in redacted
    assert redact_url("http://h/p") == "http://h/p"


async def test_no_token_in_the_store_accepts_nothing(tmp_path: Path) -> None:
    tokens = CallbackTokens(LocalFileSecretStore(tmp_path / "s.json"), grace_hours=48)
    assert not await tokens.verify("anything-at-all")
    assert not await tokens.verify(None)


# ---- answer times ------------------------------------------------------------------------------


def _hidden(answer: Any) -> dict[str, Any]:
    return {"isInvisible": True, "title": "ResponseTime", "type": "DateTime", "answer": answer}


def _event(*questions: dict[str, Any]) -> dict[str, Any]:
    return {"data": {"responseDetails": {"responseWithQuestions": list(questions)}}}


def test_answer_time_is_the_hidden_response_time_else_the_arrival() -> None:
    visible = {"title": "ResponseTime", "type": "DateTime", "answer": 5}  # a member's question
    assert answer_time(_event(visible, _hidden(1521800782956)), 7) == 1521800782956
    assert answer_time(_event(_hidden(1.5e12)), 7) == 1_500_000_000_000
    for unusable in ("1521800782956", None, True, -1, 10**20, float("nan")):
        assert answer_time(_event(visible, _hidden(unusable)), 7) == 7, unusable
    assert answer_time({"data": {"responseDetails": {"response": {}}}}, 7) == 7  # job
    assert answer_time({"data": "x"}, 7) == 7


def test_held_answer_time_is_the_last_marker_line() -> None:
    assert held_answer_time("a\nKaizala answer time: 1521800782956") == 1521800782956
    # Dataverse may give the text back with CRLF line ends or trailing blanks.
    assert held_answer_time("a\r\nKaizala answer time: 42 \r\n") == 42
    # A member's answer can contain a look-alike line; the bridge's own line comes last.
    injected = "1. Notes\n   x\nKaizala answer time: 99999999999999\nKaizala answer time: 5"
    assert held_answer_time(injected) == 5
    for nothing in (None, "", "no marker", "Kaizala answer time: soon", "xKaizala answer time: 1"):
        assert held_answer_time(nothing) is None, nothing


def _correlation() -> Correlation:
    return Correlation.from_entity(
        "action-1", {"title": "Survey", "regardingId": "b5e7c3a0-3f1d-4c2b-9a8e-7d6f5e4c3b2a"}
    )


def test_description_ends_with_the_answer_time_even_when_cut() -> None:
    item = InboxItem(
        "action-1",
        "event-1",
        {"eventId": "event-1", "eventType": "SurveyResponse", "data": {"responseId": "r-1"}},
        0,
        1_700_000_000_000,
        responded_at=1_600_000_000_123,
    )
    response = normalise_response(item, _correlation())
    text = describe(response)
    assert text.endswith("\nKaizala answer time: 1600000000123")
    assert held_answer_time(text) == 1_600_000_000_123

    huge = dataclasses.replace(response, answers=(Answer("Notes", "Text", "x", "y" * 200_000),))
    text = describe(huge)
    assert len(text) <= DESCRIPTION_MAX_CHARS
    assert held_answer_time(text) == 1_600_000_000_123


def test_a_description_over_the_limit_cuts_the_answers_and_keeps_the_ids() -> None:
    item = InboxItem(
        "action-1",
        "event-1",
        {"eventId": "event-1", "eventType": "SurveyResponse", "data": {"responseId": "r-1"}},
        0,
        1_700_000_000_000,
        responded_at=1_600_000_000_123,
    )
    correlation = dataclasses.replace(
        _correlation(), correlation_id="5f0e4c3a-0000-4000-8000-000000000000"
    )
    response = normalise_response(item, correlation)
    tail = (
        "\n\nResponse id: r-1\nEvent id: event-1\nAction id: action-1\n"
        "Correlation id: 5f0e4c3a-0000-4000-8000-000000000000\n"
        "Kaizala answer time: 1600000000123"
    )
    for answers in (
        (Answer("Notes", "Text", "x", "y" * 200_000),),
        (Answer("Short", "Text", "a", "kept whole"), Answer("Notes", "Text", "x", "😀" * 60_000)),
        tuple(Answer(f"Q{n}", "Text", "x", "z" * 1000) for n in range(150)),
    ):
        text = describe(dataclasses.replace(response, answers=answers))
        assert len(text.encode("utf-16-le")) // 2 <= DESCRIPTION_MAX_CHARS  # Dataverse's unit
        assert text.endswith(tail), text[-400:]
        assert text.startswith("Kaizala response: Survey\n")
        assert "Responded at: 2023-11-14T22:13:20Z\n\n1. " + answers[0].title in text
        assert "[The answers were cut to fit Dynamics' limit of 100,000 characters.]" in text
    whole = describe(dataclasses.replace(response, answers=(Answer("Notes", "Text", "x", "y"),)))
    assert "were cut" not in whole
    assert whole.endswith("\n\n1. Notes\n   y" + tail)
    job = dataclasses.replace(response, job={"assigneeName": "M", "isCompleted": True})
    assert describe(job).endswith("Responded at: 2023-11-14T22:13:20Z" + tail)


def test_rows_stored_before_answer_times_take_it_from_the_event() -> None:
    raw = json.dumps({"eventId": "e", **_event(_hidden(1521800782956))}).encode()
    entity = {"PartitionKey": "p", "RowKey": "e", "receivedAt": 9, **pack_blob(raw)}
    assert InboxItem.from_entity(entity).answer_time == 1521800782956
    assert InboxItem.from_entity({**entity, "respondedAt": 11}).answer_time == 11
    no_time = {**entity, **pack_blob(b'{"eventId": "e", "data": {}}')}
    assert InboxItem.from_entity(no_time).answer_time == 9


def test_a_stored_event_that_cannot_be_read_back_says_why() -> None:
    base = {"PartitionKey": "p", "RowKey": "e", "receivedAt": 9}
    readable = InboxItem.from_entity({**base, **pack_blob(b'{"eventId": "e"}')})
    assert (readable.event, readable.unreadable) == ({"eventId": "e"}, None)
    for body, reason in (
        (pack_blob(b"{not json"), "the stored event is not JSON"),
        (pack_blob(b"\xff\xfe"), "the stored event is not JSON"),
        (pack_blob(b'"text"'), "the stored event is not a JSON object"),
        ({"BodyChunks": 1, "Body0": b"not zlib"}, "the stored event cannot be unpacked"),
        ({"BodyChunks": 2, "Body0": b""}, "the stored event cannot be unpacked"),
    ):
        item = InboxItem.from_entity({**base, **body})
        assert (item.event, item.unreadable) == ({}, reason), body


def test_an_unusable_arrival_time_is_replaced_by_the_callers_now() -> None:
    event = {"eventId": "e", "eventType": "JobResponse", "data": {"responseId": "r"}}
    beyond_any_date = 10**20
    item = InboxItem("p", "e", event, 0, beyond_any_date, responded_at=5)
    response = normalise_response(item, _correlation(), now_ms=1_767_225_600_000)
    assert response.received_at == "2026-01-01T00:00:00Z"
    assert response.responded_at == "2026-01-01T00:00:00Z"  # a job has no ResponseTime
    assert normalise_response(item, _correlation()).received_at == ""


def test_a_shape_error_names_the_fields_never_the_values() -> None:
    secretish = "+919100000001 Asha " * 20
    event = {
        "eventId": "e",
        "eventType": "SurveyResponse",
        "data": {"responseId": secretish * 2, "responderName": 5, "isAnonymous": secretish},
    }
    with pytest.raises(EventShapeError) as caught:
        parse_response_event(event)
    message = str(caught.value)
    assert message == "data.responseId is longer than 256 characters (and 2 more)"
    assert "9100000001" not in message
    job = {"eventId": "e", "eventType": "JobResponse", "data": {"responseId": "  "}}
    with pytest.raises(EventShapeError, match=r"^data\.responseId must not be blank$"):
        parse_response_event(job)
    with pytest.raises(EventShapeError, match=r"^data is missing$"):
        parse_response_event({"eventId": "e", "eventType": "ActionResponse"})
