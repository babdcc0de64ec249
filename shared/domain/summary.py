"""The results of one action: each response's latest answers, and the figures over all of them.

Pure. The figures are derived from the inbox's written (done) events of an action:
`latest_records` keeps one `ResultRecord` per response (its latest answers, reduced to what the
figures need: chosen options, a number, or a bounded text); `summarise` turns the records of
an action into a `ResultSummary`, the one object both the summary note on the opportunity
(`summary_note`) and `GET /api/actions/{id}` (`summary`) show, so the two always agree.

Figures, per question (keyed by title and type, in the order the questions first appear):
- SingleOption / MultiOption (and a job's status): every offered option with how many responses
  chose it and the percentage of the responses that answered the question (one decimal; for
  MultiOption the percentages can add up to more than 100);
- Numeric: min, mean (two decimals) and max of the numeric answers;
- anything else (Text, Date, Location, attachments): the latest `LATEST_TEXTS` answers, newest
  first, each cut to `TEXT_CHARS` characters.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.answers import is_number, iso_time, text
from shared.domain.correlation import Correlation
from shared.domain.rendering import NOTE_TEXT_MAX_LENGTH, truncate_utf16
from shared.domain.response_event import EventShapeError
from shared.domain.responses import (
    RESPONSE_EVENTS,
    Answer,
    NormalisedResponse,
    ResponseEvent,
    normalise_response,
)

LATEST_TEXTS = 5  # text answers shown per question
TEXT_CHARS = 300  # characters kept of each text answer (stored and shown)
TITLE_CHARS = 200
MAX_QUESTIONS = 50  # per response, as the bridge's own survey model allows
MAX_OPTIONS = 50
CHOICE_TYPES = ("SingleOption", "MultiOption")
JOB_STATES = ("completed", "pending")

Kind = Literal["choice", "number", "text"]


# ---- one response's answers, as stored ----------------------------------------------------


@dataclass(frozen=True)
class ResultAnswer:
    title: str
    type: str
    kind: Kind
    options: tuple[str, ...] = ()  # choice: the options offered
    chosen: tuple[str, ...] = ()  # choice: the options chosen (empty: not answered)
    number: float | None = None  # number: None when not answered
    text: str = ""  # text: "" when not answered

    @property
    def answered(self) -> bool:
        if self.kind == "choice":
            return bool(self.chosen)
        if self.kind == "number":
            return self.number is not None
        return bool(self.text)


@dataclass(frozen=True)
class ResultRecord:
    """The latest answers of one response (an edit replaces them; answer_time orders them)."""

    response_id: str
    responder: str
    answer_time: int  # epoch ms: when the member answered
    recorded_at: int  # epoch ms: when the bridge recorded this version
    answers: tuple[ResultAnswer, ...] = field(default=())


def result_record(response: NormalisedResponse, recorded_at: int) -> ResultRecord:
    """The record of a normalised response: the answers it shows, reduced for the figures."""
    answers: list[ResultAnswer] = []
    if response.job is not None:
        state = "completed" if response.job["isCompleted"] else "pending"
        answers.append(ResultAnswer("Status", "Job", "choice", JOB_STATES, (state,)))
    else:
        answers = [_answer(a) for a in response.answers[:MAX_QUESTIONS]]
    return ResultRecord(
        response_id=response.response_id,
        responder=response.responder_name[:TITLE_CHARS],
        answer_time=response.answer_time,
        recorded_at=recorded_at,
        answers=tuple(answers),
    )


def _answer(a: Answer) -> ResultAnswer:
    title = a.title[:TITLE_CHARS]
    qtype = a.type[:40]
    answer = a.value
    if qtype in CHOICE_TYPES:
        offered = list(a.options)
        picked = answer if isinstance(answer, list) else [] if answer in (None, "") else [answer]
        chosen = [c for c in (_chosen(p, offered) for p in picked) if c]
        return ResultAnswer(
            title,
            qtype,
            "choice",
            tuple(t[:TITLE_CHARS] for t in offered if t)[:MAX_OPTIONS],
            tuple(dict.fromkeys(chosen))[:MAX_OPTIONS],
        )
    if qtype == "Numeric":
        return ResultAnswer(title, qtype, "number", number=_number_of(answer))
    kept = "" if a.text == "(no answer)" else a.text[:TEXT_CHARS]
    return ResultAnswer(title, qtype, "text", text=kept)


def _chosen(choice: Any, offered: list[str]) -> str:
    # As answers.render_answer reads it: the option title, or an index into the options.
    if isinstance(choice, int) and not isinstance(choice, bool) and 0 <= choice < len(offered):
        return offered[choice][:TITLE_CHARS]
    if isinstance(choice, str):
        return text(choice)[:TITLE_CHARS]
    return ""


def _number_of(answer: Any) -> float | None:
    if is_number(answer):
        return float(answer)
    if isinstance(answer, str):
        try:
            value = float(answer.strip())
        except ValueError:
            return None
        return value if math.isfinite(value) else None
    return None


def latest_records(
    rows: Iterable[tuple[ResponseEvent, int]], correlation: Correlation
) -> list[ResultRecord]:
    """One record per response from an action's written (done) events: the latest answer time
    wins (an edit replaces, never adds), ties to the later processing. `rows` pairs each event
    with when it was processed (epoch ms). An event that is not a response is skipped."""
    latest: dict[str, tuple[tuple[int, int, str], NormalisedResponse, int]] = {}
    for item, processed_at in rows:
        if item.event.get("eventType") not in RESPONSE_EVENTS:
            continue
        try:
            response = normalise_response(item, correlation)
        except EventShapeError:
            continue  # cannot be done (shape errors go dead), but never fails the figures
        order = (response.answer_time, processed_at, response.event_id)
        held = latest.get(response.response_id)
        if held is None or order > held[0]:
            latest[response.response_id] = (order, response, processed_at)
    return [result_record(response, at) for _, response, at in latest.values()]


# ---- the figures ----------------------------------------------------------------------------


class OptionCount(BaseModel):
    model_config = ConfigDict(defer_build=True)
    title: str
    count: int
    percent: float = Field(description="of the responses that answered the question")


class LatestAnswer(BaseModel):
    model_config = ConfigDict(defer_build=True)
    responder: str
    answeredAt: str
    text: str


class QuestionSummary(BaseModel):
    model_config = ConfigDict(defer_build=True)
    title: str
    type: str
    answered: int = Field(description="responses that answered this question")
    options: list[OptionCount] | None = Field(default=None, description="choice questions")
    min: float | None = Field(default=None, description="Numeric questions")
    mean: float | None = None
    max: float | None = None
    latest: list[LatestAnswer] | None = Field(
        default=None, description=f"other questions: the latest {LATEST_TEXTS} answers"
    )


class ResultSummary(BaseModel):
    """The figures over an action's responses (the same as its summary note on the record)."""

    model_config = ConfigDict(defer_build=True)

    responses: int = Field(description="distinct responses (an edit replaces its response)")
    updatedAt: str | None = Field(
        default=None, description="when the latest response (or edit) was recorded"
    )
    questions: list[QuestionSummary] = Field(default_factory=list)


