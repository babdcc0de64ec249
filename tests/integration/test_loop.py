"""The loop end to end, across the slices of issue 10, over real HTTP.

A group per opportunity (Dataverse webhook → group with the owner and contact read from the
Dataverse simulator → survey), Kaizala's own deliveries reaching the bridge's webhook function
(the local host, on the test's loop: see loop_rig), tasks and the summary note on the
opportunity, chat as notes, and the backfill of responses the webhook missed. Azurite, the
Kaizala simulator and the Dataverse simulator are real; the bridge's clock is the test's, so
the note's debounce is crossed by moving it.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from devtools.dataverse_sim import DEFAULT_TOKEN
from devtools.dataverse_sim import create_app as create_dataverse
from devtools.demo.kaizala_app import KaizalaApp
from devtools.serving import ServerThread
from shared.adapters.dataverse import conversation_note_id, summary_note_id
from shared.adapters.kaizala import WebhookCreate
from shared.runtime import Runtime
from shared.stores.inbox import InboxStore
from tests.backfill.conftest import WITNESS_TOKEN, Witness
from tests.bridge_fixtures import KaizalaSim, bridge_env
from tests.conftest import installed_runtime, register_secret
from tests.integration.loop_rig import (
    CHAT_EVENTS,
    RESPONSE_EVENTS,
    Dataverse,
    create_context,
    dataverse_create,
    delivered,
    deliveries_done,
    group_hooks,
    group_of,
    host_on_this_loop,
    in_thread,
    off_loop,
    status_of,
    surveys_in,
)
from tests.support import run_timer

OPPORTUNITY = "3e1f5a7c-9b2d-4c6e-8f1a-2b3c4d5e6f70"
NAME = "Tailwind Traders – 60 kiosks"
OWNER, CONTACT = "6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d", "7b8c9d0e-1f2a-4b3c-9d4e-5f6a7b8c9d0e"
ADMIN = "+919100000001"  # the connector's user: the group's admin
OWNER_MOBILE, CONTACT_MOBILE, EXTRA = "+919100000002", "+919100000004", "+919100000003"
MESSAGE = "Can we see a kiosk in a store next week?"
DEBOUNCE = 30  # seconds: the summary note's (InboundDeps.summary_delay)
WAIT = DEBOUNCE + 1  # a mark is due less than the debounce after its response


def answers(likely: str, budget: int, note: str) -> list[Any]:
    """An answer to templates/opportunity-survey.json, question by question."""
    return [likely, budget, ["Incumbent vendor"], 1_798_761_600_000, note]


class ShiftedClock:
    """Real time plus an offset: the bridge's one clock, moved by the test."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture(scope="module")
def dv_app() -> Starlette:
    return create_dataverse()


@pytest.fixture(scope="module")
def dv_server(dv_app: Starlette) -> Iterator[ServerThread]:
    server = ServerThread(dv_app).start()
    yield server
    server.stop()


@pytest.fixture
def dataverse(dv_app: Starlette, dv_server: ServerThread) -> Iterator[Dataverse]:
    """The opportunity, its owner (a national-looking but complete number) and its contact."""
    dv = Dataverse(dv_server, dv_app)
    dv.state.reset()
    dv.seed("systemusers", id=OWNER, fullname="Vikram Shah", mobilephone="+91 91000 00002")
    dv.seed("contacts", id=CONTACT, fullname="Rohan Das", mobilephone=CONTACT_MOBILE)
    dv.seed("opportunities", id=OPPORTUNITY, name=NAME, ownerId=OWNER, contactId=CONTACT)
    try:
        yield dv
    finally:
        dv.http.close()


@pytest.fixture
async def host() -> AsyncIterator[str]:
    async with host_on_this_loop() as url:
        yield url


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
async def bridge(
    env: dict[str, str],
    kaizala: KaizalaSim,
    tmp_path: Path,
    host: str,
    dataverse: Dataverse,
    clock: ShiftedClock,
) -> AsyncIterator[Runtime]:
    register_secret(DEFAULT_TOKEN)
    values = bridge_env(
        env,
        kaizala,
        tmp_path,
        WEBHOOK_CALLBACK_URL=f"{host}/api/kaizala/webhook",
        DATAVERSE_URL=dataverse.url,
        DATAVERSE_STATIC_TOKEN=DEFAULT_TOKEN,
        OPPORTUNITY_GROUP_MODE="per-opportunity",
        OPPORTUNITY_GROUP_EXTRA_MEMBERS=EXTRA,
    )
    del values["OPPORTUNITY_SURVEY_GROUP_ID"]  # not needed in this mode
    async with installed_runtime(values, clock=clock) as rt:
        yield rt


