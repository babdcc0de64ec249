"""Pure pieces of the inbound half: answer rendering, keys, URL redaction, empty token store."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from shared import inbound
from shared.callbacks import CallbackTokens
from shared.secrets import LocalFileSecretStore


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
