"""The one JSON reader of request bodies: nesting bounded before the parser sees it."""

from __future__ import annotations

import json

import pytest

from shared.domain.json_limits import MAX_JSON_DEPTH, exceeds_depth, loads
from shared.errors import ValidationError


def nested(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


def test_depth_is_counted_outside_strings_only() -> None:
    assert not exceeds_depth(nested(64), 64)
    assert exceeds_depth(nested(65), 64)
    assert exceeds_depth('{"a":' * 65 + "1" + "}" * 65, 64)
    # Siblings do not add up: only the nesting counts.
    assert not exceeds_depth("[" + ",".join(["[[]]"] * 500) + "]", 3)
    # Brackets inside strings, escaped quotes and escaped backslashes are text.
    assert not exceeds_depth(json.dumps(["[" * 1000, "{" * 1000]), 1)
    assert not exceeds_depth(json.dumps({"k": 'a\\"[[[[' + "[" * 100}), 1)
    assert not exceeds_depth(json.dumps(["\\", "[[[["]), 1)
    assert exceeds_depth('["\\\\", [[', 2)  # the string closes after an escaped backslash


def test_the_scan_reads_hostile_text_in_one_pass() -> None:
    # Escaped quotes and no closing quote: a scan that restarts a string match at every quote
    # (a backtracking regex) is quadratic here and would not finish.
    hostile = '"' + '\\"' * 300_000
    assert not exceeds_depth(hostile + "[" * 10, 64)  # all of it is one unterminated string
    assert exceeds_depth("[" * 1_000_000, 64)


@pytest.mark.parametrize(
    "raw",
    [
        nested(10_000).encode(),
        ('{"a":' * 10_000 + "1" + "}" * 10_000).encode(),
        nested(MAX_JSON_DEPTH + 1).encode(),
        nested(10_000).encode("utf-16"),
    ],
)
def test_too_deep_is_a_400_naming_the_limit(raw: bytes) -> None:
    with pytest.raises(ValidationError) as caught:
        loads(raw)
    assert caught.value.status == 400
    assert caught.value.detail == f"The body is nested deeper than {MAX_JSON_DEPTH} levels."
    assert caught.value.errors == [{"field": "(body)", "message": "nested too deep"}]


def test_within_the_limit_parses_as_json_does() -> None:
    assert loads(nested(MAX_JSON_DEPTH).encode()) == json.loads(nested(MAX_JSON_DEPTH))
    value = {"a": ["[", {"b": '"]'}], "é": 1.5}
    for encoding in ("utf-8", "utf-8-sig", "utf-16", "utf-32"):
        assert loads(json.dumps(value, ensure_ascii=False).encode(encoding)) == value


@pytest.mark.parametrize(
    "raw", [b"{not json", b"\xff\xfe\xfd", b"", b"[1,]", b"NaN", b'{"a": Infinity}', b"-Infinity"]
)
def test_anything_that_is_not_json_is_a_400(raw: bytes) -> None:
    with pytest.raises(ValidationError) as caught:
        loads(raw)
    assert caught.value.detail == "The body is not valid JSON."


def test_decode_refuses_deep_or_broken_upstream_json_as_a_value_error() -> None:
    from shared.domain.json_limits import JsonRefused, decode

    assert decode(b'{"a": [1, 2, {"b": null}]}') == {"a": [1, 2, {"b": None}]}
    for raw in (b"[" * 10_000 + b"]" * 10_000, b"{not json", b"NaN", b"\xff\xfe\xfa"):
        with pytest.raises(JsonRefused):
            decode(raw)
    assert issubclass(JsonRefused, ValueError)  # the adapters' `except ValueError` still holds
