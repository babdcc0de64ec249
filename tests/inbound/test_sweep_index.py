"""The inbox sweep reads a due index, not the table: its invariant across crashes, the
migration of rows stored without it, and an idle sweep whose cost does not grow with rows.

Every table request goes through the SDK's real HTTP transport with a recorder in front
(tests/table_wire.py); a crash is that transport refusing to send the n-th write, as a killed
process would, and recovery is a new runtime on the same tables.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from typing import Any

import pytest

from devtools.dataverse_sim import SimState
from devtools.serving import ServerThread
from shared.adapters.tables import Entity, TableStore, pack_blob
from shared.runtime import Runtime
from shared.services.inbound import sweep_inbox
from shared.stores.due_index import MIGRATION_GRACE_MS
from shared.stores.inbox import inbox_key, partition_for
from tests.conftest import installed_runtime, register_secret
from tests.inbound.conftest import (
    Clock,
    correlate,
    encode,
    post_event,
    row_of,
    sim_control,
    sim_tasks,
    survey_event,
)
from tests.support import body_json
from tests.table_wire import Crash, Sent, TableWire, key_constrained, wire_tables

ENTRIES = "PartitionKey ge 'inbox-' and PartitionKey lt 'inbox.'"


def inbox_write(sent: Sent) -> bool:
    """Writes of the inbox rows and of their index entries (not the migration marker)."""
    entry = sent.table == "dueindex" and (sent.pk or "").startswith("inbox-")
    return sent.write and (sent.table == "inbox" or entry)


@pytest.fixture
def wire(rt: Runtime) -> TableWire:
    return wire_tables(rt)


@pytest.fixture
async def wired_token(rt: Runtime, wire: TableWire) -> str:
    value = await rt.callbacks.ensure()
    register_secret(value)
    return value


async def entries(tables: TableStore) -> list[Entity]:
    return [s.entity async for s in tables.query("dueindex", ENTRIES)]


async def uncovered(tables: TableStore) -> list[str]:
    """Pending rows without an index entry at or before their nextAttemptAt (must be none)."""
    earliest: dict[tuple[str, str], float] = {}
    for e in await entries(tables):
        key = (str(e["pk"]), str(e["rk"]))
        earliest[key] = min(earliest.get(key, math.inf), int(e["at"]))
    return [
        str(s.entity["eventId"])
        async for s in tables.query("inbox", "status eq 'pending'")
        if earliest.get((s.entity["PartitionKey"], s.entity["RowKey"]), math.inf)
        > int(s.entity["nextAttemptAt"])
    ]


async def throttled_then_swept(
    rt: Runtime, token: str, clock: Clock, dv_server: ServerThread, event: dict[str, Any]
) -> str:
    """The webhook while Dataverse throttles (the event backs off), then the sweep that
    writes it. Returns the webhook's answer, through `answer` as soon as it is given."""
    sim_control(dv_server, "POST", "faults", json={"status": 429, "retryAfter": 600, "count": 1})
    answer = str(body_json(await post_event(event, token))["status"])
    clock.advance(700)
    report = await sweep_inbox(rt.inbound, expire=False)
    assert report.outcomes == {"done": 1}
    return answer


EXPECTED_WRITES = [
    # the webhook: entry of the inline grace, the row, then the back-off after the 429
    "PATCH dueindex",
    "POST inbox",
    "PATCH dueindex",
    "PATCH inbox",
    "DELETE dueindex",
    # the sweep: the claim (a later time: the back-off's entry still covers it), its entry,
    # the back-off's entry goes; done, then the claim's entry goes
    "PATCH inbox",
    "PATCH dueindex",
    "DELETE dueindex",
    "PATCH inbox",
    "DELETE dueindex",
]


