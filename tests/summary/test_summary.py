"""Results on the opportunity: the summary note and `GET /api/actions/{id}` `summary`.

Over real HTTP: the survey is sent to the Kaizala simulator, the answers come in through the
webhook handler, the `process_inbox` timer writes the note into the Dataverse simulator.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from devtools.dataverse_sim import SimState
from shared.adapters.dataverse import DataverseClient, build_http_client, summary_note_id
from shared.runtime import Runtime
from shared.services.inbound import sweep_inbox
from tests.bridge_fixtures import OPPORTUNITY
from tests.inbound.conftest import Clock, DataverseGate, post_event
from tests.summary.conftest import (
    BASE_TIME,
    BUDGET,
    COMPETITORS,
    LIKELY,
    NOTES,
    SURVEY_TITLE,
    answer_event,
    note_writes,
    notes,
    send_survey,
    status_of,
)
from tests.support import body_json, run_timer

DELAY = 30  # seconds: the debounce of the note (InboundDeps.summary_delay)
WAIT = DELAY + 1  # a response's mark is due less than the debounce after it
CID = "0b6c1d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"

FIVE: list[tuple[str, int, dict[str, Any]]] = [
    ("Asha Rao", 1, {LIKELY: "Likely", BUDGET: 100000, COMPETITORS: ["A", "C"], NOTES: "Demo"}),
    ("Vikram Shah", 2, {LIKELY: "Unlikely", BUDGET: 50000, COMPETITORS: ["B"], NOTES: "Freeze"}),
    ("Meera Iyer", 3, {LIKELY: "Likely", BUDGET: 150000, COMPETITORS: ["A"], NOTES: "Champion"}),
    # no competitors, no notes: counted as a response, not as answers to those questions
    ("Ravi Kumar", 4, {LIKELY: 0, BUDGET: 125000, COMPETITORS: [], NOTES: ""}),
    (
        "Lena Fox",
        5,
        {LIKELY: "Unlikely", BUDGET: 75000, COMPETITORS: ["A", "B", "C"], NOTES: "Legal"},
    ),
]
# Vikram edits his answer later: it replaces his response, it does not add one.
EDIT = {LIKELY: "Likely", BUDGET: 90000, COMPETITORS: ["C"], NOTES: "Freeze lifted"}


def at(seconds: int) -> int:
    return BASE_TIME + seconds * 1000


EXPECTED = {
    "responses": 5,
    "questions": [
        {
            "title": LIKELY,
            "type": "SingleOption",
            "answered": 5,
            "options": [
                {"title": "Likely", "count": 4, "percent": 80.0},  # Ravi answered by index 0
                {"title": "Unlikely", "count": 1, "percent": 20.0},
            ],
        },
        # 100000, 90000 (the edit, not 50000), 150000, 125000, 75000
        {
            "title": BUDGET,
            "type": "Numeric",
            "answered": 5,
            "min": 75000.0,
            "mean": 108000.0,
            "max": 150000.0,
        },
        {
            "title": COMPETITORS,
            "type": "MultiOption",
            "answered": 4,
            "options": [
                {"title": "A", "count": 3, "percent": 75.0},
                {"title": "B", "count": 1, "percent": 25.0},
                {"title": "C", "count": 3, "percent": 75.0},
            ],
        },
        {
            "title": NOTES,
            "type": "Text",
            "answered": 4,
            "latest": [  # newest answer first: the edit was answered last
                {
                    "responder": "Vikram Shah",
                    "answeredAt": "2026-01-01T00:00:10Z",
                    "text": "Freeze lifted",
                },
                {"responder": "Lena Fox", "answeredAt": "2026-01-01T00:00:05Z", "text": "Legal"},
                {
                    "responder": "Meera Iyer",
                    "answeredAt": "2026-01-01T00:00:03Z",
                    "text": "Champion",
                },
                {"responder": "Asha Rao", "answeredAt": "2026-01-01T00:00:01Z", "text": "Demo"},
            ],
        },
    ],
}


async def test_note_and_summary_after_five_mixed_responses_and_an_edit(
    rt: Runtime, token: str, dv: SimState, clock: Clock
) -> None:
    cid, action_id = await send_survey()
    before = await status_of(cid)
    assert before["summary"] == {"responses": 0, "questions": []}

    events = [answer_event(action_id, who, at(s), answers) for who, s, answers in FIVE]
    for event in events:
        assert body_json(await post_event(event, token))["status"] == "accepted"
    vikram = events[1]["data"]["responseId"]
    edit = answer_event(action_id, "Vikram Shah", at(10), EDIT, response_id=vikram, edit=True)
    assert body_json(await post_event(edit, token))["status"] == "accepted"
    assert len(dv.activities("tasks")) == 5  # one task per response, the edit updated its own

    # The JSON has the figures at once; the note waits for the debounce and the sweep.
    status = await status_of(cid)
    assert status["responses"] == 5
    summary = status["summary"]
    recorded = summary.pop("updatedAt")
    assert summary == EXPECTED
    assert notes(dv) == []
    await run_timer("process_inbox")
    assert notes(dv) == []  # not due yet

    clock.advance(WAIT)
    await run_timer("process_inbox")
    [note] = notes(dv)
    assert note["annotationid"] == str(summary_note_id(cid))
    assert (note["_objectid_value"], note["objecttypecode"]) == (OPPORTUNITY, "opportunity")
    assert note["subject"] == f"Kaizala results: {SURVEY_TITLE} — 5 responses"
    text = note["notetext"]
    for line in (
        f"Results of the Survey action: {SURVEY_TITLE}",
        "Regarding: Contoso – 500 laptops",
        "Responses: 5",
        f"Last updated: {recorded}",
        f"1. {LIKELY} (SingleOption; answered by 5)",
        "   Likely: 4 (80%)",
        "   Unlikely: 1 (20%)",
        f"2. {BUDGET} (Numeric; answered by 5)",
        "   min 75000 · mean 108000 · max 150000",
        f"3. {COMPETITORS} (MultiOption; answered by 4)",
        "   A: 3 (75%)",
        "   B: 1 (25%)",
        "   C: 3 (75%)",
        f"4. {NOTES} (Text; answered by 4)",
        "   - Vikram Shah, 2026-01-01T00:00:10Z: Freeze lifted",
        "   - Asha Rao, 2026-01-01T00:00:01Z: Demo",
        f"Action id: {action_id}",
        f"Correlation id: {cid}",
    ):
        assert f"\n{line}\n" in f"\n{text}\n", line
    assert "00:00:02Z" not in text  # Vikram's first answer is gone: the edit replaced it
    assert note_writes(dv) == 1

    # Nothing new: later sweeps write nothing.
    clock.advance(3600)
    await run_timer("process_inbox")
    assert note_writes(dv) == 1


async def test_a_burst_of_answers_makes_one_note_write(
    rt: Runtime, token: str, dv: SimState, clock: Clock
) -> None:
    cid, action_id = await send_survey()
    burst = [
        answer_event(action_id, f"Member {n}", at(n), {LIKELY: "Likely", BUDGET: n})
        for n in range(1, 51)
    ]
    answers = await asyncio.gather(*(post_event(e, token) for e in burst))
    assert {body_json(a)["status"] for a in answers} == {"accepted"}
    assert len(dv.activities("tasks")) == 50
    assert note_writes(dv) == 0

    clock.advance(WAIT)
    await run_timer("process_inbox")
    assert note_writes(dv) == 1
    [note] = notes(dv)
    assert "Responses: 50\n" in note["notetext"]
    assert "   min 1 · mean 25.5 · max 50" in note["notetext"]

    # Three more, 20 s apart: the note is due within the debounce of the first of them, not
    # pushed back by each answer (a steady trickle must not keep it from being written):
    # re-armed by the last answer it would be due 70 s after the first.
    for n in range(51, 54):
        event = answer_event(action_id, f"Member {n}", at(n), {LIKELY: "Unlikely", BUDGET: n})
        await post_event(event, token)
        if n == 51:
            await run_timer("process_inbox")
            assert note_writes(dv) == 1  # never before half the debounce
        if n < 53:
            clock.advance(20)
    await run_timer("process_inbox")  # 40 s after the first of the three
    assert note_writes(dv) == 2  # one write for the due windows together
    assert "Responses: 53\n" in notes(dv)[0]["notetext"]
    assert (await status_of(cid))["summary"]["responses"] == 53


async def test_an_answer_during_the_note_write_is_in_the_next_one(
    rt: Runtime, token: str, dv: SimState, clock: Clock
) -> None:
    cid, action_id = await send_survey()
    gate = DataverseGate()
    http = build_http_client(gate)
    client = DataverseClient.from_settings(rt.settings, http)
    rt.inbound.dataverse = lambda: client
    first = answer_event(action_id, "Asha Rao", at(1), {LIKELY: "Likely", BUDGET: 1})
    await post_event(first, token)
    clock.advance(WAIT)
    held = gate.hold("PATCH", "")  # the note write (activities are conditional writes)
    sweep = asyncio.create_task(sweep_inbox(rt.inbound))
    await held.reached.wait()  # the figures are read: one response
    second = answer_event(action_id, "Vikram Shah", at(2), {LIKELY: "Unlikely", BUDGET: 3})
    await post_event(second, token)
    held.release()
    assert (await sweep).notes == 1
    assert "Responses: 1\n" in notes(dv)[0]["notetext"]

    # The second answer marked a later window, kept when the first one's mark was deleted.
    [later] = await rt.summary_due.marks(cid)
    assert later.due_at > clock.now * 1000
    clock.advance(WAIT)
    assert (await sweep_inbox(rt.inbound)).notes == 1
    assert "Responses: 2\n" in notes(dv)[0]["notetext"]
    assert (await sweep_inbox(rt.inbound)).notes == 0
    assert note_writes(dv) == 2
    assert await rt.summary_due.marks(cid) == []  # handled marks are gone: nothing to expire
    await client.aclose()
    await http.aclose()


async def test_a_failed_note_write_backs_off_then_succeeds(
    rt: Runtime, token: str, dv: SimState, clock: Clock
) -> None:
    cid, action_id = await send_survey()
    await post_event(answer_event(action_id, "Asha Rao", at(1), {LIKELY: "Likely"}), token)
    clock.advance(WAIT)
    dv.set_down(True)
    assert (await sweep_inbox(rt.inbound)).notes == 0
    [mark] = await rt.summary_due.marks(cid)
    assert mark.attempts == 1 and mark.due_at > clock.now * 1000  # backing off
    dv.set_down(False)
    requests = dv.stats()["requests"]
    await sweep_inbox(rt.inbound)
    assert dv.stats()["requests"] == requests  # not retried before its time

    clock.advance(3600)
    assert (await sweep_inbox(rt.inbound)).notes == 1
    assert note_writes(dv) == 1
    assert await rt.summary_due.marks(cid) == []


async def test_an_older_answer_never_replaces_a_newer_one_in_the_figures(
    rt: Runtime, token: str, dv: SimState, clock: Clock
) -> None:
    # The edit is delivered first; the original answer, older, comes after it and is
    # superseded (the task holds the newer one): a superseded row never counts.
    cid, action_id = await send_survey()
    first = answer_event(action_id, "Asha Rao", at(10), {NOTES: "old"})
    rid = first["data"]["responseId"]
    edit = answer_event(action_id, "Asha Rao", at(20), {NOTES: "new"}, response_id=rid, edit=True)
    await post_event(edit, token)
    await post_event(first, token)
    summary = (await status_of(cid))["summary"]
    assert summary["responses"] == 1
    [notes_q] = [q for q in summary["questions"] if q["title"] == NOTES]
    assert [a["text"] for a in notes_q["latest"]] == ["new"]
    clock.advance(WAIT)
    await run_timer("process_inbox")
    assert "- Asha Rao, 2026-01-01T00:00:20Z: new" in notes(dv)[0]["notetext"]
    assert ": old" not in notes(dv)[0]["notetext"]


async def test_the_figures_are_the_inbox_rows_and_leave_with_them(
    rt: Runtime, token: str, clock: Clock
) -> None:
    # Nothing is stored per response besides its inbox row: inbox retention is the figures'.
    old_cid, old_action = await send_survey("Old survey")
    new_cid, new_action = await send_survey("New survey")
    await post_event(answer_event(old_action, "Asha Rao", at(1), {LIKELY: "Likely"}), token)
    await post_event(answer_event(old_action, "Vikram Shah", at(2), {LIKELY: "Likely"}), token)
    clock.advance(10 * 86_400)
    await post_event(answer_event(new_action, "Meera Iyer", at(3), {LIKELY: "Likely"}), token)
    cutoff = int((clock.now - 86_400) * 1000)  # between the two actions' latest responses

    assert (await status_of(old_cid))["summary"]["responses"] == 2
    assert await rt.inbox_store.expire(cutoff) == 2
    assert (await status_of(old_cid))["summary"]["responses"] == 0
    assert (await status_of(new_cid))["summary"]["responses"] == 1


async def test_a_row_still_pending_at_the_read_gets_a_follow_up_mark(
    rt: Runtime, token: str, dv: SimState, clock: Clock
) -> None:
    # A response whose processing is in flight (marked, not yet `done`) when the sweeper reads
    # the inbox is not in that note: the sweeper marks a later window for it.
    cid, action_id = await send_survey()
    await post_event(answer_event(action_id, "Asha Rao", at(1), {LIKELY: "Likely"}), token)
    slow = answer_event(action_id, "Vikram Shah", at(2), {LIKELY: "Unlikely"})
    now = int(clock.now * 1000)
    await rt.inbox_store.add(
        json.dumps(slow).encode(),
        event_id=slow["eventId"],
        event_type=slow["eventType"],
        action_id=action_id,
        response_id=slow["data"]["responseId"],
        pending=True,
        received_at=now,
        responded_at=at(2),
        next_attempt_at=now + 3_600_000,  # in flight elsewhere: not this sweep's to process
        event=slow,
    )
    clock.advance(WAIT)
    assert (await sweep_inbox(rt.inbound)).notes == 1
    assert "Responses: 1\n" in notes(dv)[0]["notetext"]
    [follow_up] = await rt.summary_due.marks(cid)
    assert follow_up.due_at > clock.now * 1000
