"""The pure parts of the results: answers as kept, the figures, and both notes' texts."""

from __future__ import annotations

from typing import Any

from shared.domain.conversation import conversation_group, conversation_note
from shared.domain.correlation import Correlation
from shared.domain.rendering import NOTE_TEXT_MAX_LENGTH
from shared.domain.responses import NormalisedResponse, normalise_response
from shared.domain.summary import (
    LATEST_TEXTS,
    TEXT_CHARS,
    NoteTarget,
    ResultAnswer,
    ResultRecord,
    fmt,
    latest_records,
    result_record,
    summarise,
    summary_note,
)
from shared.stores.inbox import InboxItem
from shared.stores.summary_due import due_time

CORRELATION = Correlation(
    "a-1", "c-1", "g-1", "opportunity", "b5e7", "Contoso", "Qualify", "Survey"
)


def response(job: dict[str, Any] | None = None, answer_time: int = 1000) -> NormalisedResponse:
    return NormalisedResponse(
        event_id="e-1",
        event_type="JobResponse" if job else "SurveyResponse",
        correlation=CORRELATION,
        response_id="r-1",
        group_id="g-1",
        is_update=False,
        anonymous=False,
        responder_name="Asha Rao",
        responder_phone=None,
        answers=(),
        job=job,
        responded_at="",
        received_at="",
        answer_time=answer_time,
    )


def answered(*questions: Any) -> NormalisedResponse:
    """The normalised response of a survey event with these questions (answer time 1000)."""
    data = {
        "responseId": "r-1",
        "responderName": "Asha Rao",
        "responseDetails": {"responseWithQuestions": list(questions)},
    }
    event = {"eventId": "e-1", "eventType": "SurveyResponse", "data": data}
    return normalise_response(InboxItem("a-1", "e-1", event, 0, 0, responded_at=1000), CORRELATION)


def record(rid: str, at: int, *answers: ResultAnswer, who: str = "X") -> ResultRecord:
    return ResultRecord(rid, who, at, at, answers)


def choice(title: str, *chosen: str, options: tuple[str, ...] = ("Yes", "No")) -> ResultAnswer:
    return ResultAnswer(title, "SingleOption", "choice", options, chosen)


def test_answers_are_kept_by_kind() -> None:
    kept = result_record(
        answered(
            {
                "title": "Pick",
                "type": "SingleOption",
                "options": [{"title": "A"}, {"title": "B"}],
                "answer": 1,
            },  # an index into the options
            {
                "title": "Many",
                "type": "MultiOption",
                "options": [{"title": "A"}],
                "answer": ["A", "Z"],
            },
            {"title": "Budget", "type": "Numeric", "answer": "12.5"},
            {"title": "Nothing", "type": "Numeric", "answer": None},
            {"title": "Notes", "type": "Text", "answer": "x" * 1000},
            {"title": "When", "type": "Date", "answer": 0},
            {"title": "ResponseTime", "type": "DateTime", "isInvisible": True, "answer": 5},
        ),
        recorded_at=7,
    )
    by_title = {a.title: a for a in kept.answers}
    assert list(by_title) == ["Pick", "Many", "Budget", "Nothing", "Notes", "When"]
    assert by_title["Pick"].chosen == ("B",)
    assert by_title["Many"].chosen == ("A", "Z")  # chosen but not offered is still counted
    assert by_title["Budget"].number == 12.5
    assert not by_title["Nothing"].answered
    assert len(by_title["Notes"].text) == TEXT_CHARS
    assert by_title["When"].text == "1970-01-01T00:00:00Z"
    assert (kept.answer_time, kept.recorded_at, kept.responder) == (1000, 7, "Asha Rao")


def stored(event_id: str, response_id: str, answer_time: int, text: str) -> InboxItem:
    """An inbox row's event: a survey answer of `response_id` at `answer_time`."""
    data = {
        "responseId": response_id,
        "responderName": "Asha Rao",
        "responseDetails": {
            "responseWithQuestions": [{"title": "Notes", "type": "Text", "answer": text}]
        },
    }
    event = {"eventId": event_id, "eventType": "SurveyResponse", "data": data}
    return InboxItem("a-1", event_id, event, 0, 0, responded_at=answer_time)


def test_latest_records_keep_one_record_per_response_the_latest_answer() -> None:
    rows = [
        (stored("e-3", "r-1", 3000, "edited"), 10),  # the edit, processed before the answer
        (stored("e-1", "r-1", 1000, "first"), 20),
        (stored("e-2", "r-2", 2000, "other"), 15),
        (InboxItem("a-1", "e-9", {"eventId": "e-9", "eventType": "ActionCreated"}, 0, 0), 30),
    ]
    kept = {r.response_id: r for r in latest_records(rows, CORRELATION)}
    assert sorted(kept) == ["r-1", "r-2"]  # not a response: skipped
    assert (kept["r-1"].answers[0].text, kept["r-1"].recorded_at) == ("edited", 10)
    assert summarise(kept.values()).responses == 2


