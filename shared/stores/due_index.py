"""The `dueindex` table: when each pending inbox row and each `sending` action comes due.

Why it exists: `process_inbox` (every minute) and the stale-`sending` reconciliation of
`drain_outbox` (every 15 s) used to filter `inbox` and `actions` on non-key properties, i.e. scan
every partition of tables that keep RETENTION_DAYS of rows, so their cost grew with traffic.
They read this index instead: ONE key-range query of the entries whose time has come (their
partitions are minute buckets), then one point read per entry, so an idle sweep costs the same
over a thousand rows or a hundred thousand. A table of its own, so that its queries never touch
the data tables (Azurite, for one, answers every query by scanning its whole table).

Rows:
- an entry: PartitionKey = `<kind>-<bucket:010d>` (kind `inbox` or `sending`; bucket =
  floor(at / 60 s)), RowKey = `<at:015d>-<pk>-<rk>-<nonce>`; pk and rk, the keys of the row it
  points at; at, its time (epoch ms). The nonce makes each writer's entry its own: deleting it
  never deletes an entry another writer relies on. (The old scan writes `legacy` entries, the
  same key for the same row and time, so repeated scans do not pile them up.)
- a migration marker: PartitionKey = `marker`, RowKey = kind; since (epoch ms: the first sweep
  by code that keeps this index), indexedAt once the old scan is no longer needed.

The invariant, kept by the two stores that use it (inbox.py, actions.py): every row that is due
work (an inbox row `pending`, an action `sending`) has an entry whose time is at or before the
row's own (`nextAttemptAt`, `sendingAt`). Two tables share no transaction, so the writes are
ordered:
1. the entry for a new time is written BEFORE the row takes that time (insert, back-off,
   replay, queued -> sending); a claim only moves the time later, which the entry the row was
   found by still covers, so its entry is written after the claim is won;
2. the entry of the old time is deleted only AFTER the row has left it (or has a new entry),
   and only by the writer that created it or the claimer that found the row by it, or by a
   sweep that has just read the row and found it gone or no longer due work (no writer makes
   a row due work relying on an entry it did not write or find it by).
So a crash (or a failed write) between the two leaves at worst an extra entry, never due work
without one. A sweep that meets an extra entry reads the row, finds nothing to do, and deletes
it; an entry whose row is due work but not due yet (claimed elsewhere, or its writer died before
step 2) is left and read again by the next sweep.

Migration: rows made due work by a version of the bridge without this index have no entry. Each
instance reads the marker at most once an hour; while it does not say `indexedAt`, the store
runs its old scan then and writes the missing entries. A scan that read every such row, made at
least MIGRATION_GRACE_MS after the first sweep of this code (long enough for the instances of
the previous version to be gone), sets `indexedAt`. Deleting the marker row starts it again
(after a rollback to a version without the index, say); see docs/runbook.md.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from shared.adapters.tables import Entity, TableStore
from shared.errors import BridgeError

log = logging.getLogger(__name__)

TABLE = "dueindex"
MARKER_PARTITION = "marker"
BUCKET_MS = 60_000
LEGACY_NONCE = "legacy"
MIGRATION_EVERY_MS = 3_600_000  # each instance reads the marker (and scans) at most hourly
MIGRATION_GRACE_MS = 3_600_000  # the previous version's instances are gone after this
READ_CONCURRENCY = 16  # point reads of the rows the entries point at, at once

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class DueEntry:
    """One index entry: its own keys, the keys of the row it points at, and its time."""

    partition: str
    row: str
    pk: str
    rk: str
    at: int

    @classmethod
    def from_entity(cls, e: Entity) -> DueEntry:
        return cls(
            partition=str(e["PartitionKey"]),
            row=str(e["RowKey"]),
            pk=str(e.get("pk") or ""),
            rk=str(e.get("rk") or ""),
            at=int(e.get("at") or 0),
        )


class DueIndex:
    """The entries of one kind (`inbox`, `sending`). Built once per store, i.e. per process:
    it remembers when this instance last read the migration marker."""

    def __init__(self, tables: TableStore, kind: str) -> None:
        self._tables = tables
        self._kind = kind
        self._next_marker_read = 0  # epoch ms

    def _partition(self, at: int) -> str:
        return f"{self._kind}-{max(at, 0) // BUCKET_MS:010d}"

    async def add(self, pk: str, rk: str, at: int, *, nonce: str | None = None) -> DueEntry:
        """Write an entry for row (pk, rk) at `at` (step 1 of the invariant: before the row)."""
        tag = nonce or uuid.uuid4().hex[:12]
        entry = DueEntry(self._partition(at), f"{max(at, 0):015d}-{pk}-{rk}-{tag}", pk, rk, at)
        await self._tables.upsert(
            TABLE,
            {"PartitionKey": entry.partition, "RowKey": entry.row, "pk": pk, "rk": rk, "at": at},
        )
        return entry

    async def remove(self, entry: DueEntry | None) -> None:
        """Delete an entry (step 2). A failure only leaves an extra entry: the sweep removes it,
        so it is logged, never raised into the state change that has already happened."""
        if entry is None:
            return
        try:
            await self._tables.delete(TABLE, entry.partition, entry.row)
        except BridgeError as exc:
            log.warning("due index: entry left for the sweep to remove (%s)", type(exc).__name__)

    async def due(self, before_ms: int, limit: int) -> list[DueEntry]:
        """Entries whose time is before `before_ms`, oldest first: one key-range query (every
        bucket up to `before_ms`'s; within the last one the RowKey bound cuts at the time)."""
        return [
            DueEntry.from_entity(s.entity)
            async for s in self._tables.query(
                TABLE,
                "PartitionKey ge @lo and PartitionKey le @hi and RowKey lt @before",
                {
                    "lo": f"{self._kind}-",
                    "hi": self._partition(before_ms),
                    "before": f"{max(before_ms, 0):015d}",
                },
                limit=limit,
            )
        ]

    async def collect(
        self,
        before_ms: int,
        now_ms: int,
        limit: int,
        *,
        read: Callable[[DueEntry], Awaitable[T | None]],
        legacy: Callable[[], Awaitable[tuple[list[tuple[str, str, int]], bool]]],
    ) -> list[tuple[DueEntry, T]]:
        """What a sweep works on: the entries before `before_ms` (at most `limit`), each
        distinct row's earliest one with what `read` made of the row (None: nothing to do now).

        Until the marker says the table is indexed, at most hourly per instance, `legacy` runs
        first: the old scan, giving (pk, rk, time) of the rows that may lack an entry and
        whether it read them all. A second entry of the same row is deleted at once (the
        earliest one covers the row).
        """
        if await self.migration_due(now_ms):
            rows, complete = await legacy()
            for pk, rk, at in rows:
                await self.add(pk, rk, at, nonce=LEGACY_NONCE)
            log.info("due index: the old scan indexed %d %s row(s)", len(rows), self._kind)
            await self.migration_ran(now_ms, complete=complete)
        first: dict[tuple[str, str], DueEntry] = {}
        extra: list[DueEntry] = []
        for entry in await self.due(before_ms, limit):
            key = (entry.pk, entry.rk)
            if key in first or not entry.pk or not entry.rk:
                extra.append(entry)
            else:
                first[key] = entry
        for entry in extra:
            await self.remove(entry)
        picked = list(first.values())
        found = await bounded_gather([read(e) for e in picked], READ_CONCURRENCY)
        return [(e, row) for e, row in zip(picked, found, strict=True) if row is not None]

    # ---- migration from the scan ------------------------------------------------------------

    async def migration_due(self, now_ms: int) -> bool:
        """Whether this instance runs the old scan now: at most once an hour, and only while
        the marker does not say the table is indexed (the first call creates the marker)."""
        if now_ms < self._next_marker_read:
            return False
        stored = await self._tables.get(TABLE, MARKER_PARTITION, self._kind)
        if stored is None:
            marker = {"PartitionKey": MARKER_PARTITION, "RowKey": self._kind, "since": now_ms}
            await self._tables.insert(TABLE, marker)  # insert-only: the earliest `since` stays
        self._next_marker_read = now_ms + MIGRATION_EVERY_MS
        return stored is None or not stored.entity.get("indexedAt")

    async def migration_ran(self, now_ms: int, *, complete: bool) -> None:
        """After an old scan: `complete` when it read every row it looked for. The first
        complete scan past the grace marks the table indexed for every instance."""
        if not complete:
            return
        stored = await self._tables.get(TABLE, MARKER_PARTITION, self._kind)
        since = int(stored.entity.get("since") or now_ms) if stored is not None else now_ms
        if now_ms - since < MIGRATION_GRACE_MS:
            return
        marker = {"PartitionKey": MARKER_PARTITION, "RowKey": self._kind, "indexedAt": now_ms}
        await self._tables.upsert(TABLE, marker)
        log.info("due index: %s rows indexed; the old scan no longer runs", self._kind)


async def bounded_gather(jobs: list[Awaitable[R]], limit: int) -> list[R]:
    """Await `jobs` at most `limit` at a time, results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Awaitable[R]) -> R:
        async with gate:
            return await job

    return list(await asyncio.gather(*(one(j) for j in jobs)))
