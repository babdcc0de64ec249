"""`make demo`: the whole loop on a fresh machine, end to end, with a report that is checked.

Starts Azurite, both simulators and the local Functions host on free ports (settings, secrets
and component logs in a temporary directory), then:

1. onboards the Kaizala connector through the PIN flow (the PIN read from the simulator's log),
   renews the access token and syncs the webhook subscription (validation handshake);
2. posts a Dataverse `Create` of an opportunity to the bridge, twice (201, then 200: one survey);
3. has three group members answer the survey in the Kaizala simulator: one edits the answer,
   one delivery comes twice, one arrives while the Dataverse simulator is down;
4. waits until every response is an activity on the opportunity (running `process_inbox`
   through the admin API when a retry is due), prints a report and checks every number.

Exit code 0 only if every check passed; otherwise the failed checks are named and the path of
the component logs is printed (the temporary directory is kept). Ctrl-C stops everything.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
from azure.core.pipeline.transport import RequestsTransport
from azure.data.tables import EntityProperty, TableClient

from devtools.stack import ROOT, Ports, Stack

EXAMPLE_SETTINGS = ROOT / "local.settings.example.json"
ADMIN_MOBILE = "+919100000001"  # the seeded Sales Team admin; sends the survey
OPPORTUNITY_ID = "b5e7c3a0-3f1d-4c2b-9a8e-7d6f5e4c3b2a"  # seeded in the Dataverse simulator
OPPORTUNITY_NAME = "Contoso – 500 laptops"
RESPONSE_EVENTS = frozenset({"SurveyResponse", "ActionResponse", "JobResponse"})
# Settings that point at the stack's own ports (Stack.environment() sets them unconditionally).
PORT_SETTINGS = ("AzureWebJobsStorage", "KAIZALA_API_ROOT", "DATAVERSE_URL", "WEBHOOK_CALLBACK_URL")
PIN_LINE = re.compile(r"PIN for (?P<mobile>\+\d+) : (?P<pin>\d+)")
SETTLE_SECONDS = 90.0  # every response an activity, the outage retry included
VISIBLE_SECONDS = 15.0  # one response without an outage
PROCESS_INBOX_EVERY = 2.0  # seconds between admin runs of process_inbox while a retry is due
HTTP_TIMEOUT = 30.0


def _days_ahead(days: int) -> int:
    """An answer to a Date question: midnight UTC `days` from today, in epoch ms."""
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return int(today.timestamp() + days * 86400) * 1000


@dataclass(frozen=True)
class Answering:
    """What one member does in the Kaizala app: answers (in question order), maybe more."""

    mobile: str
    answers: tuple[Any, ...]
    edit: tuple[Any, ...] | None = None  # answered again later: the same responseId
    duplicates: int = 0  # extra deliveries of the same event
    during_outage: bool = False  # answered while the Dataverse simulator is down


# Answers for templates/opportunity-survey.json: SingleOption, Numeric, MultiOption, Date, Text.
SURVEY_TYPES = ("SingleOption", "Numeric", "MultiOption", "Date", "Text")
MEMBERS = (
    Answering(
        "+919100000002",
        ("Likely", 120000, ["Incumbent vendor"], _days_ahead(45), "Demo for their IT"),
        edit=(
            "Very likely",
            150000,
            ["Incumbent vendor", "New entrant"],
            _days_ahead(30),
            "IT demo went well; PO expected this month",
        ),
    ),
    Answering(
        "+919100000003",
        ("Too early to say", 80000, ["No competitor"], _days_ahead(75), "Waiting for RFP"),
        duplicates=1,
    ),
    Answering(
        "+919100000004",
        ("Unlikely", 40000, ["Building in-house"], _days_ahead(120), "Piloting own tool"),
        during_outage=True,
    ),
)


class DemoError(Exception):
    """A step could not be done (an unexpected answer, a timeout): the demo stops there."""


# ---- the stack, with every component's output in a file ---------------------------------------


class ComponentLog:
    """Lines of every component, appended to a file and searchable while the demo runs."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("a", encoding="utf-8")
        self._lines: list[tuple[str, str]] = []
        self._changed = threading.Condition()

    def add(self, name: str, text: str) -> None:
        with self._changed:
            if not self._file.closed:  # a component's last words after the demo stopped
                self._file.write(f"[{name:9}] {text}\n")
                self._file.flush()
            self._lines.append((name, text))
            self._changed.notify_all()

    def mark(self) -> int:
        with self._changed:
            return len(self._lines)

    def wait_for(
        self, name: str, pattern: re.Pattern[str], since: int, timeout: float
    ) -> re.Match[str] | None:
        """The first line of `name` from index `since` on that matches, waiting up to timeout."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for source, text in self._lines[since:]:
                    found = pattern.search(text) if source == name else None
                    if found:
                        return found
                since = len(self._lines)
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)

    def close(self) -> None:
        with self._changed:
            self._file.close()


def write_settings(workdir: Path) -> Path:
    """local.settings.json for the demo: the example, with its own secrets file and tables."""
    settings = json.loads(EXAMPLE_SETTINGS.read_text(encoding="utf-8"))
    settings["Values"].update(
        {
            "LOCAL_SECRETS_PATH": str(workdir / "secrets.json"),
            "TABLE_NAME_PREFIX": "demo" + uuid.uuid4().hex[:8],
        }
    )
    path = workdir / "local.settings.json"
    path.write_text(json.dumps(settings, indent=2), encoding="utf-8")
    return path


# ---- the report ---------------------------------------------------------------------------------


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
    latency: float | None = None


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    ports: Ports
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

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def check(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append(Check(name, ok, detail))

    def final(self) -> dict[str, Sent]:
        """Each member's last answer."""
        return {s.mobile: s for s in self.sent}


