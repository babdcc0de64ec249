"""The stale-`sending` reconciliation reads the due index: a crash at any write of a send
leaves the action found (sent once, or visibly failed), and an idle reconciliation costs the
same whatever the actions table holds. Table requests go through the SDK's real transport
with a recorder (tests/table_wire.py); a crash is a write it refuses to send."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.tables import TableStore, pack_blob
from shared.runtime import Runtime
from tests.bridge_fixtures import SAMPLE_GROUP, KaizalaSim, bridge_env
from tests.conftest import installed_runtime
from tests.outbound.conftest import ShiftedClock
from tests.outbound.test_reconcile import SURVEY, later
from tests.support import body_json, call, request
from tests.table_wire import Crash, Sent, TableWire, key_constrained, wire_tables

ENTRIES = "PartitionKey ge 'sending-' and PartitionKey lt 'sending.'"
KEY = {"Idempotency-Key": "crm-in-doubt-1"}


def send_write(sent: Sent) -> bool:
    """Writes of the action row, its correlation and its index entries."""
    entry = sent.table == "dueindex" and (sent.pk or "").startswith("sending-")
    return sent.write and (sent.table in ("actions", "actionindex") or entry)


@pytest.fixture
def values(env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path) -> dict[str, str]:
    return bridge_env(env, kaizala, tmp_path)


@pytest.fixture
async def wired(
    values: dict[str, str], clock: ShiftedClock
) -> AsyncIterator[tuple[Runtime, TableWire]]:
    async with installed_runtime(values, clock=clock) as rt:
        yield rt, wire_tables(rt)


async def send() -> tuple[int, dict[str, Any]]:
    resp = await call("send_action", request("POST", "/api/actions", body=SURVEY, headers=KEY))
    return resp.status_code, body_json(resp)


async def entries(tables: TableStore) -> list[dict[str, Any]]:
    return [s.entity async for s in tables.query("dueindex", ENTRIES)]


async def unindexed_sending(tables: TableStore) -> list[str]:
    """`sending` rows without an entry at or before their sendingAt (must be none)."""
    covered = {(e["pk"], e["at"]) for e in await entries(tables)}
    return [
        str(s.entity["PartitionKey"])
        async for s in tables.query("actions", "status eq 'sending'")
        if not any(
            pk == s.entity["PartitionKey"] and at <= s.entity["sendingAt"] for pk, at in covered
        )
    ]


def created(kaizala: KaizalaSim) -> list[dict[str, Any]]:
    return [a for a in kaizala.state()["actions"] if a["body"].get("title") == "In doubt"]


EXPECTED_WRITES = [
    "PATCH dueindex",  # the entry first: the reconciliation's only way to find the row
    "POST actions",  # the claim, `sending`
    "PATCH actionindex",  # after the Kaizala call: the correlation...
    "PATCH actions",  # ...then `sent`
    "DELETE dueindex",  # no longer `sending`: the entry goes
]


async def test_a_send_writes_the_entry_before_the_row_and_deletes_it_after(
    wired: tuple[Runtime, TableWire], kaizala: KaizalaSim
) -> None:
    rt, wire = wired
    code, body = await send()
    assert (code, body["status"]) == (201, "sent")
    assert [str(s) for s in wire.sent if send_write(s)] == EXPECTED_WRITES
    assert await entries(rt.tables) == []


@pytest.mark.parametrize("crash_at", range(1, len(EXPECTED_WRITES) + 1))
async def test_a_crash_at_any_write_of_a_send_leaves_it_sent_once(
    wired: tuple[Runtime, TableWire],
    values: dict[str, str],
    kaizala: KaizalaSim,
    clock: ShiftedClock,
    crash_at: int,
) -> None:
    rt, wire = wired
    wire.crash_at(crash_at, send_write)
    with pytest.raises(Crash):
        await send()
    wire.disarm()
    assert await unindexed_sending(rt.tables) == []

    # A restart; the caller got no answer and repeats the request with its key.
    async with installed_runtime(values, clock=clock) as restarted:
        later(clock, 31)  # a row left `sending` is no longer a send under way
        code, body = await send()
        assert code in (200, 201, 202)
        for _ in range(2):
            later(clock)
            await restarted.outbound.drain(max_seconds=5)
        status = await call(
            "get_action", request("GET", "/", route_params={"correlationId": body["correlationId"]})
        )
        assert body_json(status)["status"] == "sent"
        assert len(created(kaizala)) == 1  # never sent twice
        assert await entries(restarted.tables) == []


async def seed_sent_actions(tables: TableStore, count: int, now_ms: int) -> None:
    """Actions as the table keeps them once sent, straight into the table."""
    body = pack_blob(json.dumps(SURVEY["actionBody"]).encode(), "Body")
    gate = asyncio.Semaphore(16)

    async def one(n: int) -> None:
        row = {
            "PartitionKey": f"seeded-{n:06d}",
            "RowKey": "a",
            "status": "sent",
            "requestHash": "h",
            "groupId": SAMPLE_GROUP,
            "actionType": "Survey",
            "regardingEntity": "opportunity",
            "regardingId": str(uuid.UUID(int=n)),
            "regardingName": "Seeded",
            "title": "In doubt",
            "createdAt": now_ms,
            "createdUs": now_ms * 1000 + n,
            "sendingAt": now_ms,
            "sentAt": now_ms,
            "attempts": 0,
            "actionId": str(uuid.UUID(int=n + 1)),
            **body,
        }
        async with gate:
            assert await tables.insert("actions", row)

    await asyncio.gather(*(one(n) for n in range(count)))


async def idle_drain(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path, clock: ShiftedClock, rows: int
) -> list[Sent]:
    own = {**env, "TABLE_NAME_PREFIX": "t" + uuid.uuid4().hex[:12]}
    async with installed_runtime(bridge_env(own, kaizala, tmp_path / str(rows)), clock=clock) as rt:
        wire = wire_tables(rt)
        await seed_sent_actions(rt.tables, rows, int(clock() * 1000))
        await rt.outbound.drain(max_seconds=5)  # an instance's first: marker, old scan, retention
        mark = wire.mark()
        report = await rt.outbound.drain(max_seconds=5)
        assert report["sent"] == report["left"] == 0
        return wire.since(mark)


async def test_an_idle_reconciliation_makes_the_same_key_range_requests_over_50_or_500_rows(
    env: dict[str, str], kaizala: KaizalaSim, tmp_path: Path, clock: ShiftedClock
) -> None:
    small = await idle_drain(env, kaizala, tmp_path, clock, 50)
    large = await idle_drain(env, kaizala, tmp_path, clock, 500)
    assert ("GET", "dueindex") in [(s.method, s.table) for s in small]
    assert [(s.method, s.table) for s in large] == [(s.method, s.table) for s in small]
    for sent in small + large:
        assert sent.filter is None or key_constrained(sent.filter), str(sent)
