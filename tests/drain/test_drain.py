"""The circuit in the webhook and the sweep, and the drain of a backlog, against Azurite and
the Dataverse simulator over real HTTP (requests counted at the simulator)."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest

from devtools.dataverse_sim import SimState
from devtools.serving import ServerThread
from shared.runtime import Runtime
from shared.services.inbound import accept_event, sweep_inbox
from tests.drain.conftest import drain_runtime, paused_by_clock, sim_post
from tests.inbound.conftest import (
    Clock,
    correlate,
    edit_of,
    post_event,
    rows,
    sim_tasks,
    survey_event,
)
from tests.support import body_json

GRACE = 61  # past the inline grace (INLINE_GRACE_MS): the sweep takes the rows


def requests(sim: SimState) -> int:
    return int(sim.stats()["requests"])


async def by_event(rt: Runtime) -> dict[str, dict[str, Any]]:
    return {str(r["eventId"]): r for r in await rows(rt.tables)}


async def accepted(rt: Runtime, token: str, events: list[dict[str, Any]]) -> None:
    """Stored as the webhook stores them, without the inline attempt."""
    for event in events:
        result = await accept_event(rt.inbound, json.dumps(event).encode(), token)
        assert result.status == "accepted"


async def test_webhook_acks_without_calling_dataverse_while_the_circuit_is_open(
    inbound_env: dict[str, str], sim: SimState, clock: Clock
) -> None:
    async with drain_runtime(inbound_env, clock, DATAVERSE_CIRCUIT_FAILURES="5") as (rt, token):
        action_id = str(uuid.uuid4())
        await correlate(rt.tables, action_id)
        sim.set_down(True)
        events = [survey_event(action_id) for _ in range(20)]
        for event in events:
            resp = await post_event(event, token)
            assert resp.status_code == 200 and body_json(resp)["status"] == "accepted"
        # Two events fail twice each (the in-call retry), the third's first failure is the
        # fifth in a row: open. The other 17 are stored and acknowledged with no call.
        assert requests(sim) == 5
        stored = await by_event(rt)
        attempts = [stored[e["eventId"]]["attempts"] for e in events]
        # The failure that opened the circuit is the outage's: the third event keeps 0.
        assert attempts == [1, 1, 0] + [0] * 17
        assert all(stored[e["eventId"]]["status"] == "pending" for e in events)
        # No attempt at all for the 17: not a call, not even an outcome written to the row.
        assert not any(stored[e["eventId"]].get("lastError") for e in events[3:])


async def test_a_full_request_window_leaves_events_to_the_sweep_without_waiting(
    inbound_env: dict[str, str], sim: SimState, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # Three requests per 5 minutes: the fourth and fifth events would have to wait for room,
    # which only spends the webhook's budget; they are stored and left to the sweep instead.
    async with drain_runtime(inbound_env, clock, DATAVERSE_REQUESTS_PER_5_MINUTES="3") as (
        rt,
        token,
    ):
        action_id = str(uuid.uuid4())
        await correlate(rt.tables, action_id)
        events = [survey_event(action_id) for _ in range(5)]
        for event in events:
            resp = await post_event(event, token)
            assert resp.status_code == 200 and body_json(resp)["status"] == "accepted"
        assert requests(sim) == 3
        stored = await by_event(rt)
        assert [stored[e["eventId"]]["status"] for e in events] == ["done"] * 3 + ["pending"] * 2
        assert not any(stored[e["eventId"]].get("lastError") for e in events[3:])
        assert [stored[e["eventId"]]["attempts"] for e in events[3:]] == [0, 0]
        messages = [r.getMessage() for r in caplog.records]
        # Not one inline wait for room (each would have spent the webhook's budget).
        assert not [m for m in messages if "request window full: waiting" in m]
        assert len([m for m in messages if "left to the sweeper: request window full" in m]) == 2

        clock.advance(301)  # the window has room again (and the rows are past the grace)
        report = await sweep_inbox(rt.inbound, expire=False)
        assert report.outcomes == {"done": 2}
        assert int(sim.stats()["writes"]) == 5  # (the run's summary note is one more request)
        assert len(sim_tasks(sim)) == 5


async def test_an_open_circuit_costs_the_sweep_one_probe_and_no_attempts(
    inbound_env: dict[str, str], sim: SimState, clock: Clock
) -> None:
    # Open for 30 s: longer than a run waits itself (IN_RUN_PAUSE_SECONDS), so a run stops.
    settings = {"DATAVERSE_CIRCUIT_FAILURES": "2", "DATAVERSE_CIRCUIT_OPEN_SECONDS": "30"}
    async with drain_runtime(inbound_env, clock, **settings) as (rt, token):
        action_id = str(uuid.uuid4())
        await correlate(rt.tables, action_id)
        sim.set_down(True)
        events = [survey_event(action_id) for _ in range(12)]
        for event in events:
            await post_event(event, token)
        assert requests(sim) == 2  # the first event's two tries opened it
        clock.advance(GRACE)  # past the open time (30 s) too: the probe
        first = await sweep_inbox(rt.inbound, expire=False)
        # Half-open: one row alone, its one call fails (no in-call retry for a probe), and the
        # circuit opens again: the other eleven rows are not even claimed.
        assert requests(sim) == 3
        assert first.claimed == 1
        stored = await by_event(rt)
        # The failures that opened the circuit (the first event's inline attempt, the probe)
        # are the outage's: no event counted an attempt.
        assert sorted(r["attempts"] for r in stored.values()) == [0] * 12
        again = await sweep_inbox(rt.inbound, expire=False)  # still open: nothing at all
        assert (again.claimed, requests(sim)) == (0, 3)

        sim.set_down(False)
        clock.advance(31)  # past the open time, and the held rows' spreading back-off (<= 30 s)
        done = await sweep_inbox(rt.inbound, expire=False)
        assert done.outcomes == {"done": 12}
        stored = await by_event(rt)
        # Each event counts its one successful attempt.
        assert sorted(r["attempts"] for r in stored.values()) == [1] * 12
        assert len(sim_tasks(sim)) == 12


async def test_the_drain_is_bounded_batched_ordered_and_loses_nothing(
    inbound_env: dict[str, str], sim: SimState, clock: Clock, dv_server: ServerThread
) -> None:
    async with drain_runtime(inbound_env, clock, INBOX_DRAIN_CONCURRENCY="4") as (rt, token):
        action_id = str(uuid.uuid4())
        await correlate(rt.tables, action_id)
        originals = [survey_event(action_id, response_time=1_000_000 + i) for i in range(30)]
        events: list[dict[str, Any]] = []
        for i, original in enumerate(originals):
            events.append(original)
            if i % 5 == 0:  # an edit, answered later, arriving after its original
                events.append(edit_of(original, action_id, 2_000_000 + i))
        for event in events:
            await accepted(rt, token, [event])
            clock.advance(0.01)  # distinct arrival times
        clock.advance(GRACE)
        # Each Dataverse call answers 400 ms late so that concurrent calls overlap.
        sim_post(dv_server, "faults", {"delaySeconds": 0.4, "count": 1000})
        sim_post(dv_server, "limits", {})  # no limit: the peak in flight is measured afresh

        report = await sweep_inbox(rt.inbound, limit=20, expire=False)

        assert report.batches >= 2  # batch after batch in one run
        # Every edit after its original (arrival order within a response): none superseded.
        assert report.outcomes == {"done": len(events)}
        assert 2 <= sim.stats()["peakInFlight"] <= 4  # concurrent, never past the setting
        tasks = sim_tasks(sim)
        assert len(tasks) == 30  # 0 lost, 0 duplicates: one task per response
        stored = await by_event(rt)
        assert all(r["status"] == "done" and r["attempts"] == 1 for r in stored.values())
        newest = {2_000_000 + i if i % 5 == 0 else 1_000_000 + i for i in range(30)}
        held = {int(t["description"].rsplit("Kaizala answer time: ", 1)[1]) for t in tasks}
        assert held == newest


async def test_the_drain_takes_the_oldest_first(
    inbound_env: dict[str, str], sim: SimState, clock: Clock
) -> None:
    async with drain_runtime(inbound_env, clock, INBOX_DRAIN_CONCURRENCY="1") as (rt, token):
        action_id = str(uuid.uuid4())
        await correlate(rt.tables, action_id)
        events = [survey_event(action_id, response_time=1_000_000 + i) for i in range(8)]
        for event in events:
            await accepted(rt, token, [event])
            clock.advance(1)
        clock.advance(GRACE)
        report = await sweep_inbox(rt.inbound, limit=3, expire=False)
        assert report.outcomes == {"done": 8}
        order = [int(t["description"].rsplit(": ", 1)[1]) for t in sim_tasks(sim)]
        assert order == [1_000_000 + i for i in range(8)]  # created in arrival order


async def test_a_429_pauses_the_whole_drain_once_then_it_resumes(
    inbound_env: dict[str, str], sim: SimState, clock: Clock, dv_server: ServerThread
) -> None:
    async with drain_runtime(inbound_env, clock, INBOX_DRAIN_CONCURRENCY="4") as (rt, token):
        action_id = str(uuid.uuid4())
        await correlate(rt.tables, action_id)
        events = [survey_event(action_id) for _ in range(20)]
        await accepted(rt, token, events)
        clock.advance(GRACE)
        sim_post(dv_server, "faults", {"status": 429, "retryAfter": 3, "count": 1})
        waits: list[float] = []
        deps = paused_by_clock(rt.inbound, clock, waits)

        report = await sweep_inbox(deps, expire=False)

        assert waits == [3.0]  # one pause of the whole drain, for the Retry-After
        assert sim.stats()["throttled"] == 1  # one 429, not one per event
        assert report.outcomes.get("done") == 20
        # Rows the 429 held back (the throttled one, those whose next call the open circuit
        # refused) kept their attempts: each row counts its one successful attempt.
        stored = await by_event(rt)
        assert all(r["status"] == "done" and r["attempts"] == 1 for r in stored.values())
        assert len(sim_tasks(sim)) == 20
        # GET + PATCH per event, the refused call, and at most the GETs that were already on
        # their way when the 429 came (concurrency - 1): no call while the circuit was open.
        assert requests(sim) <= 2 * 20 + 1 + 3


async def test_past_the_simulators_concurrent_limit_the_drain_pauses_and_loses_nothing(
    inbound_env: dict[str, str], sim: SimState, clock: Clock, dv_server: ServerThread
) -> None:
    # The drain asks for more than the service allows at once: each 429 pauses it as a whole
    # (the circuit), then it resumes; nobody's attempts are burned, nothing is lost.
    async with drain_runtime(inbound_env, clock, INBOX_DRAIN_CONCURRENCY="6") as (rt, token):
        action_id = str(uuid.uuid4())
        await correlate(rt.tables, action_id)
        events = [survey_event(action_id) for _ in range(12)]
        await accepted(rt, token, events)
        clock.advance(GRACE)
        sim_post(dv_server, "faults", {"delaySeconds": 0.2, "count": 1000})
        sim_post(dv_server, "limits", {"maxConcurrent": 2, "retryAfter": 1})
        waits: list[float] = []
        report = await sweep_inbox(paused_by_clock(rt.inbound, clock, waits), expire=False)
        throttled = sim.stats()["throttled"]
        assert throttled >= 1 and len(waits) >= 1
        assert all(w == 1.0 for w in waits)  # each pause is the Retry-After, whole
        assert report.outcomes.get("done") == 12
        stored = await by_event(rt)
        assert all(r["status"] == "done" and r["attempts"] == 1 for r in stored.values())
        assert len(sim_tasks(sim)) == 12