@dataclass
class _Question:
    title: str
    type: str
    kind: Kind
    answered: int = 0
    options: tuple[str, ...] = ()
    extra: dict[str, None] = field(default_factory=dict)  # chosen but not offered, in order
    counts: dict[str, int] = field(default_factory=dict)
    numbers: list[float] = field(default_factory=list)
    texts: list[tuple[int, str, str]] = field(default_factory=list)  # (time, responder, text)


def summarise(records: Iterable[ResultRecord]) -> ResultSummary:
    """The figures over every response of an action (any order in, deterministic out)."""
    ordered = sorted(records, key=lambda r: (r.answer_time, r.response_id))
    questions: dict[tuple[str, str], _Question] = {}
    for record in ordered:
        for a in record.answers:
            q = questions.setdefault((a.title, a.type), _Question(a.title, a.type, a.kind))
            if a.kind != q.kind:
                continue  # the same title and type stored as another kind: not comparable
            _add(q, a, record)
    return ResultSummary(
        responses=len(ordered),
        updatedAt=iso_time(max(r.recorded_at for r in ordered)) if ordered else None,
        questions=[_figures(q) for q in questions.values()],
    )


def _add(q: _Question, a: ResultAnswer, record: ResultRecord) -> None:
    if a.kind == "choice" and a.options:
        q.options = a.options  # the latest response's options (answer-time order)
    if not a.answered:
        return
    q.answered += 1
    if a.kind == "choice":
        for title in a.chosen:
            q.counts[title] = q.counts.get(title, 0) + 1
            q.extra.setdefault(title)
    elif a.kind == "number" and a.number is not None:
        q.numbers.append(a.number)
    else:
        q.texts.append((record.answer_time, record.responder, a.text))


