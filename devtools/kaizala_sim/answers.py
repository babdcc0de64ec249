"""Answers to surveys, polls, Let's Meet and custom actions, checked against the question type
and stored in the JSON type the webhook events carry."""

from __future__ import annotations

from typing import Any

from devtools.kaizala_sim.checks import is_number, location, opt_str, req_str
from devtools.kaizala_sim.errors import bad_request
from devtools.kaizala_sim.models import Action, Question
from devtools.kaizala_sim.state import SimState


def normalize_answer(state: SimState, question: Question, value: Any, where: str) -> Any:
    """One answer in the JSON type the webhook event carries for this question type."""
    qtype = question.qtype
    if qtype == "SingleOption":
        if not isinstance(value, str) or value not in question.options:
            raise bad_request(f"{where} must be one of the options {question.options}")
        return value
    if qtype == "MultiOption":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            raise bad_request(f"{where} must be a non-empty list of options")
        for item in value:
            if not isinstance(item, str) or item not in question.options:
                raise bad_request(f"{where}: {item!r} is not one of {question.options}")
        if len(set(value)) != len(value):
            raise bad_request(f"{where} repeats an option")
        return list(value)
    if qtype == "Text":
        if not isinstance(value, str):
            raise bad_request(f"{where} must be a string")
        return value
    if qtype == "Numeric":
        if not is_number(value):
            raise bad_request(f"{where} must be a number")
        return value
    if qtype in ("Date", "DateTime"):
        if not is_number(value) or value < 0 or not float(value).is_integer():
            raise bad_request(f"{where} must be a date as epoch milliseconds")
        return int(value)
    if qtype == "Location":
        return location(value, where)
    return _media_answer(state, value, where, single=qtype == "Image")


def _media_answer(state: SimState, value: Any, where: str, single: bool) -> list[dict[str, str]]:
    items = value if isinstance(value, list) else [value]
    if not items or (single and len(items) != 1):
        raise bad_request(f"{where} must be {'one media item' if single else 'a list of media'}")
    media: list[dict[str, str]] = []
    for i, item in enumerate(items):
        iwhere = f"{where}[{i}]"
        if isinstance(item, str):
            found = state.media_for(item, iwhere)
            media.append({"mediaUrl": found.url, "mediaFileName": found.file_name})
        elif isinstance(item, dict):
            media.append(
                {
                    "mediaUrl": req_str(item, "mediaUrl", iwhere),
                    "mediaFileName": opt_str(item, "mediaFileName", iwhere),
                }
            )
        else:
            raise bad_request(f"{iwhere} must be a mediaResource string or a media object")
    return media


def normalize_answers(
    state: SimState, action: Action, raw: Any, where: str
) -> tuple[list[Any], list[str] | None]:
    """Answers as a list (by question index) or an object {question title: answer}.

    Returns the normalized answers and, for custom actions (whose questions the simulator
    does not know), the titles to show with them."""
    if action.questions:
        if isinstance(raw, dict):
            by_title = {q.title: q for q in action.questions}
            unknown = [t for t in raw if t not in by_title]
            if unknown:
                raise bad_request(f"{where}: no question titled {unknown[0]!r}")
            missing = [q.title for q in action.questions if q.title not in raw]
            if missing:
                raise bad_request(f"{where}: no answer for question {missing[0]!r}")
            raw = [raw[q.title] for q in action.questions]
        if not isinstance(raw, list) or len(raw) != len(action.questions):
            raise bad_request(
                f"{where} must hold one answer per question ({len(action.questions)})"
            )
        answers = [
            normalize_answer(state, q, value, f"{where}[{i}]")
            for i, (q, value) in enumerate(zip(action.questions, raw, strict=True))
        ]
        return answers, None
    if isinstance(raw, dict) and raw:
        return list(raw.values()), [str(k) for k in raw]
    if not isinstance(raw, list) or not raw or any(v is None for v in raw):
        raise bad_request(f"{where} must be a non-empty list of answers")
    return list(raw), None