def test_due_windows_debounce_and_never_move_back() -> None:
    delay, window = 30_000, 15_000  # a window is half the debounce
    first = due_time(1_000_000, delay)
    assert first % window == 0 and 1_000_000 + window <= first < 1_000_000 + delay
    # a burst inside one window: one mark; the next window: a later one, never an earlier
    assert due_time(first - window, delay) == first
    assert due_time(first - window + 1, delay) == first + window


def test_a_job_is_a_choice_of_its_state() -> None:
    kept = result_record(response(job={"assigneeName": "M", "isCompleted": True}), 1)
    summary = summarise([kept])
    [status] = summary.questions
    assert [(o.title, o.count, o.percent) for o in status.options or []] == [
        ("completed", 1, 100.0),
        ("pending", 0, 0.0),
    ]


def test_figures_follow_the_answer_times_not_the_order_given() -> None:
    older = record("r-1", 10, choice("Q", "Yes", options=("Yes", "No")), who="Old")
    newer = record("r-2", 20, choice("Q", "No", options=("Yes", "No", "Maybe")), who="New")
    for given in ([older, newer], [newer, older]):
        summary = summarise(given)
        [q] = summary.questions
        # the newest response's options, zero counts included; percentages of those answering
        assert [(o.title, o.count, o.percent) for o in q.options or []] == [
            ("Yes", 1, 50.0),
            ("No", 1, 50.0),
            ("Maybe", 0, 0.0),
        ]
        assert summary.updatedAt == "1970-01-01T00:00:00Z"  # 20 ms: the latest recorded


def test_percentages_are_rounded_and_multi_option_may_exceed_100() -> None:
    multi = [
        record(f"r-{n}", n, ResultAnswer("M", "MultiOption", "choice", ("A", "B"), chosen))
        for n, chosen in enumerate([("A", "B"), ("A",), ("B",)])
    ]
    [q] = summarise(multi).questions
    assert [(o.count, o.percent) for o in q.options or []] == [(2, 66.7), (2, 66.7)]


def test_latest_texts_are_bounded_newest_first() -> None:
    records = [
        record(f"r-{n}", n, ResultAnswer("T", "Text", "text", text=f"said {n}"), who=f"P{n}")
        for n in range(12)
    ]
    [q] = summarise(records).questions
    assert q.answered == 12
    assert [a.text for a in q.latest or []] == [
        f"said {n}" for n in range(11, 11 - LATEST_TEXTS, -1)
    ]


def test_numbers_and_an_empty_summary() -> None:
    numbers = [
        record(f"r-{n}", n, ResultAnswer("N", "Numeric", "number", number=v))
        for n, v in enumerate([1.0, 2.0, 4.0])
    ]
    [q] = summarise(numbers).questions
    assert (q.min, q.mean, q.max, q.answered) == (1.0, 2.33, 4.0, 3)
    assert (fmt(q.mean), fmt(q.max), fmt(66.7)) == ("2.33", "4", "66.7")
    empty = summarise([])
    assert (empty.responses, empty.updatedAt, empty.questions) == (0, None, [])
    subject, text = summary_note(empty, NoteTarget("a-1", "c-1", "", ""))
    assert subject == "Kaizala results: action a-1 — 0 responses"
    assert "Last updated: no response yet" in text


def test_a_huge_summary_still_fits_the_note() -> None:
    # 50 questions of 50 long options each: within what is kept, beyond a note's 100,000.
    options = tuple(f"{n:03d}" + "o" * 197 for n in range(50))
    answers = (ResultAnswer(f"Q{q}", "MultiOption", "choice", options, options) for q in range(50))
    _, text = summary_note(summarise([record("r-1", 1, *answers)]), NoteTarget("a", "c", "B", "S"))
    assert len(text.encode("utf-16-le")) // 2 <= NOTE_TEXT_MAX_LENGTH
    assert text.endswith("… (cut to fit the note)")


def test_conversation_note_of_each_kind() -> None:
    message = {
        "eventType": "TextMessageCreated",
        "objectType": "Group",
        "objectId": "g-1",
        "eventId": "e-1",
        "fromUserName": "Asha",
        "data": {"text": "  hello\nthere "},
    }
    subject, text = conversation_note(message, 0)
    assert subject == "Kaizala message from Asha: hello there"
    assert "\nhello\nthere\n" in text and "Received: 1970-01-01T00:00:00Z" in text
    assert conversation_group(message) == "g-1"

    attachment = {
        "eventType": "AttachmentCreated",
        "eventId": "e-2",
        "data": {
            "groupId": "g-2",
            "actionType": "Document",
            "media": [{"mediaUrl": "https://x.invalid/a.pdf"}, "junk"],
        },
    }
    subject, text = conversation_note(attachment, 0)
    assert subject == "Kaizala document from Unknown sender: (document)"
    assert "- (document) (Document): https://x.invalid/a.pdf" in text
    assert conversation_group(attachment) == "g-2"
