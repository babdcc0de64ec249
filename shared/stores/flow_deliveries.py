"""The `flowdeliveries` table: one row per (subscription, response event) to POST to a callback.

Row: PartitionKey = the subscription id (`static` for RESPONSE_FORWARD_URL), RowKey = sha256 of
the event id (event ids come from outside: hashed, a key is always valid); eventId (cut to 1024),
status (pending, delivered, dead), attempts, createdAt, nextAttemptAt, lastAttemptAt, lastError,
deliveredAt, and the forward body packed into `Body*` properties (compressed, like the inbox's
raw event). Insert-only per (subscription, event): a second processing of the same event
(retry, duplicate, replay) finds the row and adds nothing, so a callback gets an event once per
delivery row, however often it was processed.

When a pending row is due is kept in the due index (due_index.py, kind `flowdelivery`, the same
invariant and order of writes as the inbox). Delivered and dead rows are removed after
RETENTION_DAYS. This module is the only code that names the table or derives its keys.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from shared.adapters.tables import Entity, Stored, TableStore, expire_rows, pack_blob, unpack_blob
from shared.stores.due_index import DueEntry, DueIndex

TABLE = "flowdeliveries"
KIND = "flowdelivery"
DEAD_LIMIT = 100  # dead deliveries listed for the operator
COUNT_LIMIT = 5000  # rows counted per subscription (RETENTION_DAYS of them at most)

Status = Literal["pending", "delivered", "dead"]


def delivery_key(event_id: str) -> str:
    return hashlib.sha256(event_id.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Delivery:
    subscription_id: str
    event_id: str
    status: str
    attempts: int
    next_attempt_at: int
    last_error: str
    body: bytes
    etag: str
    entry: DueEntry | None  # the index entry it was found (or claimed) by

    @property
    def row_key(self) -> str:
        return delivery_key(self.event_id)

    @classmethod
    def from_stored(cls, stored: Stored, entry: DueEntry | None) -> Delivery:
        e = stored.entity
        return cls(
            subscription_id=str(e["PartitionKey"]),
            event_id=str(e.get("eventId") or ""),
            status=str(e.get("status") or ""),
            attempts=int(e.get("attempts") or 0),
            next_attempt_at=int(e.get("nextAttemptAt") or 0),
            last_error=str(e.get("lastError") or ""),
            body=unpack_blob(e),
            etag=stored.etag,
            entry=entry,
        )


@dataclass(frozen=True)
class DeadDelivery:
    event_id: str
    subscription_id: str
    reason: str
    at: int  # epoch ms of the last attempt


class FlowDeliveryStore:
    def __init__(self, tables: TableStore) -> None:
        self._tables = tables
        self._index = DueIndex(tables, KIND)

    async def enqueue(self, subscription_id: str, event_id: str, body: bytes, now_ms: int) -> bool:
        """One pending delivery, due now; False when that (subscription, event) has one."""
        rk = delivery_key(event_id)
        entry = await self._index.add(subscription_id, rk, now_ms)  # before the row (invariant)
        entity: Entity = {
            "PartitionKey": subscription_id,
            "RowKey": rk,
            "eventId": event_id[:1024],
            "status": "pending",
            "attempts": 0,
            "createdAt": now_ms,
            "nextAttemptAt": now_ms,
            "lastError": "",
            **pack_blob(body),
        }
        if await self._tables.insert(TABLE, entity):
            return True
        await self._index.remove(entry)  # the existing row keeps its own entry
        return False

    async def due(self, now_ms: int, limit: int) -> list[Delivery]:
        """Pending deliveries whose time has come (one index query, one point read each)."""

        async def read(entry: DueEntry) -> Delivery | None:
            stored = await self._tables.get(TABLE, entry.pk, entry.rk)
            if stored is None or stored.entity.get("status") != "pending":
                await self._index.remove(entry)  # nothing left to do for this entry
                return None
            if int(stored.entity.get("nextAttemptAt") or 0) > now_ms:
                return None  # claimed elsewhere or backing off: its own entry covers it
            return Delivery.from_stored(stored, entry)

        async def legacy() -> tuple[list[tuple[str, str, int]], bool]:
            return [], True  # a new table: no row predates the index

        found = await self._index.collect(now_ms + 1, now_ms, limit, read=read, legacy=legacy)
        return [d for _, d in found]

    async def claim(self, delivery: Delivery, until_ms: int) -> Delivery | None:
        """Compare-and-swap the row's time to `until_ms`; None when another instance won."""
        claim = {
            "PartitionKey": delivery.subscription_id,
            "RowKey": delivery.row_key,
            "nextAttemptAt": until_ms,
        }
        if not await self._tables.update(TABLE, claim, delivery.etag):
            return None
        entry = await self._index.add(delivery.subscription_id, delivery.row_key, until_ms)
        await self._index.remove(delivery.entry)
        stored = await self._tables.get(TABLE, delivery.subscription_id, delivery.row_key)
        if stored is None:
            return None
        return Delivery.from_stored(stored, entry)

    async def record(
        self,
        delivery: Delivery,
        status: Status,
        now_ms: int,
        *,
        error: str = "",
        next_attempt_at: int | None = None,
    ) -> bool:
        """Save an attempt's outcome on the claimed row; False when it changed meanwhile."""
        new_entry = None
        if status == "pending" and next_attempt_at is not None:
            new_entry = await self._index.add(
                delivery.subscription_id, delivery.row_key, next_attempt_at
            )
        entity: Entity = {
            "PartitionKey": delivery.subscription_id,
            "RowKey": delivery.row_key,
            "status": status,
            "attempts": delivery.attempts + 1,
            "lastAttemptAt": now_ms,
            "lastError": error,
        }
        if next_attempt_at is not None:
            entity["nextAttemptAt"] = next_attempt_at
        if status == "delivered":
            entity["deliveredAt"] = now_ms
        saved = await self._tables.update(TABLE, entity, delivery.etag)
        if not saved:
            await self._index.remove(new_entry)
            return False
        await self._index.remove(delivery.entry)
        return True

    async def drop(self, delivery: Delivery) -> None:
        """Forget a delivery whose subscription is gone (unsubscribed)."""
        await self._tables.delete(TABLE, delivery.subscription_id, delivery.row_key)
        await self._index.remove(delivery.entry)

    async def drop_all(self, subscription_id: str) -> int:
        """Every delivery of a removed subscription (their entries go with the next sweeps)."""
        rows = [
            s
            async for s in self._tables.query(
                TABLE, "PartitionKey eq @pk", {"pk": subscription_id}, select=["RowKey"]
            )
        ]
        for s in rows:
            await self._tables.delete(TABLE, subscription_id, str(s.entity["RowKey"]))
        return len(rows)

    async def counts(self, subscription_id: str) -> dict[str, int]:
        counts = {"pending": 0, "delivered": 0, "dead": 0}
        async for s in self._tables.query(
            TABLE,
            "PartitionKey eq @pk",
            {"pk": subscription_id},
            select=["status"],
            limit=COUNT_LIMIT,
        ):
            status = str(s.entity.get("status") or "")
            if status in counts:
                counts[status] += 1
        return counts

    async def dead(self, limit: int = DEAD_LIMIT) -> list[DeadDelivery]:
        """Dead deliveries for the operator (a filter on a small, expiring table)."""
        return [
            DeadDelivery(
                event_id=str(s.entity.get("eventId") or ""),
                subscription_id=str(s.entity["PartitionKey"]),
                reason=str(s.entity.get("lastError") or ""),
                at=int(s.entity.get("lastAttemptAt") or 0),
            )
            async for s in self._tables.query(
                TABLE,
                "status eq 'dead'",
                select=["PartitionKey", "eventId", "lastError", "lastAttemptAt"],
                limit=limit,
            )
        ]

    async def expire(self, cutoff_ms: int) -> int:
        """Delivered and dead rows older than the cutoff (pending ones are kept: still work)."""
        return await expire_rows(self._tables, TABLE, cutoff_ms, "createdAt", "status ne 'pending'")