def _figures(q: _Question) -> QuestionSummary:
    out = QuestionSummary(title=q.title, type=q.type, answered=q.answered)
    if q.kind == "choice":
        titles = list(q.options) + [t for t in q.extra if t not in q.options]
        out.options = [
            OptionCount(
                title=t,
                count=q.counts.get(t, 0),
                percent=round(100 * q.counts.get(t, 0) / q.answered, 1) if q.answered else 0.0,
            )
            for t in titles
        ]
    elif q.kind == "number":
        if q.numbers:
            out.min, out.max = min(q.numbers), max(q.numbers)
            out.mean = round(sum(q.numbers) / len(q.numbers), 2)
    else:
        newest = sorted(q.texts, key=lambda t: t[0], reverse=True)[:LATEST_TEXTS]
        out.latest = [
            LatestAnswer(responder=who, answeredAt=iso_time(at) or "", text=said)
            for at, who, said in newest
        ]
    return out


# ---- the summary note -----------------------------------------------------------------------


@dataclass(frozen=True)
class NoteTarget:
    """What the note says about its action (from the correlation written at send time)."""

    action_id: str
    correlation_id: str
    title: str
    action_type: str
    regarding_name: str = ""


def summary_note(summary: ResultSummary, target: NoteTarget) -> tuple[str, str]:
    """Subject and text of the summary note: the figures of `summary`, nothing else."""
    title = target.title or f"action {target.action_id}"
    count = summary.responses
    subject = f"Kaizala results: {title} — {count} response{'' if count == 1 else 's'}"
    lines = [f"Results of the {target.action_type or 'Kaizala'} action: {title}"]
    if target.regarding_name:
        lines.append(f"Regarding: {target.regarding_name}")
    lines.append(f"Responses: {count}")
    lines.append(f"Last updated: {summary.updatedAt or 'no response yet'}")
    for n, q in enumerate(summary.questions, 1):
        lines += ["", f"{n}. {q.title} ({q.type}; answered by {q.answered})"]
        for o in q.options or []:
            lines.append(f"   {o.title}: {o.count} ({fmt(o.percent)}%)")
        if q.mean is not None:
            lines.append(f"   min {fmt(q.min)} · mean {fmt(q.mean)} · max {fmt(q.max)}")
        for a in q.latest or []:
            lines.append(f"   - {a.responder}, {a.answeredAt}: {a.text}")
    lines += ["", f"Action id: {target.action_id}", f"Correlation id: {target.correlation_id}"]
    return subject, fit_note("\n".join(lines))


def fit_note(body: str) -> str:
    """`body` within Dataverse's notetext limit, with a visible marker when it was cut."""
    marker = "\n… (cut to fit the note)"
    if len(body.encode("utf-16-le")) // 2 <= NOTE_TEXT_MAX_LENGTH:
        return body
    return truncate_utf16(body, NOTE_TEXT_MAX_LENGTH - len(marker)) + marker


def fmt(value: float | None) -> str:
    """A figure as people read it: 60 not 60.0, 33.3, 110000.5."""
    if value is None:
        return "-"
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")
