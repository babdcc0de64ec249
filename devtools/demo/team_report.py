"""The second part's report: what the demo saw of the opportunity's own group, its checks and
its text (a group per opportunity, chat as notes, the missed webhook and its backfill, the
summary note)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devtools.demo.cast import (
    ADMIN_MOBILE,
    CHAT_MESSAGE,
    PHOTO_CAPTION,
    PHOTO_NAME,
    TEAM_OPPORTUNITY_ID,
    TEAM_OPPORTUNITY_NAME,
    TEAM_SETTINGS,
    TeamMember,
)
from devtools.demo.report import Sent, find_description

CHAT_EVENTS = ("TextMessageCreated", "AttachmentCreated")


@dataclass
class TeamSeen:
    members: tuple[TeamMember, ...]
    restart_seconds: float = 0.0
    first_status: int = 0
    repeat_status: int = 0
    first: dict[str, Any] = field(default_factory=dict)  # the first Create's answer
    repeat: dict[str, Any] = field(default_factory=dict)
    groups_named: int = 0  # Kaizala groups named after the opportunity
    create_group_calls: int = 0  # POST groups by the bridge, both Creates
    send_calls: int = 0  # POST groups/{groupId}/actions by the bridge, both Creates
    survey_title: str = ""
    questions: list[str] = field(default_factory=list)
    group_members: dict[str, str] = field(default_factory=dict)  # mobile → name in Kaizala
    hook_events: list[str] = field(default_factory=list)  # the group's subscription
    sent: list[Sent] = field(default_factory=list)  # the answers, in order
    first_answer_wall: float = 0.0  # the first answer (epoch s): the note's debounce starts
    chat_events: dict[str, str] = field(default_factory=dict)  # eventType → eventId
    chat_deliveries: int = 0  # successful deliveries of them, copies included
    missed_deliveries: int = 0  # deliveries of the answers given while unsubscribed
    backfill: dict[str, Any] = field(default_factory=dict)  # the admin route's answer
    resync: list[str] = field(default_factory=list)  # webhooks/sync's actions on the group
    restored_events: list[str] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)  # the survey's activities
    notes: list[dict[str, Any]] = field(default_factory=list)  # notes on the opportunity
    inbox: list[dict[str, Any]] = field(default_factory=list)  # the part's inbox rows
    summary: dict[str, Any] = field(default_factory=dict)  # GET /api/actions/{id} summary

    @property
    def group_id(self) -> str:
        return str(self.first.get("groupId", ""))

    @property
    def correlation_id(self) -> str:
        return str(self.first.get("correlationId", ""))

    @property
    def action_id(self) -> str:
        return str(self.first.get("actionId", ""))

    def summary_note(self) -> dict[str, Any] | None:
        marker = f"Correlation id: {self.correlation_id}"
        found = [n for n in self.notes if marker in str(n.get("notetext") or "")]
        return found[0] if len(found) == 1 else None

    def chat_notes(self, event_id: str) -> list[dict[str, Any]]:
        marker = f"Event id: {event_id}"
        return [n for n in self.notes if marker in str(n.get("notetext") or "")]


def check_team(t: TeamSeen, add: Callable[[str, bool, str], None]) -> None:
    """Every number of the second part against what the demo did; `add(name, ok, detail)`."""
    expected = {ADMIN_MOBILE, *(m.mobile for m in t.members)}
    add(
        "one group and one survey per opportunity",
        (t.first_status, t.repeat_status) == (201, 200)
        and all(t.repeat.get(k) == t.first.get(k) for k in ("groupId", "correlationId"))
        and t.groups_named == t.create_group_calls == t.send_calls == 1,
        f"the two posts answered {t.first_status}, {t.repeat_status}; {t.groups_named} group, "
        f"{t.create_group_calls} CreateGroup, {t.send_calls} send call(s)",
    )
    add(
        "the group holds the owner and the contact from Dynamics",
        set(t.group_members) == expected and "skippedMembers" not in t.first,
        f"{len(t.group_members)} members: {', '.join(sorted(t.group_members.values()))}",
    )
    add(
        "the group's subscription carries its chat",
        set(CHAT_EVENTS) <= set(t.hook_events),
        ", ".join(t.hook_events) or "no subscription",
    )
    per_answer = {s.name: len(_tasks_of(t, s)) for s in t.sent}
    bound = [a for a in t.tasks if a.get("_regardingobjectid_value") == TEAM_OPPORTUNITY_ID]
    add(
        "a task per response, on the opportunity",
        len(t.tasks) == len(bound) == len(t.members)
        and all(n == 1 for n in per_answer.values())
        and all(find_description(t.tasks, s) is not None for s in t.sent),
        f"{len(bound)} of {len(t.tasks)} tasks regarding {TEAM_OPPORTUNITY_ID}; "
        + ", ".join(f"{name}: {n}" for name, n in per_answer.items()),
    )
    once = {kind: len(t.chat_notes(e)) for kind, e in t.chat_events.items()}
    chat = [n for e in t.chat_events.values() for n in t.chat_notes(e)]
    add(
        "a chat message and a photo became two notes on it, once each",
        set(once) == set(CHAT_EVENTS)
        and all(n == 1 for n in once.values())
        and t.chat_deliveries == 2 * len(CHAT_EVENTS)
        and all(n.get("_objectid_value") == TEAM_OPPORTUNITY_ID for n in chat),
        f"{t.chat_deliveries} deliveries, "
        + ", ".join(f"{kind}: {n} note(s)" for kind, n in once.items()),
    )
    late = len([s for s in t.sent if s.backfilled])
    b = t.backfill
    add(
        "the missed responses were backfilled",
        t.missed_deliveries == 0
        and late > 0
        and (b.get("seen"), b.get("new"), b.get("already"))
        == (len(t.sent), late, len(t.sent) - late),
        f"{t.missed_deliveries} deliveries while unsubscribed; backfill seen {b.get('seen')}, "
        f"new {b.get('new')}, already {b.get('already')}",
    )
    add(
        "webhooks/sync restored the subscription",
        "created" in t.resync and set(CHAT_EVENTS) <= set(t.restored_events),
        ", ".join(t.resync) or "nothing",
    )
    note = t.summary_note()
    text = str(note.get("notetext") or "") if note else ""
    responses = t.summary.get("responses")
    add(
        "the summary note counts every response",
        note is not None
        and note.get("_objectid_value") == TEAM_OPPORTUNITY_ID
        and f"\nResponses: {len(t.members)}\n" in text
        and responses == len(t.members),
        f"note: {_responses_line(text)}; GET /api/actions/{{correlationId}} summary: {responses}",
    )
    figures = expected_figures(t.members)
    add(
        "the summary note's figures match the answers",
        bool(text) and all(line in text for line in figures),
        f"{sum(line in text for line in figures)} of {len(figures)} option counts and figures",
    )
    stored = [row for row in t.inbox if row.get("status") == "done"]
    add(
        "every event of the part done at the first attempt",
        len(stored) == len(t.inbox) > 0 and all(int(r.get("attempts") or 0) == 1 for r in stored),
        f"{len(stored)} of {len(t.inbox)} done",
    )


def _tasks_of(t: TeamSeen, sent: Sent) -> list[dict[str, Any]]:
    marker = f"Response id: {sent.response_id}"
    return [a for a in t.tasks if marker in str(a.get("description") or "")]


def _responses_line(text: str) -> str:
    return next((x for x in text.splitlines() if x.startswith("Responses: ")), "no note")


def team_lines(t: TeamSeen) -> list[str]:
    mode = ", ".join(f"{k}={v}" for k, v in TEAM_SETTINGS.items())
    roles = {m.mobile: m.role for m in t.members} | {ADMIN_MOBILE: "admin"}
    people = ", ".join(
        f"{name} ({roles.get(mobile, '?')})" for mobile, name in sorted(t.group_members.items())
    )
    lines = [
        "",
        f"A group per opportunity (host restarted with {mode} in {t.restart_seconds:.1f} s)",
        f"  opportunity     {TEAM_OPPORTUNITY_ID} ({TEAM_OPPORTUNITY_NAME})",
        f"  group           {t.group_id}: {people}",
        f"  survey          {t.survey_title}",
        f"  correlationId   {t.correlation_id}",
        f"  Kaizala calls   {t.create_group_calls} CreateGroup, {t.send_calls} survey send "
        f"(Dataverse posted the Create twice: {t.first_status}, then {t.repeat_status})",
        "",
        f"Responses: {len(t.sent)}, {len(t.tasks)} tasks on the opportunity",
    ]
    for s in t.sent:
        how = "missed by the webhook, backfilled" if s.backfilled else "through the webhook"
        lines.append(f"  {s.name:12} {s.mobile}  {how}")
    b = t.backfill
    lines += [
        f"Backfill (subscription removed in Kaizala): {t.missed_deliveries} deliveries; "
        f"POST /api/manage/actions/{{id}}/backfill seen {b.get('seen')}, new {b.get('new')}, "
        f"already {b.get('already')}; webhooks/sync: {', '.join(t.resync) or 'nothing'}",
        "",
        f"Conversation notes: {sum(len(t.chat_notes(e)) for e in t.chat_events.values())} "
        f"({t.chat_deliveries} deliveries)",
        f"  message  {CHAT_MESSAGE}",
        f"  photo    {PHOTO_NAME}: {PHOTO_CAPTION}",
    ]
    note = t.summary_note()
    lines += ["", f"Summary note: {note.get('subject') if note else '(none)'}"]
    return lines + _note_figures(str(note.get("notetext") or "") if note else "")


def expected_figures(members: tuple[TeamMember, ...]) -> list[str]:
    """Lines the note must hold, counted here from the answers the demo gave: the options of
    the SingleOption and MultiOption questions, and the Numeric one's min, mean and max."""
    single = Counter(str(m.answers[0]) for m in members)
    multi = Counter(str(o) for m in members for o in m.answers[2])
    numbers = [float(m.answers[1]) for m in members]
    mean = sum(numbers) / len(numbers)
    return [
        *(f"\n   {option}: {n} (" for option, n in (single + multi).items()),
        f"\n   min {min(numbers):g} · mean {mean:g} · max {max(numbers):g}\n",
    ]


def _note_figures(text: str) -> list[str]:
    """Each question's option counts or numeric figures, one line per question."""
    blocks: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line[:1].isdigit() and ". " in line:
            blocks.append((line.rsplit(" (", 1)[0], []))
        elif blocks and line.startswith("   ") and ("%)" in line or " · mean " in line):
            blocks[-1][1].append(line.strip())
    return [f"  {title}: {'; '.join(found)}" for title, found in blocks if found]
