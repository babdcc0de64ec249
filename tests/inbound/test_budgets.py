"""Time budgets and back-off: the inline 4 s, the sweeper's run budget and per-event timeout.

A slow Dataverse is a request held at the HTTP boundary until the test releases it (an event,
never a sleep), so each budget below is spent because the work cannot finish, not because a
machine happened to be slow; the run budget is measured by an injected monotonic timer.
"""

from __future__ import annotations

import json
import math
import uuid

import httpx
import pytest

from devtools.dataverse_sim import SimState
from shared.adapters.retry import RetryPolicy
from shared.runtime import Runtime
from shared.services.inbound import accept_event, sweep_inbox
from shared.services.inbound.deps import INLINE_BUDGET_SECONDS
from shared.services.inbound.intake import INLINE_GRACE_MS
from shared.services.inbound.processing import MIN_RETRY_SECONDS, backoff_seconds
from shared.services.inbound.sweeper import SWEEP_BUDGET_SECONDS
from tests.inbound.conftest import (
    SAMPLE_RESPONSE_TIME,
    Clock,
    DataverseGate,
    correlate,
    post_event,
    row_of,
    sim_tasks,
    survey_event,
)
from tests.support import body_json

# Short enough that a test does not wait long for a held request to be given up; the request
# is never released before, so any value gives the same result.
GIVE_UP_SECONDS = 0.2


async def test_inline_budget_is_four_seconds_by_default(rt: Runtime) -> None:
    assert INLINE_BUDGET_SECONDS == 4.0
    assert rt.inbound.inline_budget == INLINE_BUDGET_SECONDS


async def test_inline_budget_spent_leaves_the_event_to_the_sweeper(
    rt: Runtime, token: str, sim: SimState, clock: Clock, gate: DataverseGate
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    rt.inbound.inline_budget = GIVE_UP_SECONDS
    held = gate.hold("PATCH", "create")  # Dataverse does not answer the inline write
    event = survey_event(action_id)

    resp = await post_event(event, token)

    assert resp.status_code == 200  # answered although the write never finished
    assert body_json(resp) == {"status": "accepted", "eventId": event["eventId"]}
    assert held.reached.is_set()
    row = await row_of(rt.tables, event["eventId"])
    # Untouched since the insert: the sweeper's grace period, then it takes over.
    assert (row["status"], row["attempts"]) == ("pending", 0)
    assert row["nextAttemptAt"] == row["receivedAt"] + INLINE_GRACE_MS
    assert gate.sent == [] and sim_tasks(sim) == []

    held.release()
    clock.advance(61)
    report = await sweep_inbox(rt.inbound)
    assert report.outcomes == {"done": 1}
    assert len(sim_tasks(sim)) == 1


async def test_event_timeout_in_the_sweeper_backs_off(
    rt: Runtime, token: str, sim: SimState, clock: Clock, gate: DataverseGate
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    deps = rt.inbound
    deps.event_timeout = GIVE_UP_SECONDS
    deps.jitter = lambda: 0.5
    event = survey_event(action_id)
    await accept_event(deps, json.dumps(event).encode(), token)  # no inline attempt
    held = gate.hold("PATCH", "create")
    clock.advance(61)

    report = await sweep_inbox(deps)

    assert held.reached.is_set()
    assert report.outcomes == {"pending": 1}
    row = await row_of(rt.tables, event["eventId"])
    assert (row["status"], row["attempts"], row["lastError"]) == ("pending", 1, "TimeoutError")
    assert row["nextAttemptAt"] == row["lastAttemptAt"] + 15_000  # 0.5 x 30 s

    held.release()
    clock.advance(15)
    assert (await sweep_inbox(deps)).outcomes == {"done": 1}


class Timer:
    """A monotonic timer that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_sweep_stops_claiming_once_its_budget_is_spent(
    rt: Runtime, token: str, sim: SimState, clock: Clock, gate: DataverseGate
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    deps = rt.inbound
    timer = Timer()
    deps.monotonic = timer
    # Three events of one response: one sequence, processed in arrival order.
    first = survey_event(action_id)
    response_id = first["data"]["responseId"]
    events = [first] + [
        survey_event(action_id, response_id=response_id, response_time=SAMPLE_RESPONSE_TIME + n)
        for n in (1, 2)
    ]
    for event in events:
        await accept_event(deps, json.dumps(event).encode(), token)
        clock.advance(1)
    clock.advance(61)

    async def the_first_write_takes_the_whole_budget(_: httpx.Request) -> None:
        timer.now += SWEEP_BUDGET_SECONDS + 1

    gate.before("PATCH", "create", the_first_write_takes_the_whole_budget, nth=1)

    report = await sweep_inbox(deps)

    assert (report.found, report.claimed, report.outcomes) == (3, 1, {"done": 1})
    assert (await row_of(rt.tables, events[0]["eventId"]))["status"] == "done"
    for later in events[1:]:
        row = await row_of(rt.tables, later["eventId"])
        # Left unclaimed for the next run: not hidden, no attempt counted.
        assert (row["status"], row["attempts"]) == ("pending", 0)
        assert row["nextAttemptAt"] == row["receivedAt"] + INLINE_GRACE_MS

    report = await sweep_inbox(deps)
    assert (report.found, report.outcomes) == (2, {"done": 2})


def _policy(jitter: float, max_attempts: int = 8) -> RetryPolicy:
    return RetryPolicy(
        max_attempts=max_attempts,
        base_delay=30,
        max_delay=3600,
        max_retry_after=3600,
        jitter=lambda: jitter,
    )


@pytest.mark.parametrize(
    ("jitter", "attempts", "retry_after", "wait"),
    [
        (1.0, 1, None, 30.0),  # the ceiling doubles from 30 s ...
        (1.0, 2, None, 60.0),
        (0.25, 3, None, 30.0),  # ... and the wait is drawn below it (full jitter)
        (1.0, 9, None, 3600.0),  # ... up to an hour
        (0.0, 4, None, MIN_RETRY_SECONDS),  # never due again at once
        (1.0, 1, 600, 600.0),  # the server's word replaces the back-off ...
        (1.0, 5, 5, 5.0),
        (1.0, 1, 7200, 7200.0),  # ... and is honoured whole, beyond the policy's cap
        (1.0, 1, 0, MIN_RETRY_SECONDS),
        (1.0, 2, math.nan, 60.0),  # an unusable Retry-After is ignored
        (1.0, 2, "600", 60.0),
    ],
)
def test_backoff_follows_the_retry_policy_never_before_retry_after(
    jitter: float, attempts: int, retry_after: object, wait: float
) -> None:
    assert backoff_seconds(_policy(jitter), attempts, retry_after) == wait
