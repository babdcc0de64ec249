"""The base helpers every layer shares: the clock conversions and log safety."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from shared import clock
from shared.logsafe import (
    RedactRequestUrls,
    excerpt,
    install_url_redaction,
    log_value,
    redact,
    redact_url,
)

MS = 1_796_126_400_123  # 2026-12-01T12:00:00.123Z


def test_clock_conversions_round_trip() -> None:
    assert clock.now_ms(lambda: MS / 1000) == MS
    moment = clock.from_ms(MS)
    assert moment == datetime(2026, 12, 1, 12, 0, 0, 123000, tzinfo=UTC)
    assert clock.to_ms(moment) == MS
    assert clock.to_ms(datetime(2026, 12, 1, 12, 0, 0)) == MS - 123  # naive means UTC


def test_iso_formats() -> None:
    assert clock.iso_seconds(MS) == "2026-12-01T12:00:00+00:00"
    assert clock.iso_z(MS) == "2026-12-01T12:00:00Z"
    for not_a_time in (None, 0, "", True, "12", 10**20):
        assert clock.iso_seconds(not_a_time) is None
        assert clock.iso_z(not_a_time) is None


def test_redact_masks_secrets_and_token_shapes_not_ids() -> None:
    guid = "0f8fad5b-d9cb-469f-a165-70867728950e"
    text = f'refreshToken=abc123secret id {guid} "accessToken": "xyz" {"A" * 40}'
    out = redact(text, ["abc123secret"])
    assert "abc123secret" not in out
    assert "xyz" not in out
    assert "A" * 40 not in out
    assert guid in out


def test_excerpt_is_one_bounded_line() -> None:
    out = excerpt("line one\nline two " + "word " * 200)
    assert "\n" not in out
    assert len(out) <= 300


def test_redact_url_masks_signatures_only() -> None:
    url = "https://flow.example/trigger?api-version=1&sp=%2Fx&sig=SECRET&code=C"
    out = redact_url(url)
    assert "SECRET" not in out
    assert "code=REDACTED" in out
    assert "api-version=1" in out
    assert redact_url("https://x.example/path") == "https://x.example/path"


class _URL:  # stands in for httpx.URL: the filter matches on the type's name only
    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


URL = type("URL", (_URL,), {})


def test_url_filter_is_installed_once_and_masks_records() -> None:
    name = "tests.logsafe.httpx"
    install_url_redaction(name)
    install_url_redaction(name)
    target = logging.getLogger(name)
    filters = [f for f in target.filters if isinstance(f, RedactRequestUrls)]
    assert len(filters) == 1
    record = logging.LogRecord(
        name,
        logging.INFO,
        __file__,
        1,
        "HTTP Request: %s %s",
        ("POST", URL("https://h/?sig=S")),
        None,
    )
    filters[0].filter(record)
    assert "S" not in str(record.args[1]).split("sig=")[1]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        ("a\r\nFAKE result=ignored", "a\\x0d\\x0aFAKE result=ignored"),
        ("\x1b[31mred", "\\x1b[31mred"),
        ("\u2028x", "\\x2028x"),
        (42, "42"),
    ],
)
def test_log_value_escapes_control_characters(value: object, expected: str) -> None:
    assert log_value(value) == expected


def test_log_value_is_bounded() -> None:
    out = log_value("x" * 10_000)
    assert out.startswith("x" * 200)
    assert out.endswith("…(+9800)")


def test_redact_masks_any_bearer_token() -> None:
    out = redact("echo: Authorization: Bearer abc.def and Bearer xyz, then bearer  q1")
    assert "abc.def" not in out
    assert "xyz" not in out
    assert "q1" not in out
    assert out.count("***") == 3
