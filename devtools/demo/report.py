"""What the demo saw, the checks of every number against what it did, and the printed report."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from devtools.demo.cast import OPPORTUNITY_ID, OPPORTUNITY_NAME, SURVEY_TYPES, Answering
from devtools.stack import Ports


@dataclass
class Sent:
    """One answer given in the simulator, and when the bridge made it visible in Dataverse."""

    mobile: str
    name: str
    answers: tuple[Any, ...]
    lines: list[str]  # what the activity's description must hold for these answers
    response_id: str
    event_id: str
    started: float
    is_edit: bool = False
    during_outage: bool = False
    backfilled: bool = False  # answered while the bridge's subscription was gone
    latency: float | None = None


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    ports: Ports
    members: tuple[Answering, ...]  # who answers, and how (devtools.demo.cast)
    survey_title: str = ""
    questions: list[str] = field(default_factory=list)
    correlation_id: str = ""
    action_id: str = ""
    first_status: int = 0
    repeat_status: int = 0
    repeat_correlation_id: str = ""
    kaizala_send_calls: int = 0
    sent: list[Sent] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)
    deliveries: int = 0  # successful deliveries of response events, copies included
    distinct_events: int = 0  # distinct eventIds the simulator delivered
    inbox: list[dict[str, Any]] = field(default_factory=list)
    status_responses: int = -1  # GET /api/actions/{correlationId}
    kaizala_responders: int = 0  # distinct members with a response in Kaizala
    outage_answers: list[int | None] = field(default_factory=list)  # the webhook's statuses
    checks: list[Check] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)  # more parts' lines (team_report)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    def final(self) -> dict[str, Sent]:
        """Each member's last answer."""
        return {s.mobile: s for s in self.sent}