@pytest.fixture
def witness() -> Iterator[tuple[Witness, str]]:
    """A second subscriber: records what Kaizala sends (tests/backfill/conftest.py)."""
    receiver = Witness()
    server = ServerThread(receiver.app).start()
    try:
        yield receiver, server.url
    finally:
        server.stop()


async def new_opportunity() -> dict[str, Any]:
    """Dataverse posts the Create, and retries it: one group, one survey, the same answer."""
    first_status, first = await dataverse_create(create_context(OPPORTUNITY, NAME))
    again_status, again = await dataverse_create(create_context(OPPORTUNITY, NAME))
    assert (first_status, again_status) == (201, 200), (first, again)
    for key in ("groupId", "correlationId", "actionId"):
        assert again[key] == first[key], key
    return first


async def test_a_new_opportunity_gets_its_group_survey_task_and_summary_note(
    bridge: Runtime, kaizala: KaizalaSim, dataverse: Dataverse, clock: ShiftedClock
) -> None:
    sent = await new_opportunity()
    gid, cid, action_id = sent["groupId"], sent["correlationId"], sent["actionId"]
    assert "skippedMembers" not in sent
    assert [g["groupId"] for g in kaizala.state()["groups"] if g["groupName"] == NAME] == [gid]
    members = {m["mobileNumber"] for m in group_of(kaizala, gid)["members"]}
    assert members == {ADMIN, OWNER_MOBILE, CONTACT_MOBILE, EXTRA}
    assert [a["actionId"] for a in surveys_in(kaizala, gid)] == [action_id]
    [hook] = group_hooks(kaizala, gid)
    assert {*RESPONSE_EVENTS, *CHAT_EVENTS} <= set(hook["events"])

    # The owner answers in the app; Kaizala delivers the event twice.
    body = {"responder": OWNER_MOBILE, "answers": answers("Likely", 90000, "Pilot first")}
    await in_thread(kaizala, "POST", f"actions/{action_id}/respond", json={**body, "duplicates": 1})
    await deliveries_done(kaizala)
    assert len(delivered(kaizala, RESPONSE_EVENTS)) == 2
    [task] = dataverse.tasks()
    assert task["_regardingobjectid_value"] == OPPORTUNITY
    assert "Vikram Shah" in task["subject"]
    assert "Pilot first" in task["description"]
    assert (await status_of(cid))["summary"]["responses"] == 1

    # The note waits for its debounce, then the inbox sweep writes it on the same opportunity.
    await run_timer("process_inbox")
    assert dataverse.notes() == []
    clock.offset += WAIT
    await run_timer("process_inbox")
    [note] = dataverse.notes()
    assert note["annotationid"] == str(summary_note_id(cid))
    assert (note["_objectid_value"], note["objecttypecode"]) == (OPPORTUNITY, "opportunity")
    assert "\nResponses: 1\n" in note["notetext"]
    assert "   Likely: 1 (100%)" in note["notetext"]


async def test_chat_and_a_photo_in_the_group_become_two_notes_once_each(
    bridge: Runtime, kaizala: KaizalaSim, dataverse: Dataverse
) -> None:
    gid = (await new_opportunity())["groupId"]
    kaizala.config(duplicateDeliveries=1)  # every event delivered twice, at the same moment
    app = KaizalaApp(kaizala.url)
    try:
        rohan = await off_loop(app.sign_in, CONTACT_MOBILE)
        vikram = await off_loop(app.sign_in, OWNER_MOBILE)
        await off_loop(rohan.send_message, gid, MESSAGE)
        photo = b"\x89PNG\r\n\x1a\n" + bytes(64)
        await off_loop(
            vikram.post_photo, gid, "kiosk-mockup.png", photo, "image/png", "The mock-up"
        )
    finally:
        app.close()
    await deliveries_done(kaizala)

    copies = delivered(kaizala, CHAT_EVENTS)
    assert len(copies) == 4  # two events, each delivered twice
    events = {d["eventType"]: d["eventId"] for d in copies}
    notes = {n["annotationid"]: n for n in dataverse.notes()}
    assert set(notes) == {str(conversation_note_id(e)) for e in events.values()}
    assert dataverse.note_writes() == 2
    assert {n["_objectid_value"] for n in notes.values()} == {OPPORTUNITY}
    said = notes[str(conversation_note_id(events["TextMessageCreated"]))]
    assert said["subject"] == f"Kaizala message from Rohan Das: {MESSAGE}"
    assert f"Kaizala message in {NAME}" in said["notetext"]
    shown = notes[str(conversation_note_id(events["AttachmentCreated"]))]
    assert shown["subject"] == "Kaizala image from Vikram Shah: The mock-up"
    assert "- kiosk-mockup.png (Image): http" in shown["notetext"]
    rows = await InboxStore(bridge.tables).rows()
    assert sorted(r["status"] for r in rows if r["eventType"] in CHAT_EVENTS) == ["done", "done"]
    assert dataverse.tasks() == []


