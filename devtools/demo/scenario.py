"""The demo's steps: onboard, subscribe, send the survey, answer it; the second part (a group
per opportunity, devtools.demo.team); then settle, collect and check both."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from devtools.demo import cast
from devtools.demo.cast import ADMIN_MOBILE, SURVEY_TYPES, Answering
from devtools.demo.harness import DemoError, Harness
from devtools.demo.report import Report, Sent, check_report, expected_lines, find_description
from devtools.demo.team import TeamPart
from devtools.demo.team_report import check_team, team_lines
from shared.clock import Clock, now_ms, wall

RESPONSE_EVENTS = frozenset({"SurveyResponse", "ActionResponse", "JobResponse"})
SETTLE_SECONDS = 90.0  # every response an activity (the outage retry), the summary note
VISIBLE_SECONDS = 15.0  # one response without an outage
PROCESS_INBOX_EVERY = 2.0  # seconds between admin runs of process_inbox while a retry is due


class Demo:
    def __init__(self, workdir: Path, clock: Clock = wall) -> None:
        self.workdir = workdir
        self.clock = clock  # the wall clock the stack shares: answers' dates, retries due
        self.rig = Harness(workdir)
        self.members = cast.members(clock)
        self.report = Report(self.rig.ports, self.members)
        self.team = TeamPart(self.rig, clock, self.update_latencies)
        self.step = "start-up"

    def stopped_components(self) -> str:
        return self.rig.stopped_components()

    def close(self) -> None:
        self.team.close()
        self.rig.close()

    # -- the steps -------------------------------------------------------------------------------

    def run(self) -> Report:
        self.say("start-up", "starting Azurite, the simulators and the local Functions host")
        self.rig.start()
        p = self.rig.ports
        print(
            f"  stack up: host :{p.host}, Kaizala simulator :{p.kaizala}, "
            f"Dataverse simulator :{p.dataverse}, Azurite :{p.table}",
            flush=True,
        )
        self.say("onboarding", "onboarding the Kaizala connector (PIN flow), renewing the token")
        self.onboard()
        self.say("webhook sync", "subscribing to the survey group's responses (handshake)")
        self.sync_webhooks()
        self.say("opportunity", "Dataverse posts the Create of an opportunity, twice")
        self.create_opportunity()
        self.say("answers", "3 members answer: an edit, a duplicate delivery, a Dataverse outage")
        self.answer_survey()
        self.say(
            "per-opportunity mode",
            "restarting the host with OPPORTUNITY_GROUP_MODE=per-opportunity "
            "(the outage's retry waits in the inbox)",
        )
        self.team.switch_mode()
        self.say("deal team", "Dataverse posts the Create of a second opportunity, twice")
        self.team.create()
        self.say("team answers", "its owner answers the survey in the opportunity's own group")
        self.team.answer_live()
        self.say("chat", "the contact writes in the group, the owner posts a photo (each twice)")
        self.team.chat()
        self.say("backfill", "the subscription is removed in Kaizala; 2 answer; backfill, re-sync")
        self.team.missed()
        self.say(
            "settle",
            "waiting until every response is an activity (the outage's retry is due within "
            "30 s) and the summary note is written (30 s after the team's first answer)",
        )
        self.settle()
        self.say("checks", "checking the numbers")
        self.collect()
        self.team.collect()
        check_report(self.report)
        check_team(self.team.seen, self.report.check)
        self.report.sections = team_lines(self.team.seen)
        return self.report

    def say(self, step: str, text: str) -> None:
        self.step = step
        print(f"  {text}", flush=True)

    def onboard(self) -> None:
        rig = self.rig
        since = rig.log.mark()
        rig.call("POST", rig.host("/api/manage/kaizala/pin"), [202], {"mobileNumber": ADMIN_MOBILE})
        pin = rig.read_pin(ADMIN_MOBILE, since)
        resp = rig.call(
            "POST",
            rig.host("/api/manage/kaizala/login"),
            [200],
            {"mobileNumber": ADMIN_MOBILE, "pin": pin},
        )
        if resp.json().get("status") != "onboarded":
            raise DemoError(f"login answered {resp.text[:200]}")
        rig.run_function("renew_kaizala_token")
        if rig.call("GET", rig.kaizala("stats"), [200]).json()["accessTokensIssued"] < 1:
            raise DemoError("renew_kaizala_token obtained no access token")

    def sync_webhooks(self) -> None:
        rig = self.rig
        resp = rig.call("POST", rig.host("/api/manage/webhooks/sync"), [200], {})
        actions = [a for g in resp.json()["groups"] for a in g["actions"]]
        hooks = rig.call("GET", rig.kaizala("state"), [200]).json()["webhooks"]
        if "created" not in actions or sum(1 for h in hooks if h["active"]) != 1:
            raise DemoError(f"webhook sync: {actions}, {len(hooks)} subscription(s)")

    def create_opportunity(self) -> None:
        r, rig = self.report, self.rig
        since_seq = rig.last_call_seq()
        url = rig.host("/api/dynamics/opportunities")
        first = rig.call("POST", url, [200, 201, 202], cast.opportunity_context())
        repeat = rig.call("POST", url, [200, 201, 202], cast.opportunity_context())
        r.first_status, r.repeat_status = first.status_code, repeat.status_code
        r.correlation_id = first.json()["correlationId"]
        r.action_id = first.json().get("actionId") or ""
        r.repeat_correlation_id = repeat.json()["correlationId"]
        if not r.action_id:
            raise DemoError(f"the survey was not sent: {first.text[:300]}")
        calls = rig.call("GET", rig.kaizala(f"calls?sinceSeq={since_seq}"), [200]).json()
        send = re.compile(r"/groups/[^/]+/actions$")
        r.kaizala_send_calls = sum(
            1 for c in calls["calls"] if c["method"] == "POST" and send.search(c["path"])
        )

    def answer_survey(self) -> None:
        state = self.rig.call("GET", self.rig.kaizala("state"), [200]).json()
        action = next(a for a in state["actions"] if a["actionId"] == self.report.action_id)
        self.report.survey_title = action["actionDetails"]["title"]
        questions = [q for q in action["actionDetails"]["questions"] if not q.get("isInvisible")]
        self.report.questions = [q["title"] for q in questions]
        types = tuple(q["type"] for q in questions)
        if types != SURVEY_TYPES:
            raise DemoError(
                f"the survey's questions changed: {types}, the demo answers {SURVEY_TYPES}"
            )
        members = group_members(state, action["groupId"])
        for member in self.members:
            if member.mobile not in members:
                raise DemoError(f"{member.mobile} is not a member of the survey's group")
        # Everyone answers; then the edits; the outage's answer comes last.
        for member in self.members:
            if not member.during_outage:
                self.answer(member, member.answers, members)
        for member in self.members:
            if member.edit is not None:
                self.answer(member, member.edit, members)
        for member in self.members:
            if member.during_outage:
                self.answer_during_outage(member, members)

    def answer(self, member: Answering, answers: tuple[Any, ...], members: dict[str, str]) -> Sent:
        edit_of = next((s for s in self.report.sent if s.mobile == member.mobile), None)
        body: dict[str, Any] = {"responder": member.mobile, "answers": list(answers)}
        if edit_of is not None:
            body["responseId"] = edit_of.response_id
        if member.duplicates:
            body["duplicates"] = member.duplicates
        started = time.monotonic()
        resp = self.rig.call(
            "POST", self.rig.kaizala(f"actions/{self.report.action_id}/respond"), [200], body
        )
        sent = Sent(
            member.mobile,
            members[member.mobile],
            answers,
            expected_lines(answers, self.report.questions),
            resp.json()["responseId"],
            resp.json()["eventId"],
            started,
            is_edit=edit_of is not None,
            during_outage=member.during_outage,
        )
        self.report.sent.append(sent)
        if not member.during_outage:
            self.wait_visible([sent], VISIBLE_SECONDS)
        return sent

    def answer_during_outage(self, member: Answering, members: dict[str, str]) -> None:
        rig = self.rig
        rig.call("POST", rig.dataverse("down"), [200], {"down": True})
        try:
            sent = self.answer(member, member.answers, members)
            idle = rig.call(
                "POST", rig.kaizala("deliveries/wait"), [200], {"timeoutSeconds": 20}
            ).json()
            if not idle["idle"]:
                raise DemoError("the simulator's deliveries did not finish during the outage")
        finally:
            rig.call("POST", rig.dataverse("down"), [200], {"down": False})
        if find_description(rig.activities(), sent) is not None:
            raise DemoError("an activity was written while Dataverse was down")

    def settle(self) -> None:
        """Until every answer is visible and no inbox row is pending; process_inbox when due."""
        deadline = time.monotonic() + SETTLE_SECONDS
        last_run = 0.0
        while True:
            waiting = self.update_latencies()
            rows = self.rig.inbox_rows()
            pending = [r for r in rows if r.get("status") == "pending"]
            note = self.team.note_pending()
            if not waiting and not pending and not note:
                return
            if time.monotonic() > deadline:
                raise DemoError(
                    f"after {SETTLE_SECONDS:g} s: {len(waiting)} answer(s) not in Dataverse, "
                    f"{len(pending)} inbox row(s) pending"
                    + (", the summary note not written" if note else "")
                )
            # nextAttemptAt is the bridge's wall-clock time (epoch ms), so compare like with like.
            now = now_ms(self.clock)
            due = any(int(r.get("nextAttemptAt") or 0) <= now for r in pending)
            due = due or (note and self.team.note_due())
            if due and time.monotonic() - last_run >= PROCESS_INBOX_EVERY:
                last_run = time.monotonic()
                self.rig.run_function("process_inbox")
                continue
            time.sleep(0.1)

    def wait_visible(self, sent: list[Sent], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.update_latencies(sent):
            if time.monotonic() > deadline:
                raise DemoError(f"{sent[0].name}'s answer was not in Dataverse after {timeout:g} s")
            time.sleep(0.02)

    def update_latencies(self, only: list[Sent] | None = None) -> list[Sent]:
        """Record when answers became visible; the ones still waiting."""
        waiting = [s for s in (only or self.report.sent) if s.latency is None]
        if not waiting:
            return []
        activities = self.rig.activities()
        now = time.monotonic()
        for s in waiting:
            if find_description(activities, s) is not None:
                s.latency = now - s.started
        return [s for s in waiting if s.latency is None]

    def collect(self) -> None:
        """What this part's survey left; the second part's activities and events are its own."""
        r, rig = self.report, self.rig
        marker = f"Action id: {r.action_id}"
        r.activities = [a for a in rig.activities() if marker in str(a.get("description") or "")]
        r.inbox = [row for row in rig.inbox_rows() if row.get("actionId") == r.action_id]
        made = rig.deliveries()
        mine = {s.event_id for s in r.sent}
        ok = [d for d in made if d["ok"] and d["eventId"] in mine]
        r.deliveries = len(ok)
        r.distinct_events = len({d["eventId"] for d in ok})
        outage = {s.event_id for s in r.sent if s.during_outage}
        r.outage_answers = [d["status"] for d in made if d["eventId"] in outage]
        status = rig.call("GET", rig.host(f"/api/actions/{r.correlation_id}"), [200]).json()
        r.status_responses = int(status.get("responses", -1))
        state = rig.call("GET", rig.kaizala("state"), [200]).json()
        action = next(a for a in state["actions"] if a["actionId"] == r.action_id)
        responses = action["actionDetails"]["responses"]
        r.kaizala_responders = len({x["responder"] for x in responses})


def group_members(state: dict[str, Any], group_id: str) -> dict[str, str]:
    """mobile → name of the group's members: who may answer the survey."""
    group = next(g for g in state["groups"] if g["groupId"] == group_id)
    return {m["mobileNumber"]: m["name"] for m in group["members"]}
