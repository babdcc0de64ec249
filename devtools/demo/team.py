"""The demo's second part: a group per opportunity, its chat, a missed webhook and the backfill.

The host is restarted with OPPORTUNITY_GROUP_MODE=per-opportunity (cast.TEAM_SETTINGS), as an
app-setting change restarts a Functions app; the first part's pending retry waits in the inbox
table meanwhile. Then:

1. the opportunity, its owner and its contact are seeded in the Dataverse simulator and
   Dataverse posts the Create twice: one group with the owner and the contact (and the extra
   member), subscribed with its chat, and one survey in it;
2. the owner answers through the webhook;
3. from the Kaizala app (devtools.demo.kaizala_app) the contact writes in the group and the
   owner posts a photo, each event delivered twice;
4. the group's admin removes the bridge's subscription in Kaizala, the contact and the extra
   member answer and Kaizala delivers nothing; the backfill of the survey reads their
   responses back, and webhooks/sync restores the subscription;
5. the summary note is written by process_inbox once its debounce has passed: the scenario's
   settle step waits for it together with the first part's retry (`note_pending`, `note_due`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from devtools.demo import cast
from devtools.demo.cast import (
    ADMIN_MOBILE,
    SURVEY_TYPES,
    TEAM_OPPORTUNITY_ID,
    TEAM_OPPORTUNITY_NAME,
    TEAM_SETTINGS,
    TeamMember,
)
from devtools.demo.harness import DemoError, Harness
from devtools.demo.kaizala_app import AppSession, KaizalaApp, KaizalaAppError
from devtools.demo.report import Sent, expected_lines, find_description
from devtools.demo.team_report import CHAT_EVENTS, TeamSeen
from shared.clock import Clock

VISIBLE_SECONDS = 15.0  # an answer or a chat event, written inline by the webhook
SUMMARY_DEBOUNCE_SECONDS = 30.0  # the bridge's: the note is due 30 s after the first answer
BACKFILL_TRIES = 5  # the admin backfill answers 503 while the budget has no spare call


class TeamPart:
    def __init__(self, rig: Harness, clock: Clock, tick: Callable[[], object]) -> None:
        self.rig = rig
        self.clock = clock
        self.tick = tick  # the first part's bookkeeping, while this part waits
        self.seen = TeamSeen(cast.team(clock))
        self.app = KaizalaApp(f"http://127.0.0.1:{rig.ports.kaizala}")

    def close(self) -> None:
        self.app.close()

    def switch_mode(self) -> None:
        started = time.monotonic()
        self.rig.restart_host(dict(TEAM_SETTINGS))
        self.seen.restart_seconds = time.monotonic() - started

    def create(self) -> None:
        rig, t = self.rig, self.seen
        self.seed_dataverse()
        since = rig.last_call_seq()
        url = rig.host("/api/dynamics/opportunities")
        context = cast.opportunity_context(TEAM_OPPORTUNITY_ID, TEAM_OPPORTUNITY_NAME)
        first = rig.call("POST", url, [200, 201, 202], context)
        repeat = rig.call("POST", url, [200, 201, 202], context)
        t.first_status, t.repeat_status = first.status_code, repeat.status_code
        t.first, t.repeat = first.json(), repeat.json()
        if not t.group_id or not t.action_id:
            raise DemoError(f"no group or no survey for the opportunity: {first.text[:300]}")
        calls = rig.call("GET", rig.kaizala(f"calls?sinceSeq={since}"), [200]).json()["calls"]
        posts = [str(c["path"]) for c in calls if c["method"] == "POST"]
        t.create_group_calls = sum(1 for p in posts if p.endswith("/v1/groups"))
        t.send_calls = sum(1 for p in posts if p.endswith(f"/groups/{t.group_id}/actions"))
        state = rig.kaizala_state()
        named = [g for g in state["groups"] if g["groupName"] == TEAM_OPPORTUNITY_NAME]
        t.groups_named = len(named)
        group = next(g for g in state["groups"] if g["groupId"] == t.group_id)
        t.group_members = {m["mobileNumber"]: m["name"] for m in group["members"]}
        t.hook_events = self.hook_events(state)
        action = next(a for a in state["actions"] if a["actionId"] == t.action_id)
        t.survey_title = action["actionDetails"]["title"]
        questions = [q for q in action["actionDetails"]["questions"] if not q.get("isInvisible")]
        t.questions = [q["title"] for q in questions]
        if tuple(q["type"] for q in questions) != SURVEY_TYPES:
            raise DemoError(f"the survey's questions changed: {[q['type'] for q in questions]}")

    def seed_dataverse(self) -> None:
        """The opportunity, its owner (a systemuser) and its contact, as Dynamics holds them."""
        rig, people = self.rig, {m.role: m for m in self.seen.members}
        for role, kind in (("owner", "systemusers"), ("contact", "contacts")):
            member = people[role]
            row = {"id": member.dataverse_id, "fullname": member.name}
            rig.call(
                "POST", rig.dataverse(kind), [201], {**row, "mobilephone": member.dataverse_mobile}
            )
        opportunity = {
            "id": TEAM_OPPORTUNITY_ID,
            "name": TEAM_OPPORTUNITY_NAME,
            "ownerId": people["owner"].dataverse_id,
            "contactId": people["contact"].dataverse_id,
        }
        rig.call("POST", rig.dataverse("opportunities"), [201], opportunity)

    def answer_live(self) -> None:
        live = [self.answer(m) for m in self.seen.members if not m.backfilled]
        self.wait_tasks(live)

    def chat(self) -> None:
        rig, t = self.rig, self.seen
        people = {m.role: m for m in t.members}
        rig.call("POST", rig.kaizala("config"), [200], {"duplicateDeliveries": 1})
        try:
            contact = self.sign_in(people["contact"].mobile)
            owner = self.sign_in(people["owner"].mobile)
            try:
                contact.send_message(t.group_id, cast.CHAT_MESSAGE)
                owner.post_photo(
                    t.group_id, cast.PHOTO_NAME, cast.PHOTO, "image/png", cast.PHOTO_CAPTION
                )
            except KaizalaAppError as exc:
                raise DemoError(str(exc)) from None
            rig.deliveries_done()
        finally:
            rig.call("POST", rig.kaizala("config"), [200], {"duplicateDeliveries": 0})
        chat = [d for d in rig.deliveries() if d["ok"] and d["eventType"] in CHAT_EVENTS]
        t.chat_events = {d["eventType"]: d["eventId"] for d in chat}
        t.chat_deliveries = len(chat)
        if set(t.chat_events) != set(CHAT_EVENTS):
            raise DemoError(f"Kaizala delivered {sorted(t.chat_events)} of {CHAT_EVENTS}")
        deadline = time.monotonic() + VISIBLE_SECONDS
        while not all(self.seen_notes(rig.notes(), e) for e in t.chat_events.values()):
            if time.monotonic() > deadline:
                raise DemoError(f"the chat was not in Dataverse after {VISIBLE_SECONDS:g} s")
            self.tick()
            time.sleep(0.05)

    def missed(self) -> None:
        rig, t = self.rig, self.seen
        admin = self.sign_in(ADMIN_MOBILE)
        try:
            for hook in admin.webhooks(t.group_id):
                admin.delete_webhook(str(hook["id"]))
        except KaizalaAppError as exc:
            raise DemoError(str(exc)) from None
        late = [self.answer(m) for m in t.members if m.backfilled]
        rig.deliveries_done()
        ids = {s.event_id for s in late}
        t.missed_deliveries = sum(1 for d in rig.deliveries() if d["eventId"] in ids)
        self.backfill()
        self.wait_tasks(late)
        sync = rig.call("POST", rig.host("/api/manage/webhooks/sync"), [200], {}).json()
        mine = [g for g in sync["groups"] if g["groupId"] == t.group_id]
        t.resync = [str(a) for a in mine[0]["actions"]] if mine else []
        t.restored_events = self.hook_events(rig.kaizala_state())

    def backfill(self) -> None:
        """The operator's backfill of the survey (the hourly timer would do the same)."""
        rig, t = self.rig, self.seen
        url = rig.host(f"/api/manage/actions/{t.correlation_id}/backfill")
        for _ in range(BACKFILL_TRIES):
            resp = rig.call("POST", url, [200, 503], {})
            if resp.status_code == 200 and not resp.json().get("deferred"):
                t.backfill = resp.json()
                return
            time.sleep(float(resp.headers.get("Retry-After") or 1))
        raise DemoError(f"the backfill was refused {BACKFILL_TRIES} times: {resp.text[:200]}")

    # -- the settle step --------------------------------------------------------------------------

    def note_pending(self) -> bool:
        """The summary note is not yet written with every response."""
        marker = f"Correlation id: {self.seen.correlation_id}"
        wanted = f"\nResponses: {len(self.seen.members)}\n"
        notes = [str(n.get("notetext") or "") for n in self.rig.notes()]
        return not any(marker in text and wanted in text for text in notes)

    def note_due(self) -> bool:
        return self.clock() >= self.seen.first_answer_wall + SUMMARY_DEBOUNCE_SECONDS

    def collect(self) -> None:
        rig, t = self.rig, self.seen
        marker = f"Action id: {t.action_id}"
        t.tasks = [a for a in rig.activities() if marker in str(a.get("description") or "")]
        t.notes = rig.notes()
        chat = set(t.chat_events.values())
        rows = rig.inbox_rows()
        t.inbox = [r for r in rows if r.get("actionId") == t.action_id or r["eventId"] in chat]
        status = rig.call("GET", rig.host(f"/api/actions/{t.correlation_id}"), [200]).json()
        t.summary = status.get("summary") or {}

    # -- helpers ---------------------------------------------------------------------------------

    def answer(self, member: TeamMember) -> Sent:
        rig, t = self.rig, self.seen
        body = {"responder": member.mobile, "answers": list(member.answers)}
        started = time.monotonic()
        if not t.sent:
            t.first_answer_wall = self.clock()
        resp = rig.call("POST", rig.kaizala(f"actions/{t.action_id}/respond"), [200], body)
        sent = Sent(
            member.mobile,
            member.name,
            member.answers,
            expected_lines(member.answers, t.questions),
            resp.json()["responseId"],
            resp.json()["eventId"],
            started,
            backfilled=member.backfilled,
        )
        t.sent.append(sent)
        return sent

    def wait_tasks(self, sent: list[Sent]) -> None:
        deadline = time.monotonic() + VISIBLE_SECONDS
        while True:
            activities = self.rig.activities()
            waiting = [s for s in sent if find_description(activities, s) is None]
            if not waiting:
                return
            if time.monotonic() > deadline:
                names = ", ".join(s.name for s in waiting)
                raise DemoError(f"no task for {names} after {VISIBLE_SECONDS:g} s")
            self.tick()
            time.sleep(0.05)

    def sign_in(self, mobile: str) -> AppSession:
        try:
            return self.app.sign_in(mobile)
        except KaizalaAppError as exc:
            raise DemoError(str(exc)) from None

    def hook_events(self, state: dict[str, Any]) -> list[str]:
        """The event types of the bridge's active subscription(s) on the group."""
        hooks = [
            h for h in state["webhooks"] if h["objectId"] == self.seen.group_id and h["active"]
        ]
        return sorted({str(e) for h in hooks for e in h["events"]})

    @staticmethod
    def seen_notes(notes: list[dict[str, Any]], event_id: str) -> bool:
        return any(f"Event id: {event_id}" in str(n.get("notetext") or "") for n in notes)
