"""The `inbox` table: every accepted Kaizala webhook event, durable before it is answered 2xx.

Row: PartitionKey = `inbox_key(actionId, "noaction")`, RowKey = `inbox_key(eventId)`; the raw
event packed into `Body*` properties; status (pending, done, ignored, orphan, superseded, dead),
attempts, nextAttemptAt, lastAttemptAt, lastError, receivedAt, responseId, ... (see the
inbound service). This module is the only code that names the table or derives its keys.
"""

from __future__ import annotations

import hashlib
import logging

from shared.adapters.tables import Stored, TableStore, check_key

log = logging.getLogger(__name__)

TABLE = "inbox"
NO_ACTION_PARTITION = "noaction"
MAX_KEY_CHARS = 100
REPLAY_LIMIT = 1000


def inbox_key(value: object, fallback: str | None = None) -> str:
    """A Table storage key for an external id: as is when Azure accepts it, else its sha256."""
    if not isinstance(value, str) or not value:
        if fallback is None:
            raise ValueError("no key")
        return fallback
    try:
        if len(value) <= MAX_KEY_CHARS:
            return check_key(value)
    except ValueError:
        pass
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def partition_for(action_id: object) -> str:
    return inbox_key(action_id, NO_ACTION_PARTITION)


class InboxStore:
    def __init__(self, tables: TableStore) -> None:
        self._tables = tables

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

    async def requeue_orphans(self, action_id: str, now_ms: int) -> int:
        """Orphans of an action whose correlation exists now (adopted after a send in doubt)."""
        rows = [
            s
            async for s in self._tables.query(
                TABLE,
                "PartitionKey eq @pk and status eq 'orphan'",
                {"pk": partition_for(action_id)},
                limit=REPLAY_LIMIT,
            )
        ]
        count = await self.requeue(rows, {"orphan"}, now_ms)
        if count:
            log.info("inbox requeued %d orphan(s) of an adopted action", count)
        return count

    async def requeue(self, rows: list[Stored], statuses: set[str], now_ms: int) -> int:
        """Rows back to `pending` (replay), each conditional on the ETag it was read with."""
        count = 0
        for stored in rows:
            e = stored.entity
            if e.get("status") not in statuses:
                continue
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
        return count