async def test_each_state_change_writes_the_entry_before_the_row_and_deletes_it_after(
    rt: Runtime,
    wire: TableWire,
    wired_token: str,
    sim: SimState,
    clock: Clock,
    dv_server: ServerThread,
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    await sweep_inbox(rt.inbound)  # the instance's first sweep: the migration marker
    mark = wire.mark()
    event = survey_event(action_id)
    assert await throttled_then_swept(rt, wired_token, clock, dv_server, event) == "accepted"
    assert [str(s) for s in wire.since(mark) if inbox_write(s)] == EXPECTED_WRITES
    assert await entries(rt.tables) == []
    assert len(sim_tasks(sim)) == 1


@pytest.mark.parametrize("crash_at", range(1, len(EXPECTED_WRITES) + 1))
async def test_a_crash_before_any_write_leaves_no_due_row_unindexed_and_one_task(
    rt: Runtime,
    wire: TableWire,
    wired_token: str,
    sim: SimState,
    clock: Clock,
    dv_server: ServerThread,
    inbound_env: dict[str, str],
    crash_at: int,
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    await sweep_inbox(rt.inbound)
    event = survey_event(action_id)
    wire.crash_at(crash_at, inbox_write)
    answered: str | None = None
    with pytest.raises(Crash):
        answered = await throttled_then_swept(rt, wired_token, clock, dv_server, event)
    wire.disarm()
    # At the crash: at worst an extra entry, never a pending row without one.
    assert await uncovered(rt.tables) == []

    # The process restarts; Kaizala delivers again what was not answered.
    async with installed_runtime(inbound_env, clock=clock) as restarted:
        if answered is None:
            again = body_json(await post_event(event, wired_token))["status"]
            assert again in ("accepted", "duplicate")
        for _ in range(4):
            clock.advance(3700)
            await sweep_inbox(restarted.inbound, expire=False)
            assert await uncovered(restarted.tables) == []
        row = await row_of(restarted.tables, event["eventId"])
        assert row["status"] == "done"
        assert len(sim_tasks(sim)) == 1
        assert await entries(restarted.tables) == []  # the extra entries were swept away


async def test_a_failed_entry_deletion_fails_nothing_and_the_sweep_deletes_it_later(
    rt: Runtime,
    wire: TableWire,
    wired_token: str,
    sim: SimState,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    await sweep_inbox(rt.inbound)
    event = survey_event(action_id)
    deletion = lambda s: s.method == "DELETE" and s.table == "dueindex"  # noqa: E731
    wire.fail_at(1, deletion)  # storage refuses the entry's deletion once the row is done
    assert body_json(await post_event(event, wired_token))["status"] == "accepted"
    assert (await row_of(rt.tables, event["eventId"]))["status"] == "done"
    assert "entry left for the sweep to remove (StorageError)" in caplog.text
    (extra,) = await entries(rt.tables)
    clock.advance(61)  # the entry's time (the inline grace) has come
    report = await sweep_inbox(rt.inbound, expire=False)
    assert (report.found, report.claimed) == (0, 0)  # the row is done: nothing to process
    assert await entries(rt.tables) == []
    assert extra["rk"] == (await row_of(rt.tables, event["eventId"]))["RowKey"]
    assert len(sim_tasks(sim)) == 1


async def test_a_row_removed_meanwhile_keeps_no_new_entry_and_its_old_one_is_swept(
    rt: Runtime, clock: Clock
) -> None:
    event = survey_event(str(uuid.uuid4()))
    now = rt.inbound.now_ms()
    item, inserted = await rt.inbox_store.add(
        encode(event),
        event_id=event["eventId"],
        event_type=event["eventType"],
        action_id=event["data"]["actionId"],
        response_id=event["data"]["responseId"],
        pending=True,
        received_at=now,
        responded_at=now,
        next_attempt_at=now + 60_000,
        event=event,
    )
    assert inserted and item.due_entry is not None
    assert await rt.tables.delete("inbox", item.partition_key, item.row_key)  # retention
    saved = await rt.inbox_store.record(
        item, "pending", attempted_at=now, attempts=1, next_attempt_at=now + 600_000
    )
    assert saved is False
    assert [e["at"] for e in await entries(rt.tables)] == [now + 60_000]  # not the back-off's
    clock.advance(61)
    assert (await sweep_inbox(rt.inbound, expire=False)).found == 0
    assert await entries(rt.tables) == []


async def seed_done_rows(tables: TableStore, count: int, now_ms: int) -> None:
    """Rows as the inbox keeps them once written (done), straight into the table."""
    raw = encode(survey_event(str(uuid.uuid4())))
    gate = asyncio.Semaphore(16)

    async def one(n: int) -> None:
        event_id = f"seeded-{n}"
        entity = {
            "PartitionKey": partition_for(f"action-{n % 7}"),
            "RowKey": inbox_key(event_id),
            "eventId": event_id,
            "eventType": "SurveyResponse",
            "status": "done",
            "attempts": 1,
            "receivedAt": now_ms,
            "respondedAt": now_ms,
            "nextAttemptAt": now_ms,
            "processedAt": now_ms,
            **pack_blob(raw),
        }
        async with gate:
            assert await tables.insert("inbox", entity)

    await asyncio.gather(*(one(n) for n in range(count)))


async def idle_sweep(inbound_env: dict[str, str], clock: Clock, rows: int) -> list[Sent]:
    """An idle sweep's table requests over `rows` done rows and a few pending, not due."""
    env = {**inbound_env, "TABLE_NAME_PREFIX": "t" + uuid.uuid4().hex[:12]}
    async with installed_runtime(env, clock=clock) as rt:
        wire = wire_tables(rt)
        now = rt.inbound.now_ms()
        await seed_done_rows(rt.tables, rows, now)
        for n in range(3):  # backing off, due in an hour
            event = survey_event(str(uuid.uuid4()))
            _, inserted = await rt.inbox_store.add(
                encode(event),
                event_id=event["eventId"],
                event_type=event["eventType"],
                action_id=event["data"]["actionId"],
                response_id=event["data"]["responseId"],
                pending=True,
                received_at=now,
                responded_at=now,
                next_attempt_at=now + 3_600_000 + n,
                event=event,
            )
            assert inserted
        await sweep_inbox(rt.inbound)  # an instance's first: the marker, the old scan, retention
        mark = wire.mark()
        report = await sweep_inbox(rt.inbound, expire=False)
        assert report.found == 0
        return wire.since(mark)


async def test_an_idle_sweep_makes_the_same_key_range_requests_over_50_or_500_rows(
    inbound_env: dict[str, str], clock: Clock
) -> None:
    small = await idle_sweep(inbound_env, clock, 50)
    large = await idle_sweep(inbound_env, clock, 500)
    # The due index, then the summary marks: two requests, each naming its partitions.
    assert [(s.method, s.table) for s in small] == [("GET", "dueindex"), ("GET", "summarydue")]
    assert [(s.method, s.table) for s in large] == [(s.method, s.table) for s in small]
    for sent in small + large:
        assert sent.filter is not None and key_constrained(sent.filter), str(sent)


# ---- rows stored by a version without the index ------------------------------------------------


async def legacy_row(tables: TableStore, event: dict[str, Any], now_ms: int, due_at: int) -> None:
    """A pending row as the version before the index stored it: no entry."""
    data = event["data"]
    entity = {
        "PartitionKey": partition_for(data["actionId"]),
        "RowKey": inbox_key(event["eventId"]),
        "eventId": event["eventId"],
        "eventType": event["eventType"],
        "actionId": data["actionId"],
        "responseId": data["responseId"],
        "status": "pending",
        "attempts": 0,
        "receivedAt": now_ms,
        "respondedAt": now_ms,
        "nextAttemptAt": due_at,
        **pack_blob(json.dumps(event).encode()),
    }
    assert await tables.insert("inbox", entity)


async def marker(tables: TableStore) -> Entity | None:
    stored = await tables.get("dueindex", "marker", "inbox")
    return None if stored is None else stored.entity


def scans(sent: list[Sent]) -> list[str]:
    """The queries that name no partition (scans of the whole table)."""
    return [str(s) for s in sent if s.filter is not None and not key_constrained(s.filter)]


async def test_rows_without_an_entry_are_found_by_the_hourly_old_scan_until_indexed(
    rt: Runtime,
    wire: TableWire,
    wired_token: str,
    sim: SimState,
    clock: Clock,
    inbound_env: dict[str, str],
) -> None:
    action_id = str(uuid.uuid4())
    await correlate(rt.tables, action_id)
    now = rt.inbound.now_ms

    async def status(event: dict[str, Any]) -> str:
        return str((await row_of(rt.tables, event["eventId"]))["status"])

    due, later = survey_event(action_id), survey_event(action_id)
    await legacy_row(rt.tables, due, now(), now())  # due now
    await legacy_row(rt.tables, later, now(), now() + 1_800_000)  # backing off for 30 min

    # The first sweep of the new version: the marker is created, the old scan indexes both.
    first = await sweep_inbox(rt.inbound, expire=False)
    assert first.outcomes == {"done": 1}
    assert await status(due) == "done"
    found = await marker(rt.tables)
    assert found is not None and found["since"] == now() and not found.get("indexedAt")

    # An instance of the old version still runs for a while: its rows have no entry either.
    during = survey_event(action_id)
    await legacy_row(rt.tables, during, now(), now())
    clock.advance(1900)  # within the hour: no scan, but `later` is found by its entry
    mark = wire.mark()
    assert (await sweep_inbox(rt.inbound, expire=False)).outcomes == {"done": 1}
    assert scans(wire.since(mark)) == []
    assert await status(later) == "done"
    assert await status(during) == "pending"
    clock.advance(1800)  # an hour since the last scan, past the grace: scan, then indexed
    assert (await sweep_inbox(rt.inbound, expire=False)).outcomes == {"done": 1}
    assert await status(during) == "done"
    found = await marker(rt.tables)
    assert found is not None and found["indexedAt"] == now()
    assert now() - found["since"] >= MIGRATION_GRACE_MS
    assert len(sim_tasks(sim)) == 3

    # Indexed: no instance scans again, a new one included (it reads the marker once an hour).
    straggler = survey_event(action_id)
    await legacy_row(rt.tables, straggler, now(), now())
    async with installed_runtime(inbound_env, clock=clock) as fresh:
        fresh_wire = wire_tables(fresh)
        for _ in range(3):
            clock.advance(3700)
            await sweep_inbox(fresh.inbound, expire=False)
        assert scans(fresh_wire.sent) == []
        assert await status(straggler) == "pending"
        # An operator deletes the marker (after a rollback to a version without the index):
        # within the hour every instance scans again.
        assert await fresh.tables.delete("dueindex", "marker", "inbox")
        clock.advance(3700)
        assert (await sweep_inbox(fresh.inbound, expire=False)).outcomes == {"done": 1}
        assert len(scans(fresh_wire.sent)) == 1
    assert await status(straggler) == "done"
    assert len(sim_tasks(sim)) == 4