async def test_responses_the_webhook_missed_are_backfilled_counted_and_not_doubled(
    bridge: Runtime,
    kaizala: KaizalaSim,
    dataverse: Dataverse,
    clock: ShiftedClock,
    witness: tuple[Witness, str],
    host: str,
) -> None:
    sent = await new_opportunity()
    gid, cid, action_id = sent["groupId"], sent["correlationId"], sent["actionId"]
    # The bridge's subscription is deleted in Kaizala; a witness records what Kaizala sends.
    [hook] = group_hooks(kaizala, gid)
    await bridge.kaizala.delete_webhook(hook["id"])
    receiver, witness_url = witness
    register_secret(WITNESS_TOKEN)
    await bridge.kaizala.create_webhook(
        WebhookCreate(
            objectId=gid,
            objectType="Group",
            eventTypes=list(RESPONSE_EVENTS),
            callBackUrl=f"{witness_url}/witness",
            callBackToken=WITNESS_TOKEN,
        )
    )
    people = [(OWNER_MOBILE, "Likely", 90000), (CONTACT_MOBILE, "Unlikely", 60000)]
    people.append((EXTRA, "Likely", 120000))
    for mobile, likely, budget in people:
        body = {"responder": mobile, "answers": answers(likely, budget, f"from {mobile}")}
        await in_thread(kaizala, "POST", f"actions/{action_id}/respond", json=body)
    await deliveries_done(kaizala)
    missed = receiver.events()
    assert len(missed) == 3  # Kaizala sent them, to the witness only
    assert dataverse.tasks() == []
    assert await InboxStore(bridge.tables).rows() == []

    await run_timer("backfill_responses")
    tasks = dataverse.tasks()
    assert len(tasks) == 3
    assert {t["_regardingobjectid_value"] for t in tasks} == {OPPORTUNITY}
    for name in ("Vikram Shah", "Rohan Das", "Meera Iyer"):
        assert len([t for t in tasks if name in t["subject"]]) == 1, name
    rows = await InboxStore(bridge.tables).rows()
    assert {(r["eventId"][:9], r["status"]) for r in rows} == {("backfill-", "done")}
    status = await status_of(cid)
    assert (status["responses"], status["summary"]["responses"]) == (3, 3)
    clock.offset += WAIT
    await run_timer("process_inbox")
    [note] = dataverse.notes()
    assert "\nResponses: 3\n" in note["notetext"]
    assert "   Likely: 2 (66.7%)" in note["notetext"]
    before = {t["activityid"]: answers_in(t) for t in tasks}
    figures = figures_in(note)

    # Kaizala's own deliveries reach the bridge's webhook afterwards: they change nothing.
    token = await bridge.callbacks.ensure()
    register_secret(token)
    headers = {"content-type": "application/json", "kz-callback-token": token}
    async with httpx.AsyncClient(base_url=host, timeout=30.0) as http:
        for event in missed:
            raw = json.dumps(event)
            resp = await http.post("/api/kaizala/webhook", content=raw, headers=headers)
            assert (resp.status_code, resp.json()["status"]) == (200, "accepted")
    # The same three tasks with the same answers (an equal answer time is written again,
    # naming the webhook's event: see shared/services/inbound/activity.py).
    assert {t["activityid"]: answers_in(t) for t in dataverse.tasks()} == before
    status = await status_of(cid)
    assert (status["responses"], status["summary"]["responses"]) == (3, 3)
    clock.offset += WAIT
    await run_timer("process_inbox")
    [note] = dataverse.notes()
    assert figures_in(note) == figures


def answers_in(task: dict[str, Any]) -> str:
    """A task's subject and description without the line naming the event that wrote it."""
    lines = str(task["description"]).splitlines()
    return "\n".join([task["subject"], *(x for x in lines if not x.startswith("Event id: "))])


def figures_in(note: dict[str, Any]) -> list[str]:
    """The note's figures (a re-recorded response may move its "Last updated" line)."""
    return [x for x in str(note["notetext"]).splitlines() if not x.startswith("Last updated: ")]