def render(value: Any, qtype: str) -> str:
    """An answer as the activity shows it (kept independent of the bridge's own rendering)."""
    if qtype == "MultiOption":
        return ", ".join(value)
    if qtype == "Date":
        return datetime.fromtimestamp(value / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def expected_lines(answers: tuple[Any, ...], titles: list[str]) -> list[str]:
    """What an activity's description must hold for these answers: question, then answer."""
    return [
        f"{n}. {title}\n   {render(value, qtype)}\n"
        for n, (title, value, qtype) in enumerate(
            zip(titles, answers, SURVEY_TYPES, strict=True), 1
        )
    ]


def find_description(activities: list[dict[str, Any]], sent: Sent) -> str | None:
    """The description of the activity of `sent`'s response if it holds exactly its answers."""
    for activity in activities:
        text = str(activity.get("description") or "")
        if f"Response id: {sent.response_id}" in text and all(line in text for line in sent.lines):
            return text
    return None


# ---- checks -------------------------------------------------------------------------------------


def check_report(r: Report) -> None:
    """Every number of the report against what the demo did."""
    final = r.final()
    bound = [a for a in r.activities if a.get("_regardingobjectid_value") == OPPORTUNITY_ID]
    per_response = {s.name: len(activities_of(r, s)) for s in final.values()}
    r.check(
        "exactly one survey sent",
        r.kaizala_send_calls == 1
        and (r.first_status, r.repeat_status) == (201, 200)
        and r.repeat_correlation_id == r.correlation_id,
        f"{r.kaizala_send_calls} Kaizala send call(s); the two posts answered "
        f"{r.first_status}, {r.repeat_status}",
    )
    r.check(
        "activities == distinct responders",
        len(r.activities) == r.kaizala_responders == len(final) == len(r.members),
        f"{len(r.activities)} activities, {r.kaizala_responders} responders in Kaizala",
    )
    r.check(
        "each activity bound to the opportunity",
        len(bound) == len(r.activities) > 0,
        f"{len(bound)} of {len(r.activities)} regarding {OPPORTUNITY_ID}",
    )
    r.check(
        "no activity duplicated",
        all(n == 1 for n in per_response.values()),
        ", ".join(f"{name}: {n}" for name, n in per_response.items()),
    )
    r.check(
        "each description holds the member's final answers",
        all(find_description(r.activities, s) is not None for s in final.values()),
        f"{len(final)} descriptions compared answer by answer",
    )
    edits = [s for s in final.values() if s.is_edit]
    r.check(
        "the edited answer is the final one",
        bool(edits) and all(edit_is_final(r, s) for s in edits),
        f"{len(edits)} edit(s); the earlier answers are gone",
    )
    r.check(
        "GET /api/actions/{correlationId} reports every response",
        r.status_responses == r.kaizala_responders == len(final),
        f"{r.status_responses} reported, {r.kaizala_responders} in Kaizala",
    )
    r.check(
        "the bridge answered 2xx while Dataverse was down",
        bool(r.outage_answers) and all(200 <= (code or 0) < 300 for code in r.outage_answers),
        f"webhook answered {r.outage_answers}, no redelivery needed",
    )
    extra = sum(m.duplicates for m in r.members)
    r.check(
        "duplicates suppressed",
        r.deliveries == r.distinct_events + extra and len(r.inbox) == r.distinct_events,
        f"{r.deliveries} deliveries, {r.distinct_events} distinct events, {len(r.inbox)} stored",
    )
    outage = {s.event_id for s in r.sent if s.during_outage}
    r.check(
        "only the event of the outage needed a retry",
        {str(row["eventId"]) for row in retried_rows(r)} == outage,
        f"{len(retried_rows(r))} event(s) retried",
    )
    done = sum(1 for row in r.inbox if row.get("status") == "done")
    r.check("every stored event done", done == len(r.inbox), f"{done} of {len(r.inbox)}")


def activities_of(r: Report, sent: Sent) -> list[dict[str, Any]]:
    marker = f"Response id: {sent.response_id}"
    return [a for a in r.activities if marker in str(a.get("description") or "")]


def retried_rows(r: Report) -> list[dict[str, Any]]:
    return [row for row in r.inbox if int(row.get("attempts") or 0) > 1]


def edit_is_final(r: Report, sent: Sent) -> bool:
    """The activity holds the edited answers, and no line of an earlier answer survives."""
    text = find_description(r.activities, sent)
    earlier = [s for s in r.sent if s.mobile == sent.mobile and s is not sent]
    stale = [line for s in earlier for line in s.lines if line not in sent.lines]
    return text is not None and bool(stale) and not any(line in text for line in stale)


# ---- output -------------------------------------------------------------------------------------


def report_text(r: Report, elapsed: float) -> str:
    return "\n".join(
        [
            *_survey_lines(r),
            *_response_lines(r),
            *_activity_lines(r),
            *_delivery_lines(r),
            *_latency_lines(r),
            *r.sections,
            "",
            "Checks",
            *(f"  {'ok  ' if c.ok else 'FAIL'} {c.name} ({c.detail})" for c in r.checks),
            "",
            f"{'PASSED' if r.ok else 'FAILED'}: the whole loop in {elapsed:.1f} s",
        ]
    )


def _survey_lines(r: Report) -> list[str]:
    return [
        "",
        "Kaizala Bridge demo",
        f"  stack: host :{r.ports.host}, Kaizala simulator :{r.ports.kaizala}, "
        f"Dataverse simulator :{r.ports.dataverse}, Azurite :{r.ports.table}",
        "",
        "Survey sent",
        f"  opportunity     {OPPORTUNITY_ID} ({OPPORTUNITY_NAME})",
        f"  survey          {r.survey_title}",
        f"  correlationId   {r.correlation_id}",
        f"  actionId        {r.action_id}",
        f"  Kaizala calls   {r.kaizala_send_calls} POST groups/{{groupId}}/actions for it "
        f"(Dataverse posted the Create twice: {r.first_status}, then {r.repeat_status})",
    ]


def _response_lines(r: Report) -> list[str]:
    final = r.final()
    edits = sum(1 for s in r.sent if s.is_edit)
    lines = ["", f"Responses: {len(final)} members, {edits} edit(s), {len(r.sent)} answers given"]
    for member in r.members:
        s = final.get(member.mobile)
        if s is not None:
            notes = [text for text, on in _notes(member) if on] or ["answered once"]
            lines.append(f"  {s.name:12} {s.mobile}  {', '.join(notes)}")
    return lines


def _notes(member: Answering) -> Iterator[tuple[str, bool]]:
    yield "edited the answer", member.edit is not None
    yield f"delivered {1 + member.duplicates} times", member.duplicates > 0
    yield "answered while Dataverse was down", member.during_outage


def _activity_lines(r: Report) -> list[str]:
    lines = ["", f"Activities on the opportunity in the Dataverse simulator: {len(r.activities)}"]
    for s in r.final().values():
        found = activities_of(r, s)
        subject = found[0].get("subject", "") if found else "(no activity)"
        holds = "final answers" if find_description(r.activities, s) else "ANSWERS MISSING"
        shown = " | ".join(render(v, t) for v, t in zip(s.answers, SURVEY_TYPES, strict=True))
        lines += [f"  {subject}", f"    {holds}: {shown}"]
    return lines


def _delivery_lines(r: Report) -> list[str]:
    names = {s.event_id: s.name for s in r.sent}
    retried = "".join(
        f"; {names.get(str(row['eventId']), row['eventId'])}: {row['attempts']} attempts"
        for row in retried_rows(r)
    )
    return [
        "",
        f"Duplicates suppressed: the simulator made {r.deliveries} deliveries, "
        f"{len(r.inbox)} distinct events stored ({r.deliveries - len(r.inbox)} suppressed)",
        f"Retries: {len(retried_rows(r))} event(s) needed more than one attempt{retried}",
    ]


def _latency_lines(r: Report) -> list[str]:
    lines = ["", "End-to-end latency (respond call → activity visible in Dataverse)"]
    for s in r.sent:
        label = s.name + (" (edit)" if s.is_edit else "")
        took = f"{s.latency:6.2f} s" if s.latency is not None else "   never"
        note = "  delayed by the Dataverse outage, finished by process_inbox" * s.during_outage
        lines.append(f"  {label:19} {took}{note}")
    return lines
