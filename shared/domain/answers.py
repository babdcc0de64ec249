"""One answer of a Kaizala response as the text a Dynamics user reads, by question type."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from shared.clock import iso_z
from shared.domain.response_event import QuestionShape

_EPOCH_Z = "1970-01-01T00:00:00Z"


def iso_time(ms: int | None) -> str | None:
    """`2026-01-01T00:00:00Z` for epoch ms, or None when it is not a time."""
    # iso_z reads 0 as "no time"; an answer of 0 is a time (the epoch) and was always shown so.
    return _EPOCH_Z if ms == 0 else iso_z(ms)


def render_answer(question: QuestionShape) -> str:
    """Readable text of one answer, by question type (any JSON value has a text)."""
    qtype = question.type or ""
    answer = question.answer
    if answer is None or answer == "" or answer == []:
        return "(no answer)"
    if qtype in ("SingleOption", "MultiOption"):
        titles = [text(o.title) for o in question.options or ()]
        chosen = answer if isinstance(answer, list) else [answer]
        return ", ".join(_option(c, titles) for c in chosen)
    if qtype in ("Date", "DateTime") and isinstance(answer, int | float) and is_number(answer):
        return iso_time(int(answer)) or str(answer)
    if qtype == "Location" and isinstance(answer, dict):
        return _location(answer)
    if qtype in ("AttachmentList", "Image") or (
        isinstance(answer, list) and answer and all(isinstance(a, dict) for a in answer)
    ):
        return "; ".join(_media(m) for m in (answer if isinstance(answer, list) else [answer]))
    if is_number(answer):
        return _number(answer)
    if isinstance(answer, list):
        return ", ".join(_scalar(a) for a in answer)
    return _scalar(answer)


def _option(choice: Any, titles: list[str]) -> str:
    # The documented answer is the option title; an index into the options is also seen.
    if isinstance(choice, int) and not isinstance(choice, bool) and 0 <= choice < len(titles):
        return titles[choice]
    return _scalar(choice)


def _location(answer: Mapping[str, Any]) -> str:
    lat = answer.get("latitude", answer.get("lat", answer.get("lt")))
    lng = answer.get("longitude", answer.get("long", answer.get("lg")))
    name = text(answer.get("name", answer.get("n", answer.get("address")))) or "Location"
    if is_number(lat) and is_number(lng):
        return f"{name} ({_number(lat)}, {_number(lng)})"
    return name


def _media(item: Any) -> str:
    if not isinstance(item, dict):
        return _scalar(item)
    name = text(item.get("mediaFileName") or item.get("fileName") or item.get("name"))
    url = text(item.get("mediaUrl") or item.get("url"))
    if name and url:
        return f"{name} <{url}>"
    return name or url or "(attachment)"


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if is_number(value):
        return _number(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def text(value: Any) -> str:
    """A string with its whitespace runs collapsed to single spaces; "" for anything else."""
    return " ".join(value.split()) if isinstance(value, str) else ""
