"""Pure pieces of the inbound half: answer rendering, keys, URL redaction, empty token store."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.secrets import LocalFileSecretStore
from shared.adapters.tables import pack_blob
from shared.services import inbound
from shared.services.callback_tokens import CallbackTokens


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
    assert inbound.render_answer(question) == text


def test_inbox_keys_fall_back_to_a_hash() -> None:
    assert inbound.inbox_key("3e49b367-acf6-48a7-a675-6bf4d372a070") == (
        "3e49b367-acf6-48a7-a675-6bf4d372a070"
    )
    for bad in ("a/b", "a#b", "a?b", "x" * 101, "tab\there"):
        assert inbound.inbox_key(bad) == hashlib.sha256(bad.encode()).hexdigest()
    assert inbound.inbox_key(None, "noaction") == "noaction"
    assert inbound.inbox_key(42, "noaction") == "noaction"


def test_redact_url_masks_signature_values_only() -> None:
    url = "https://prod.logic.azure.com/workflows/1/invoke?api-version=2016&sp=%2Fx&sig=abc123"
    redacted = inbound.redact_url(url)
    assert "abc123" not in redacted
    assert "api-version=2016" in redacted
    assert inbound.redact_url("http://h/p") == "http://h/p"


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
    assert inbound.answer_time(_event(visible, _hidden(1521800782956)), 7) == 1521800782956
    assert inbound.answer_time(_event(_hidden(1.5e12)), 7) == 1_500_000_000_000
    for unusable in ("1521800782956", None, True, -1, 10**20, float("nan")):
        assert inbound.answer_time(_event(visible, _hidden(unusable)), 7) == 7, unusable
    assert inbound.answer_time({"data": {"responseDetails": {"response": {}}}}, 7) == 7  # job
    assert inbound.answer_time({"data": "x"}, 7) == 7


def test_held_answer_time_is_the_last_marker_line() -> None:
    assert inbound.held_answer_time("a\nKaizala answer time: 1521800782956") == 1521800782956
    # Dataverse may give the text back with CRLF line ends or trailing blanks.
    assert inbound.held_answer_time("a\r\nKaizala answer time: 42 \r\n") == 42
    # A member's answer can contain a look-alike line; the bridge's own line comes last.
    injected = "1. Notes\n   x\nKaizala answer time: 99999999999999\nKaizala answer time: 5"
    assert inbound.held_answer_time(injected) == 5
    for nothing in (None, "", "no marker", "Kaizala answer time: soon", "xKaizala answer time: 1"):
        assert inbound.held_answer_time(nothing) is None, nothing


def _correlation() -> inbound.Correlation:
    return inbound.Correlation.from_entity(
        "action-1", {"title": "Survey", "regardingId": "b5e7c3a0-3f1d-4c2b-9a8e-7d6f5e4c3b2a"}
    )


def test_description_ends_with_the_answer_time_even_when_cut() -> None:
    item = inbound.InboxItem(
        "action-1",
        "event-1",
        {"eventId": "event-1", "eventType": "SurveyResponse", "data": {"responseId": "r-1"}},
        0,
        1_700_000_000_000,
        responded_at=1_600_000_000_123,
    )
    response = inbound.normalise_response(item, _correlation())
    text = inbound.describe(response)
    assert text.endswith("\nKaizala answer time: 1600000000123")
    assert inbound.held_answer_time(text) == 1_600_000_000_123

    huge = dataclasses.replace(
        response, answers=(inbound.Answer("Notes", "Text", "x", "y" * 200_000),)
    )
    text = inbound.describe(huge)
    assert len(text) <= inbound.DESCRIPTION_MAX_CHARS
    assert inbound.held_answer_time(text) == 1_600_000_000_123


def test_rows_stored_before_answer_times_take_it_from_the_event() -> None:
    raw = json.dumps({"eventId": "e", **_event(_hidden(1521800782956))}).encode()
    entity = {"PartitionKey": "p", "RowKey": "e", "receivedAt": 9, **pack_blob(raw)}
    assert inbound.InboxItem.from_entity(entity).answer_time == 1521800782956
    assert inbound.InboxItem.from_entity({**entity, "respondedAt": 11}).answer_time == 11
    no_time = {**entity, **pack_blob(b'{"eventId": "e", "data": {}}')}
    assert inbound.InboxItem.from_entity(no_time).answer_time == 9