# ---- the demo -----------------------------------------------------------------------------------


class Demo:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.log = ComponentLog(workdir / "components.log")
        self.stack = Stack(write_settings(workdir), Ports.free(), quiet=True, on_line=self.log.add)
        self.report = Report(self.stack.ports)
        self.http = httpx.Client(timeout=HTTP_TIMEOUT, trust_env=False)
        self.inbox: TableClient | None = None
        self.step = "start-up"
        self.activity_set = "tasks"  # DATAVERSE_ACTIVITY_SET

    # -- plumbing --------------------------------------------------------------------------------

    def host(self, path: str) -> str:
        return f"http://127.0.0.1:{self.stack.ports.host}{path}"

    def kaizala(self, path: str) -> str:
        return f"http://127.0.0.1:{self.stack.ports.kaizala}/_sim/{path}"

    def dataverse(self, path: str) -> str:
        return f"http://127.0.0.1:{self.stack.ports.dataverse}/_sim/{path}"

    def call(
        self, method: str, url: str, expect: Sequence[int], body: Any = None
    ) -> httpx.Response:
        resp = self.http.request(method, url, json=body)
        if resp.status_code not in expect:
            raise DemoError(
                f"{method} {url} answered {resp.status_code} (expected "
                f"{'/'.join(map(str, expect))}): {resp.text[:300]}"
            )
        return resp

    def stopped_components(self) -> str:
        """'; stopped: host (exit code 1)' when a component is no longer running, else ''."""
        stopped = [
            f"{name} (exit code {proc.returncode})"
            for name, proc in self.stack.procs.items()
            if proc.poll() is not None
        ]
        return f"; stopped: {', '.join(stopped)}" if stopped else ""

    def close(self) -> None:
        self.http.close()
        if self.inbox is not None:
            self.inbox.close()
        self.stack.stop()
        self.log.close()

    # -- the steps -------------------------------------------------------------------------------

    def run(self) -> Report:
        self.say("start-up", "starting Azurite, the simulators and the local Functions host")
        self.isolate_environment()
        self.stack.start()
        values = self.stack.environment()
        self.activity_set = values.get("DATAVERSE_ACTIVITY_SET", "tasks")
        self.inbox = TableClient.from_connection_string(  # read-only, for the report
            values["AzureWebJobsStorage"],
            values["TABLE_NAME_PREFIX"] + "inbox",
            transport=RequestsTransport(use_env_settings=False),  # loopback: never a proxy
        )
        p = self.stack.ports
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
            "settle", "waiting until every response is an activity (the retry is due after 22-38 s)"
        )
        self.settle()
        self.say("checks", "checking the numbers")
        self.collect()
        check_report(self.report)
        return self.report

    def say(self, step: str, text: str) -> None:
        self.step = step
        print(f"  {text}", flush=True)

    def isolate_environment(self) -> None:
        """The stack's own settings only: an exported setting would win over the demo's."""
        values = json.loads(self.stack.settings_path.read_text(encoding="utf-8"))["Values"]
        inherited = sorted(k for k in {*values, *PORT_SETTINGS} if k in os.environ)
        for key in inherited:
            del os.environ[key]
        if inherited:
            print(f"  ignoring exported settings: {', '.join(inherited)}", flush=True)

    def onboard(self) -> None:
        since = self.log.mark()
        self.call(
            "POST", self.host("/api/manage/kaizala/pin"), [202], {"mobileNumber": ADMIN_MOBILE}
        )
        pin = self.read_pin(since)
        resp = self.call(
            "POST",
            self.host("/api/manage/kaizala/login"),
            [200],
            {"mobileNumber": ADMIN_MOBILE, "pin": pin},
        )
        if resp.json().get("status") != "onboarded":
            raise DemoError(f"login answered {resp.text[:200]}")
        self.run_function("renew_kaizala_token")
        if self.call("GET", self.kaizala("stats"), [200]).json()["accessTokensIssued"] < 1:
            raise DemoError("renew_kaizala_token obtained no access token")

    def read_pin(self, since: int) -> str:
        """The PIN from the simulator's log line (the documented SMS stand-in), else /_sim/pin."""
        found = self.log.wait_for("kaizala", PIN_LINE, since, timeout=5.0)
        if found is not None and found["mobile"] == ADMIN_MOBILE:
            return found["pin"]
        print("  (no PIN line in the simulator's log: reading it from /_sim/pin)", flush=True)
        resp = self.call("GET", self.kaizala(f"pin?mobileNumber={ADMIN_MOBILE}"), [200])
        return str(resp.json()["pin"])

    def run_function(self, name: str, timeout: float = 50.0) -> str:
        """POST /admin/functions/<name> and wait for the host's line saying how it ended."""
        since = self.log.mark()
        self.call("POST", self.host(f"/admin/functions/{name}"), [202], {"input": ""})
        ended = re.compile(rf"function={name} trigger=admin (?P<outcome>\S+)")
        found = self.log.wait_for("host", ended, since, timeout)
        if found is None:
            raise DemoError(f"{name} did not finish within {timeout:g} s")
        if found["outcome"] not in ("ok", "skipped(still-running)"):
            raise DemoError(f"{name} ended with {found['outcome']}")
        return found["outcome"]

    def sync_webhooks(self) -> None:
        resp = self.call("POST", self.host("/api/manage/webhooks/sync"), [200], {})
        actions = [a for g in resp.json()["groups"] for a in g["actions"]]
        hooks = self.call("GET", self.kaizala("state"), [200]).json()["webhooks"]
        if "created" not in actions or sum(1 for h in hooks if h["active"]) != 1:
            raise DemoError(f"webhook sync: {actions}, {len(hooks)} subscription(s)")

    def create_opportunity(self) -> None:
        r = self.report
        since_seq = self.last_call_seq()
        first = self.call(
            "POST", self.host("/api/dynamics/opportunities"), [200, 201, 202], opportunity_context()
        )
        repeat = self.call(
            "POST", self.host("/api/dynamics/opportunities"), [200, 201, 202], opportunity_context()
        )
        r.first_status, r.repeat_status = first.status_code, repeat.status_code
        r.correlation_id = first.json()["correlationId"]
        r.action_id = first.json().get("actionId") or ""
        r.repeat_correlation_id = repeat.json()["correlationId"]
        if not r.action_id:
            raise DemoError(f"the survey was not sent: {first.text[:300]}")
        calls = self.call("GET", self.kaizala(f"calls?sinceSeq={since_seq}"), [200]).json()
        send = re.compile(r"/groups/[^/]+/actions$")
        r.kaizala_send_calls = sum(
            1 for c in calls["calls"] if c["method"] == "POST" and send.search(c["path"])
        )

    def last_call_seq(self) -> int:
        calls = self.call("GET", self.kaizala("calls"), [200]).json()["calls"]
        return max((int(c["seq"]) for c in calls), default=0)

    def answer_survey(self) -> None:
        state = self.call("GET", self.kaizala("state"), [200]).json()
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
        for member in MEMBERS:
            if member.mobile not in members:
                raise DemoError(f"{member.mobile} is not a member of the survey's group")
        # Everyone answers; then the edits; the outage's answer comes last.
        for member in MEMBERS:
            if not member.during_outage:
                self.answer(member, member.answers, members)
        for member in MEMBERS:
            if member.edit is not None:
                self.answer(member, member.edit, members)
        for member in MEMBERS:
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
        resp = self.call(
            "POST", self.kaizala(f"actions/{self.report.action_id}/respond"), [200], body
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
        self.call("POST", self.dataverse("down"), [200], {"down": True})
        try:
            sent = self.answer(member, member.answers, members)
            idle = self.call(
                "POST", self.kaizala("deliveries/wait"), [200], {"timeoutSeconds": 20}
            ).json()
            if not idle["idle"]:
                raise DemoError("the simulator's deliveries did not finish during the outage")
        finally:
            self.call("POST", self.dataverse("down"), [200], {"down": False})
        if self.shows(self.activities(), sent):
            raise DemoError("an activity was written while Dataverse was down")

    def settle(self) -> None:
        """Until every answer is visible and no inbox row is pending; process_inbox when due."""
        deadline = time.monotonic() + SETTLE_SECONDS
        last_run = 0.0
        while True:
            waiting = self.update_latencies()
            rows = self.inbox_rows()
            pending = [r for r in rows if r.get("status") == "pending"]
            if not waiting and not pending:
                return
            if time.monotonic() > deadline:
                raise DemoError(
                    f"after {SETTLE_SECONDS:g} s: {len(waiting)} answer(s) not in Dataverse, "
                    f"{len(pending)} inbox row(s) pending"
                )
            now_ms = time.time() * 1000
            due = any(int(r.get("nextAttemptAt") or 0) <= now_ms for r in pending)
            if due and time.monotonic() - last_run >= PROCESS_INBOX_EVERY:
                last_run = time.monotonic()
                self.run_function("process_inbox")
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
        activities = self.activities()
        now = time.monotonic()
        for s in waiting:
            if self.shows(activities, s):
                s.latency = now - s.started
        return [s for s in waiting if s.latency is None]

    def activities(self) -> list[dict[str, Any]]:
        state = self.call("GET", self.dataverse("state"), [200]).json()
        rows: list[dict[str, Any]] = state["activities"].get(self.activity_set, [])
        return rows

    @staticmethod
    def shows(activities: list[dict[str, Any]], sent: Sent) -> bool:
        return find_description(activities, sent) is not None

    def inbox_rows(self) -> list[dict[str, Any]]:
        assert self.inbox is not None
        wanted = ["eventId", "eventType", "responseId", "status", "attempts", "nextAttemptAt"]
        return [
            {k: v.value if isinstance(v, EntityProperty) else v for k, v in e.items()}
            for e in self.inbox.list_entities(select=wanted)
        ]

    def collect(self) -> None:
        r = self.report
        r.activities = self.activities()
        r.inbox = self.inbox_rows()
        made = self.call("GET", self.kaizala("deliveries"), [200]).json()["deliveries"]
        ok = [d for d in made if d["ok"] and d["eventType"] in RESPONSE_EVENTS]
        r.deliveries = len(ok)
        r.distinct_events = len({d["eventId"] for d in ok})
        outage = {s.event_id for s in r.sent if s.during_outage}
        r.outage_answers = [d["status"] for d in made if d["eventId"] in outage]
        status = self.call("GET", self.host(f"/api/actions/{r.correlation_id}"), [200]).json()
        r.status_responses = int(status.get("responses", -1))
        state = self.call("GET", self.kaizala("state"), [200]).json()
        action = next(a for a in state["actions"] if a["actionId"] == r.action_id)
        responses = action["actionDetails"]["responses"]
        r.kaizala_responders = len({x["responder"] for x in responses})


def opportunity_context() -> dict[str, Any]:
    """What Dataverse posts to a webhook step on Create of opportunity (trimmed, realistic)."""
    return {
        "BusinessUnitId": "3c5a8f2e-1b7d-4e60-9f2a-5d8c7b6a4e31",
        "CorrelationId": "0c8f2a51-7d3e-4b9a-8e6f-1a2b3c4d5e6f",
        "Depth": 1,
        "InitiatingUserId": "9d2e4f6a-8b1c-4d3e-a5f7-0b9c8d7e6f5a",
        "InputParameters": [
            {
                "key": "Target",
                "value": {
                    "__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
                    "Attributes": [
                        {"key": "name", "value": OPPORTUNITY_NAME},
                        {"key": "opportunityid", "value": OPPORTUNITY_ID},
                        {"key": "estimatedvalue", "value": {"Value": 420000.0}},
                        {"key": "estimatedclosedate", "value": "/Date(1743379200000)/"},
                        {
                            "key": "parentaccountid",
                            "value": {
                                "Id": "4e7a2c1d-9b8f-4a6e-8d5c-3b2a1f0e9d8c",
                                "LogicalName": "account",
                                "Name": "Contoso Ltd",
                            },
                        },
                        {"key": "statecode", "value": {"Value": 0}},
                    ],
                    "EntityState": None,
                    "FormattedValues": [],
                    "Id": OPPORTUNITY_ID,
                    "LogicalName": "opportunity",
                    "RelatedEntities": [],
                },
            }
        ],
        "IsExecutingOffline": False,
        "IsInTransaction": False,
        "IsOfflinePlayback": False,
        "IsolationMode": 1,
        "MessageName": "Create",
        "Mode": 1,
        "OperationCreatedOn": "/Date(1740000000000)/",
        "OperationId": "5b1d3f7e-2a4c-4e8b-9c6d-7f0e1a2b3c4d",
        "OrganizationId": "8f3e2d1c-0b9a-4c8d-9e7f-6a5b4c3d2e1f",
        "OrganizationName": "contoso",
        "OutputParameters": [{"key": "id", "value": OPPORTUNITY_ID}],
        "OwningExtension": {
            "Id": "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d",
            "LogicalName": "sdkmessageprocessingstep",
            "Name": "Kaizala Bridge: Create of opportunity",
        },
        "PostEntityImages": [],
        "PreEntityImages": [],
        "PrimaryEntityId": OPPORTUNITY_ID,
        "PrimaryEntityName": "opportunity",
        "RequestId": "6c2e4a8f-3b5d-4f7a-9e1c-8d0b2a4c6e8f",
        "SecondaryEntityName": "none",
        "SharedVariables": [],
        "Stage": 40,
        "UserId": "9d2e4f6a-8b1c-4d3e-a5f7-0b9c8d7e6f5a",
    }


def group_members(state: dict[str, Any], group_id: str) -> dict[str, str]:
    """mobile → name of the group's members: who may answer the survey."""
    group = next(g for g in state["groups"] if g["groupId"] == group_id)
    return {m["mobileNumber"]: m["name"] for m in group["members"]}


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
        len(r.activities) == r.kaizala_responders == len(final) == len(MEMBERS),
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
    extra = sum(m.duplicates for m in MEMBERS)
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
    for member in MEMBERS:
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


# ---- entry point --------------------------------------------------------------------------------


class Interrupted(Exception):
    """SIGTERM: stop like Ctrl-C."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Interrupted


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.demo", description=__doc__)
    parser.add_argument(
        "--keep", action="store_true", help="keep the work directory (settings, logs) on success"
    )
    args = parser.parse_args(argv)
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(errors="backslashreplace")  # the report holds non-ASCII names
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="kaizala-demo-"))
    print(f"Kaizala Bridge demo: starting the stack (work directory {workdir})", flush=True)
    code = run_demo(Demo(workdir))
    if code == 1 or args.keep:  # a failure keeps the settings and logs for a look
        print(f"component logs: {workdir / 'components.log'}", flush=True)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"run time: {time.monotonic() - started:.1f} s", flush=True)
    return code


def run_demo(demo: Demo) -> int:
    """Run it, print the report, and stop everything it started, also on Ctrl-C or SIGTERM."""
    previous_int = signal.getsignal(signal.SIGINT)
    previous_term = signal.signal(signal.SIGTERM, _on_sigterm)
    started = time.monotonic()
    code = 1
    try:
        code = 0 if demo.run().ok else 1
    except (KeyboardInterrupt, Interrupted):
        print("\ninterrupted: stopping everything", flush=True)
        code = 130
    except DemoError as exc:
        print(f"\nFAILED at step '{demo.step}': {exc}{demo.stopped_components()}", flush=True)
    except Exception as exc:
        if stopped := demo.stopped_components():
            print(f"\nFAILED at step '{demo.step}': {type(exc).__name__}{stopped}", flush=True)
        else:
            print(f"\nFAILED at step '{demo.step}' unexpectedly:", flush=True)
            traceback.print_exc()
    finally:
        # A second Ctrl-C must not leave processes behind: stopping is bounded anyway.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            demo.close()
        finally:
            signal.signal(signal.SIGINT, previous_int)
            signal.signal(signal.SIGTERM, previous_term)
    if demo.report.checks:
        print(report_text(demo.report, time.monotonic() - started), flush=True)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
