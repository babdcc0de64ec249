"""The `inbox` table: every accepted Kaizala webhook event, durable before it is answered 2xx.

Row: PartitionKey = `inbox_key(actionId, "noaction")`, RowKey = `inbox_key(eventId)`; the raw
event packed into `Body*` properties; eventId, eventType, actionId, responseId (each cut to
1024 characters, the type to 200); status (pending, done, ignored, orphan, superseded, dead),
attempts, receivedAt, respondedAt (the answer time), nextAttemptAt, lastAttemptAt, lastError,
and once done processedAt and activityId; replayedAt and replays after a replay. All times are
epoch ms. This module is the only code that names the table or derives its keys.

When a pending row is due is kept in the due index (due_index.py: kind `inbox`, its invariant
and the order of writes), maintained with every state change; `due` reads it, never the table.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from shared.adapters.tables import (
    Entity,
    Stored,
    TableStore,
    expire_rows,
    pack_blob,
)
from shared.stores.due_index import DueEntry, DueIndex
from shared.stores.inbox_rows import (
    MAX_KEY_CHARS,
    NO_ACTION_PARTITION,
    DueRow,
    InboxItem,
    ResponseRows,
    inbox_key,
    partition_for,
)

__all__ = [
    "MAX_KEY_CHARS",
    "NO_ACTION_PARTITION",
    "TABLE",
    "DueRow",
    "InboxItem",
    "InboxStore",
    "ResponseRows",
    "inbox_key",
    "partition_for",
]

log = logging.getLogger(__name__)

TABLE = "inbox"
REPLAY_LIMIT = 1000
EXPIRY_LIMIT = 1000
INSPECT_LIMIT = 1000
PROBLEM_FIELDS = (
    "eventId",
    "eventType",
    "actionId",
    "status",
    "attempts",
    "lastError",
    "receivedAt",
    "lastAttemptAt",
    "replays",
)
RESPONSE_ROWS_LIMIT = 5000  # rows read per action for its figures
LEGACY_SCAN_LIMIT = 1000  # pending rows indexed per old scan (migration)

Status = Literal["pending", "done", "ignored", "orphan", "superseded", "dead"]


class InboxStore:
    def __init__(self, tables: TableStore) -> None:
        self._tables = tables
        self._index = DueIndex(tables, "inbox")

    async def add(
        self,
        raw: bytes,
        *,
        event_id: str,
        event_type: str,
        action_id: object,
        response_id: object,
        pending: bool,
        received_at: int,
        responded_at: int,
        next_attempt_at: int,
        event: dict[str, Any],
    ) -> tuple[InboxItem, bool]:
        """One insert-only row for an event; False when the row exists (a redelivery).

        A pending row's due-index entry is written first (a crash in between leaves an entry
        without a row, which the sweep deletes); a redelivery deletes the entry it wrote.
        """
        entity: Entity = {
            "PartitionKey": partition_for(action_id),
            "RowKey": inbox_key(event_id),
            "eventId": event_id[:1024],
            "eventType": event_type[:200],
            "actionId": action_id[:1024] if isinstance(action_id, str) else "",
            "responseId": response_id[:1024] if isinstance(response_id, str) else "",
            "status": "pending" if pending else "ignored",
            "attempts": 0,
            "receivedAt": received_at,
            "respondedAt": responded_at,
            "nextAttemptAt": next_attempt_at,
            **pack_blob(raw),
        }
        pk, rk = entity["PartitionKey"], entity["RowKey"]
        entry = await self._index.add(pk, rk, next_attempt_at) if pending else None
        inserted = await self._tables.insert(TABLE, entity)
        if not inserted:
            await self._index.remove(entry)
            entry = None
        return InboxItem(pk, rk, event, 0, received_at, responded_at, due_entry=entry), inserted

    async def record(
        self,
        item: InboxItem,
        status: Status,
        *,
        attempted_at: int,
        attempts: int | None = None,
        error: str | None = None,
        next_attempt_at: int | None = None,
        processed_at: int | None = None,
        activity_id: str | None = None,
    ) -> bool:
        """Save an attempt's outcome; False when the row no longer exists.

        A merge with If-Match "*": the row is this caller's (fresh insert or a sweeper claim),
        and a row removed meanwhile (retention) must not be recreated. Pending again: the entry
        of `next_attempt_at` is written first; then the item's old entry is deleted.
        """
        entity: Entity = {
            "PartitionKey": item.partition_key,
            "RowKey": item.row_key,
            "status": status,
            "lastAttemptAt": attempted_at,
        }
        optional = {
            "attempts": attempts,
            "lastError": error,
            "nextAttemptAt": next_attempt_at,
            "processedAt": processed_at,
            "activityId": activity_id,
        }
        entity.update({k: v for k, v in optional.items() if v is not None})
        entry = None
        if status == "pending" and next_attempt_at is not None:
            entry = await self._index.add(item.partition_key, item.row_key, next_attempt_at)
        if not await self._tables.update(TABLE, entity, "*"):
            await self._index.remove(entry)
            return False
        if status != "pending" or entry is not None:
            await self._index.remove(item.due_entry)
        return True

    async def due(self, now_ms: int, limit: int) -> list[DueRow]:
        """Pending rows whose `nextAttemptAt` has come, oldest arrival first.

        The due index's entries up to now (one key-range query), then each row they point at
        (one point read each). An entry whose row is gone or no longer pending is deleted; a row
        pending but not due yet (claimed by another sweeper) is skipped. Until the table is
        marked indexed, at most hourly per instance, the old scan first (`_legacy_pending`).
        """

        async def read(entry: DueEntry) -> Stored | None:
            stored = await self._tables.get(TABLE, entry.pk, entry.rk)
            if stored is None or stored.entity.get("status") != "pending":
                await self._index.remove(entry)
                return None
            return None if int(stored.entity.get("nextAttemptAt") or 0) > now_ms else stored

        found = await self._index.collect(
            now_ms + 1, now_ms, limit, read=read, legacy=self._legacy_pending
        )
        rows = [DueRow.from_stored(stored, entry) for entry, stored in found]
        rows.sort(key=lambda r: r.received_at)
        return rows

    async def _legacy_pending(self) -> tuple[list[tuple[str, str, int]], bool]:
        """The old scan (migration): every pending row, and whether it read them all."""
        found = [
            (
                str(s.entity["PartitionKey"]),
                str(s.entity["RowKey"]),
                int(s.entity.get("nextAttemptAt") or 0),
            )
            async for s in self._tables.query(
                TABLE,
                "status eq @pending",
                {"pending": "pending"},
                select=["PartitionKey", "RowKey", "nextAttemptAt"],
                limit=LEGACY_SCAN_LIMIT,
            )
        ]
        return found, len(found) < LEGACY_SCAN_LIMIT

    async def claim(self, row: DueRow, until_ms: int) -> InboxItem | None:
        """Hide a due row from other sweepers until `until_ms`: the item to process, or None
        when another sweeper claimed it first.

        Conditional on the ETag the row was read with (compare-and-swap). The claim moves the
        row's time later, which the entry it was found by still covers; so the entry of
        `until_ms` is written after the claim is won (a lost claim costs nothing more), and only
        then is the old entry deleted (other sweepers no longer see the row as due).
        """
        claim = {
            "PartitionKey": row.partition_key,
            "RowKey": row.row_key,
            "nextAttemptAt": until_ms,
        }
        if not await self._tables.update(TABLE, claim, row.etag):
            return None
        entry = await self._index.add(row.partition_key, row.row_key, until_ms)
        await self._index.remove(row.entry)
        return InboxItem.from_entity(row.entity, entry)

    async def replay(self, event_id: str | None, statuses: set[str], now_ms: int) -> int:
        """Rows in `statuses` (all of them, or the one of `event_id`) back to pending."""
        if event_id is not None:
            filter_, params = "RowKey eq @rk", {"rk": inbox_key(event_id)}
        else:
            filter_ = " or ".join(f"status eq @s{i}" for i in range(len(statuses)))
            params = {f"s{i}": s for i, s in enumerate(sorted(statuses))}
        rows = [s async for s in self._tables.query(TABLE, filter_, params, limit=REPLAY_LIMIT)]
        return await self.requeue(rows, statuses, now_ms)

    async def count_responses(self, action_id: str) -> int:
        """Distinct responses written for an action (done rows), keyed as intake keys them."""
        seen: set[str] = set()
        async for row in self._tables.query(
            TABLE,
            "PartitionKey eq @pk and status eq 'done'",
            {"pk": partition_for(action_id)},
            select=["responseId"],
        ):
            seen.add(str(row.entity.get("responseId")))
        return len(seen)

    # --- issue 10: backfill ---------------------------------------------------------------

    async def response_versions(self, action_id: str) -> dict[str, int]:
        """The newest answer time the inbox holds per response of an action, whatever the
        row's status (a webhook delivery or an earlier backfill, done or still pending).

        One query of the action's partition, without the raw events. Rows stored before answer
        times were recorded count with their arrival time.
        """
        newest: dict[str, int] = {}
        async for row in self._tables.query(
            TABLE,
            "PartitionKey eq @pk",
            {"pk": partition_for(action_id)},
            select=["responseId", "respondedAt", "receivedAt"],
        ):
            e = row.entity
            response_id = e.get("responseId")
            if not isinstance(response_id, str) or not response_id:
                continue
            at = e.get("respondedAt")
            if not isinstance(at, int | float):
                at = e.get("receivedAt") or 0
            newest[response_id] = max(newest.get(response_id, 0), int(at))
        return newest

    async def response_rows(self, action_id: str, limit: int = RESPONSE_ROWS_LIMIT) -> ResponseRows:
        """The done rows of an action (decoded events, with when each was processed), and how
        many are still pending: what the action's figures are derived from.

        One query of the action's partition (done and pending rows only), at most `limit` rows
        (`truncated` then says so): an action past that many deliveries shows the figures of
        the rows read.
        """
        done: list[tuple[InboxItem, int]] = []
        pending = count = 0
        async for row in self._tables.query(
            TABLE,
            "PartitionKey eq @pk and (status eq 'done' or status eq 'pending')",
            {"pk": partition_for(action_id)},
            page_size=1000,
            limit=limit,
        ):
            count += 1
            e = row.entity
            if e.get("status") == "pending":
                pending += 1
            elif e.get("responseId"):
                processed = e.get("processedAt")
                at = int(processed) if isinstance(processed, int | float) else 0
                done.append((InboxItem.from_entity(e), at))
        return ResponseRows(done=done, pending=pending, truncated=count >= limit)

    async def requeue_orphans(self, action_id: str, now_ms: int) -> int:
        """Orphans of an action whose correlation exists now (adopted after a send in doubt)."""
        filter_, params = (
            "PartitionKey eq @pk and status eq 'orphan'",
            {"pk": partition_for(action_id)},
        )
        rows = [s async for s in self._tables.query(TABLE, filter_, params, limit=REPLAY_LIMIT)]
        count = await self.requeue(rows, {"orphan"}, now_ms)
        if count:
            log.info("inbox requeued %d orphan(s) of an adopted action", count)
        return count

    async def requeue(self, rows: list[Stored], statuses: set[str], now_ms: int) -> int:
        """Rows back to `pending` (replay), each conditional on the ETag it was read with; the
        due-index entry of each is written first (and deleted again when the row had changed)."""
        count = 0
        for stored in rows:
            e = stored.entity
            if e.get("status") not in statuses:
                continue
            entry = await self._index.add(str(e["PartitionKey"]), str(e["RowKey"]), now_ms)
            changes = {
                "PartitionKey": e["PartitionKey"],
                "RowKey": e["RowKey"],
                "status": "pending",
                "attempts": 0,
                "nextAttemptAt": now_ms,
                "replayedAt": now_ms,
                "replays": int(e.get("replays") or 0) + 1,
            }
            if await self._tables.update(TABLE, changes, stored.etag):
                count += 1
            else:
                await self._index.remove(entry)
        return count

    async def expire(self, cutoff_ms: int, limit: int = EXPIRY_LIMIT) -> int:
        """Delete rows received before `cutoff_ms` (any status), at most `limit` a call."""
        return await expire_rows(self._tables, TABLE, cutoff_ms, "receivedAt", limit=limit)

    async def rows(self, limit: int = INSPECT_LIMIT) -> list[dict[str, Any]]:
        """Every row without the raw event (small installs, tests, operators)."""
        return [
            {k: v for k, v in stored.entity.items() if not k.startswith("Body")}
            async for stored in self._tables.query(
                TABLE, "PartitionKey ne @x", {"x": ""}, limit=limit
            )
        ]

    # --- issue 12: the operator console ----------------------------------------------------

    async def count_by_status(self, limit: int) -> tuple[dict[str, int], bool]:
        """Rows per status, reading at most `limit` rows (True then: the counts are a floor)."""
        counts: dict[str, int] = {}
        seen = 0
        async for row in self._tables.query(
            TABLE, "PartitionKey ne @x", {"x": ""}, select=["status"], page_size=1000, limit=limit
        ):
            seen += 1
            status = str(row.entity.get("status") or "unknown")
            counts[status] = counts.get(status, 0) + 1
        return counts, seen >= limit

    async def problems(self, limit: int) -> list[dict[str, Any]]:
        """Dead and orphan rows (no raw event), at most `limit`, in key order."""
        return [
            {k: row.entity.get(k) for k in PROBLEM_FIELDS}
            async for row in self._tables.query(
                TABLE,
                "status eq 'dead' or status eq 'orphan'",
                select=list(PROBLEM_FIELDS),
                limit=limit,
            )
        ]
